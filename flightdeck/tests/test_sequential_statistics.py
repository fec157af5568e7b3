"""The sequential judge's statistics on synthetic counts with known answers.

The false-alarm rates are checked by simulation, looking after every block as the judge does,
next to a fixed-sample test looked at just as often (which must exceed its rate: the check can
fail). Seeded, and small enough for the unit tier.
"""

import math
import random
from collections.abc import Callable

import pytest

from flightdeck.rollout.statistics import (
    JEFFREYS,
    Bounds,
    ComparisonPlan,
    Tally,
    comparison_log_e,
    confidence_sequence,
    histogram_quantile,
    log_incomplete_beta,
    log_mean_exp,
    mixture_log_evidence,
    one_sided_log_evidence,
    quantile_bounds,
)

pytestmark = pytest.mark.unit

INF = math.inf


def binomial(rng: random.Random, trials: int, p: float) -> int:
    return sum(rng.random() < p for _ in range(trials))


def log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


# -- the beta-binomial mixture and its confidence sequence -------------------------------------
def test_the_mixture_is_the_closed_form_for_one_trial() -> None:
    # Beta(1, 1) and one failure in one trial: M(p) = B(2, 1) / B(1, 1) / p = 1 / (2p).
    for p in (0.01, 0.3, 0.9):
        assert math.exp(mixture_log_evidence(Tally(1, 1), p, (1.0, 1.0))) == pytest.approx(
            1 / (2 * p)
        )


def test_without_events_the_upper_bound_has_a_closed_form() -> None:
    # x = 0: M(p) = B(a, b + n) / B(a, b) / (1 - p)^n = 1/alpha at p = 1 - (alpha B(..)/B)^(1/n).
    a, b = JEFFREYS
    for n, alpha in ((150, 0.0025), (20, 0.05), (1000, 0.01)):
        expected = 1 - math.exp((math.log(alpha) + log_beta(a, b + n) - log_beta(a, b)) / n)
        bounds = confidence_sequence(Tally(0, n), alpha)
        assert bounds.lower == 0.0
        assert bounds.upper == pytest.approx(expected, rel=1e-9)


def test_the_sequence_is_symmetric_contains_the_share_and_narrows() -> None:
    bounds = confidence_sequence(Tally(30, 100), 0.01)
    mirrored = confidence_sequence(Tally(70, 100), 0.01)
    assert bounds.lower == pytest.approx(1 - mirrored.upper)
    assert bounds.upper == pytest.approx(1 - mirrored.lower)
    assert bounds.lower < 0.3 < bounds.upper
    wider = confidence_sequence(Tally(3, 10), 0.01)
    assert wider.lower < bounds.lower
    assert bounds.upper < wider.upper
    assert confidence_sequence(Tally(0, 0), 0.01) == Bounds(0.0, 1.0)


def test_a_tally_refuses_more_events_than_trials() -> None:
    with pytest.raises(ValueError, match="events <= trials"):
        Tally(3, 2)


def ever_misses(
    rng: random.Random, p: float, looks: int, interval: Callable[[Tally], tuple[float, float]]
) -> bool:
    tally = Tally(0, 0)
    for _ in range(looks):
        trials = rng.randint(1, 10)
        tally = tally + Tally(binomial(rng, trials, p), trials)
        lower, upper = interval(tally)
        if not lower <= p <= upper:
            return True
    return False


def wald(tally: Tally, z: float = 1.645) -> tuple[float, float]:
    """The textbook 90% interval, valid for one look at a sample size fixed in advance."""
    share = tally.events / tally.trials
    half = z * math.sqrt(max(share * (1 - share), 1e-12) / tally.trials)
    return share - half, share + half


def test_the_confidence_sequence_holds_however_often_it_is_looked_at() -> None:
    rng, alpha, streams, looks = random.Random(17), 0.1, 300, 50

    def sequence(tally: Tally) -> tuple[float, float]:
        bounds = confidence_sequence(tally, alpha)
        return bounds.lower, bounds.upper

    ours = sum(ever_misses(rng, 0.1, looks, sequence) for _ in range(streams)) / streams
    naive = sum(ever_misses(rng, 0.1, looks, wald) for _ in range(streams)) / streams
    # 3 standard deviations of a 10% rate over 300 streams: 0.052.
    assert ours <= alpha + 0.052
    assert naive > 2 * alpha  # a fixed-sample interval looked at 50 times misses far more


# -- one-sided tests -------------------------------------------------------------------------------
@pytest.mark.parametrize("x", [0.001, 0.05, 0.3, 0.5, 0.77, 0.999])
def test_the_incomplete_beta_function_has_its_closed_forms(x: float) -> None:
    def value(a: float, b: float) -> float:
        return math.exp(log_incomplete_beta(a, b, x))

    assert value(1, 1) == pytest.approx(x, rel=1e-10)
    assert value(3.5, 1) == pytest.approx(x**3.5, rel=1e-10)
    assert value(1, 40) == pytest.approx(1 - (1 - x) ** 40, rel=1e-10)
    assert value(0.5, 0.5) == pytest.approx(2 / math.pi * math.asin(math.sqrt(x)), rel=1e-10)
    assert value(7.5, 300.5) == pytest.approx(1 - math.exp(log_incomplete_beta(300.5, 7.5, 1 - x)))


def ever_rejects(rng: random.Random, rate: Callable[[int], float], limit: float) -> bool:
    """Looks after every 4 requests, up to 400, for evidence that the rate is above `limit`."""
    tally = Tally(0, 0)
    for look in range(100):
        tally = tally + Tally(sum(rng.random() < rate(4 * look) for _ in range(4)), 4)
        if one_sided_log_evidence(tally, limit, above=True) >= math.log(1 / 0.1):
            return True
    return False


def test_a_one_sided_test_holds_its_rate_even_when_the_rate_moves_below_the_limit() -> None:
    rng, streams = random.Random(23), 200
    at_limit = sum(ever_rejects(rng, lambda _: 0.2, 0.2) for _ in range(streams)) / streams
    moving = sum(
        ever_rejects(rng, lambda step: 0.2 if step % 48 < 24 else 0.05, 0.2) for _ in range(streams)
    )
    assert at_limit <= 0.1 + 0.064  # 3 standard deviations over 200 streams
    assert moving / streams <= 0.1 + 0.064


def test_a_one_sided_test_needs_less_evidence_than_the_two_sided_sequence() -> None:
    tally = Tally(8, 400)  # 2% against a 5% limit
    one_sided = one_sided_log_evidence(tally, 0.05, above=False)
    two_sided = mixture_log_evidence(tally, 0.05)
    assert one_sided > two_sided + 1.5  # no prior mass spent above the limit
    assert one_sided_log_evidence(Tally(30, 400), 0.05, above=False) < 0  # 7.5%: no evidence
    assert one_sided_log_evidence(Tally(0, 0), 0.05, above=True) == pytest.approx(0.0)


# -- the two-sample e-value ----------------------------------------------------------------------
def expected_e(
    n1: int, n2: int, p1: float, p2: float, q1: float, q2: float, margin: float
) -> float:
    """E[e] exactly, summing over every outcome of one block."""
    total = 0.0
    for x1 in range(n1 + 1):
        for x2 in range(n2 + 1):
            chance = (
                math.comb(n1, x1) * p1**x1 * (1 - p1) ** (n1 - x1)
                * math.comb(n2, x2) * p2**x2 * (1 - p2) ** (n2 - x2)
            )  # fmt: skip
            e = math.exp(comparison_log_e(Tally(x1, n1), Tally(x2, n2), q1, q2, margin))
            total += chance * e
    return total


@pytest.mark.parametrize(
    ("margin", "q1", "q2"),
    [(0.0, 0.3, 0.05), (0.05, 0.4, 0.1), (-0.1, 0.1, 0.15), (0.0, 0.9, 0.01)],
)
@pytest.mark.parametrize(("n1", "n2"), [(3, 5), (8, 2), (1, 1)])
def test_the_block_e_value_is_at_most_1_in_expectation_under_every_null(
    margin: float, q1: float, q2: float, n1: int, n2: int
) -> None:
    for p2 in (0.01, 0.1, 0.3, 0.6, 0.95):
        for below in (0.0, 0.05, 0.2):  # on the boundary p1 = p2 + margin, and inside
            p1 = p2 + margin - below
            if not 0 <= p1 <= 1:
                continue
            assert expected_e(n1, n2, p1, p2, q1, q2, margin) <= 1 + 1e-9


def test_the_block_e_value_grows_under_the_alternative_and_ignores_one_sided_blocks() -> None:
    assert expected_e(10, 10, 0.3, 0.05, 0.3, 0.05, 0.0) > 3
    assert comparison_log_e(Tally(3, 5), Tally(0, 0), 0.5, 0.1, 0.0) == 0.0
    assert comparison_log_e(Tally(3, 5), Tally(0, 9), 0.05, 0.1, 0.0) == 0.0  # q not in H1


def run_comparison(
    rng: random.Random, plan: ComparisonPlan, p1: float, p2: float, blocks: int, alpha: float
) -> int | None:
    """The block at which the e-process first reaches 1/alpha, or None."""
    log_e, before = plan.start(), Tally(0, 0)
    for block in range(blocks):
        n1, n2 = rng.randint(0, 8), rng.randint(0, 30)
        first, second = Tally(binomial(rng, n1, p1), n1), Tally(binomial(rng, n2, p2), n2)
        if n1 and n2:
            log_e = plan.update(log_e, first, second, before)
            before = before + second
        if log_mean_exp(log_e) >= math.log(1 / alpha):
            return block
    return None


def z_test_ever_rejects(rng: random.Random, p: float, blocks: int) -> bool:
    """A one-sided two-proportion z-test at 5%, on the running totals after every block."""
    first, second = Tally(0, 0), Tally(0, 0)
    for _ in range(blocks):
        n1, n2 = rng.randint(0, 8), rng.randint(0, 30)
        first = first + Tally(binomial(rng, n1, p), n1)
        second = second + Tally(binomial(rng, n2, p), n2)
        if not first.trials or not second.trials:
            continue
        pooled = (first.events + second.events) / (first.trials + second.trials)
        spread = math.sqrt(pooled * (1 - pooled) * (1 / first.trials + 1 / second.trials))
        if (
            spread
            and (first.events / first.trials - second.events / second.trials) / spread > 1.645
        ):
            return True
    return False


def test_the_false_alarm_rate_holds_under_repeated_looks() -> None:
    """Two groups failing equally often, judged after each of 60 blocks: at most alpha."""
    rng, alpha, streams, blocks = random.Random(5), 0.05, 300, 60
    plan = ComparisonPlan(0.0, (0.01, 0.03, 0.1, 0.3))
    alarms = sum(
        run_comparison(rng, plan, 0.05, 0.05, blocks, alpha) is not None for _ in range(streams)
    )
    naive = sum(z_test_ever_rejects(rng, 0.05, blocks) for _ in range(streams))
    # 3 standard deviations of a 5% rate over 300 streams: 0.038.
    assert alarms / streams <= alpha + 0.038
    assert naive / streams > 2 * alpha  # the same number of looks at a fixed-sample test


def test_a_margin_tolerates_a_small_difference_and_a_clear_one_is_found_fast() -> None:
    rng, alpha = random.Random(9), 0.05
    tolerant = ComparisonPlan(0.05, tuple(0.05 + step for step in (0.01, 0.03, 0.1, 0.3)))
    alarms = sum(
        run_comparison(rng, tolerant, 0.08, 0.04, 60, alpha) is not None for _ in range(100)
    )
    assert alarms / 100 <= alpha + 0.066  # 0.04 worse, within the 0.05 margin
    strict = ComparisonPlan(0.0, (0.01, 0.03, 0.1, 0.3))
    found = [run_comparison(rng, strict, 0.3, 0.01, 60, 0.0025) for _ in range(50)]
    assert all(block is not None for block in found)
    # About 4 candidate requests a block, 30% failing: a handful of blocks, not dozens.
    assert sorted(block for block in found if block is not None)[25] <= 8


def test_the_not_worse_direction_passes_an_equal_group() -> None:
    """H0: the first group fails at least 3 points more often; equal groups refute it."""
    rng = random.Random(3)
    not_worse = ComparisonPlan(-0.03, (-0.015, 0.0))
    found = [run_comparison(rng, not_worse, 0.002, 0.002, 400, 0.0025) for _ in range(20)]
    assert all(block is not None for block in found)


def test_a_plan_refuses_alternatives_inside_the_null() -> None:
    with pytest.raises(ValueError, match="larger than the margin"):
        ComparisonPlan(0.05, (0.01, 0.1))


# -- histogram quantiles -----------------------------------------------------------------------
def test_histogram_quantile_reads_buckets_like_prometheus() -> None:
    assert histogram_quantile(0.95, [(0.1, 50), (0.2, 100), (INF, 100)]) == pytest.approx(0.19)
    assert histogram_quantile(0.95, [(0.1, 100), (INF, 100)]) == pytest.approx(0.095)
    assert histogram_quantile(0.95, [(0.1, 10), (0.25, 20), (INF, 100)]) == 0.25  # +Inf bucket
    assert histogram_quantile(0.95, [(0.1, 0), (INF, 0)]) is None
    with pytest.raises(ValueError, match="Inf"):
        histogram_quantile(0.95, [(0.1, 3)])


def test_quantile_bounds_hold_the_estimate_and_narrow_with_requests() -> None:
    small = [(0.05, 8), (0.1, 18), (0.25, 20), (INF, 20)]
    large = [(le, count * 100) for le, count in small]
    estimate = histogram_quantile(0.95, small)
    assert estimate is not None
    wide, narrow = quantile_bounds(0.95, small, 0.01), quantile_bounds(0.95, large, 0.01)
    assert wide.lower <= narrow.lower <= estimate <= narrow.upper <= wide.upper
    assert narrow.upper - narrow.lower < 0.05
    assert quantile_bounds(0.95, [(0.1, 0), (0.25, 0), (INF, 0)], 0.01) == Bounds(
        pytest.approx(0.095), 0.25
    )


def test_quantile_bounds_hold_however_often_they_are_looked_at() -> None:
    """Latencies drawn over 4 buckets; the true P95 (histogram_quantile of the true shares)
    stays within the bounds at every look in all but 2 alpha of the streams."""
    rng, alpha, streams, looks = random.Random(11), 0.05, 150, 25
    edges, shares = (0.05, 0.1, 0.25, 0.5), (0.5, 0.3, 0.12, 0.05)  # 3% above 0.5
    truth = histogram_quantile(
        0.95,
        [*((le, round(1e6 * sum(shares[: i + 1]))) for i, le in enumerate(edges)), (INF, 10**6)],
    )
    assert truth is not None
    misses = 0
    for _ in range(streams):
        counts = [0] * (len(edges) + 1)
        for _ in range(looks):
            for _ in range(rng.randint(1, 12)):
                draw, bucket = rng.random(), 0
                while bucket < len(shares) and draw >= shares[bucket]:
                    draw -= shares[bucket]
                    bucket += 1
                counts[bucket] += 1
            cumulative = [sum(counts[: i + 1]) for i in range(len(counts))]
            buckets = [*zip(edges, cumulative, strict=False), (INF, cumulative[-1])]
            bounds = quantile_bounds(0.95, buckets, alpha)
            if not bounds.lower <= truth <= bounds.upper:
                misses += 1
                break
    assert misses / streams <= 2 * alpha + 0.07  # 3 standard deviations over 150 streams
