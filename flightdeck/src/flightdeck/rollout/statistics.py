"""Statistics for the sequential judge: decisions that stay valid however often they are made.

A fixed-sample test (a chi-square test, a confidence interval) promises its error rate for one
look at a sample whose size was fixed in advance. Applied after every scrape, each look is one
more chance of a false alarm, and the real rate grows with the number of looks. Everything here
is instead a *test martingale* (an "e-process"): a non-negative quantity whose expected value
is at most 1 while the null hypothesis holds, at every moment. Ville's inequality (1939) then
bounds the chance that it EVER reaches 1/alpha by alpha, so it may be looked at after every
scrape, forever, and the false-alarm rate still holds. docs/canary.md gives the formulas with
references; the short version:

- `confidence_sequence`: Robbins' (1970) beta-binomial mixture. For a proportion p (the share of
  failed requests, or of requests faster than a bucket boundary), x events in n trials,
      M_n(p) = B(a + x, b + n - x) / B(a, b) / (p^x (1 - p)^(n - x))
  is a martingale when p is the true proportion (a Beta(a, b) mixture of likelihood ratios), so
  {p : M_n(p) < 1/alpha} holds the true proportion at every n with probability >= 1 - alpha.
- `one_sided_log_evidence`: the same mixture with its prior restricted to one side of a limit,
  a test of "the proportion is at most (at least) the limit" that needs fewer requests.
- `comparison_log_e`: one block's e-value for two proportions, H0: p1 <= p2 + margin, after
  Turner, Ly and Grünwald (2024). For an alternative (q1, q2) in H1, the likelihood ratio against
  the null pair (r + margin, r), with r chosen so that the two groups' first-order terms cancel,
  has expectation <= 1 under every null pair, whatever the block's group sizes. Products over
  blocks, with alternatives chosen from earlier blocks only, are test martingales.
- `quantile_bounds`: bounds on a histogram quantile as Prometheus' histogram_quantile reads it
  (linear within a bucket), from confidence sequences for the share of requests at or below the
  two bucket boundaries around the quantile.

Only the standard library: `math.lgamma` for the beta function, bisection for the roots, a
continued fraction for the incomplete beta function.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Prior = tuple[float, float]
JEFFREYS: Prior = (0.5, 0.5)
"""Beta(1/2, 1/2): mass near 0 and 1, where error rates and bucket shares of interest live."""
_BISECTIONS = 60


@dataclass(frozen=True)
class Tally:
    """`events` (failed requests, or requests within a bound) among `trials` requests."""

    events: int
    trials: int

    def __post_init__(self) -> None:
        if not 0 <= self.events <= self.trials:
            raise ValueError(f"a tally needs 0 <= events <= trials, got {self}")

    @property
    def share(self) -> float | None:
        return self.events / self.trials if self.trials else None

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.events + other.events, self.trials + other.trials)


@dataclass(frozen=True)
class Bounds:
    lower: float
    upper: float


def _xlog(count: float, value: float) -> float:
    """count * log(value), with 0 * log(0) = 0."""
    return 0.0 if count == 0 else count * math.log(value)


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def log_likelihood(tally: Tally, p: float) -> float:
    return _xlog(tally.events, p) + _xlog(tally.trials - tally.events, 1 - p)


def mixture_log_evidence(tally: Tally, p: float, prior: Prior = JEFFREYS) -> float:
    """log M_n(p): Robbins' beta-binomial mixture martingale against "the proportion is p"."""
    a, b = prior
    mixture = _log_beta(a + tally.events, b + tally.trials - tally.events) - _log_beta(a, b)
    if p <= 0 or p >= 1:  # the likelihood is 1 when the data are the only possible outcome
        possible = tally.events == 0 if p <= 0 else tally.events == tally.trials
        return mixture if possible else math.inf
    return mixture - log_likelihood(tally, p)


def log_incomplete_beta(a: float, b: float, x: float) -> float:
    """log I_x(a, b), the regularized incomplete beta function (the Beta(a, b) mass below x).

    From its continued fraction (DLMF 8.17.22), evaluated with Lentz's method, on the side of
    the mean where it converges quickly; the other side through I_x(a, b) = 1 - I_(1-x)(b, a).
    """
    if x <= 0:
        return -math.inf
    if x >= 1:
        return 0.0
    if x > (a + 1) / (a + b + 2):
        return math.log1p(-math.exp(log_incomplete_beta(b, a, 1 - x)))
    front = a * math.log(x) + b * math.log1p(-x) - math.log(a) - _log_beta(a, b)
    return front + math.log(_beta_fraction(a, b, x))


def _beta_fraction(a: float, b: float, x: float) -> float:
    """1 / (1 + d1 / (1 + d2 / (1 + ...))) with DLMF 8.17.22's coefficients:
    d(2m+1) = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)),
    d(2m) = m (b - m) x / ((a + 2m - 1)(a + 2m))."""
    tiny = 1e-300

    def guard(value: float) -> float:
        return value if abs(value) > tiny else tiny

    # Lentz: f = b0 + a1/(b1 + a2/(b2 + ...)) with b0 = 0, a1 = 1, every b = 1, a(k+1) = d(k).
    f, c, d = tiny, tiny, 0.0
    for k in range(1, 2000):
        if k == 1:
            numerator = 1.0
        else:
            m, odd = divmod(k - 1, 2)
            numerator = (
                -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
                if odd
                else m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            )
        d = 1 / guard(1 + numerator * d)
        c = guard(1 + numerator / c)
        f *= c * d
        if abs(c * d - 1) < 1e-14:
            return f
    raise ArithmeticError(f"the incomplete beta fraction did not converge for {a}, {b}, {x}")


def one_sided_log_evidence(tally: Tally, p: float, above: bool, prior: Prior = JEFFREYS) -> float:
    """log of a test martingale against "the proportion is at most p" (above=True) or "at
    least p" (above=False): the beta mixture of likelihood ratios, with its prior restricted to
    the alternative's side of p. Every likelihood ratio for a q on that side has expectation at
    most 1 wherever the proportion is on the null's side, even if it changes over time, so the
    mixture is a test supermartingale for the whole one-sided null; and no prior mass is spent
    on alternatives that cannot reject it."""
    a, b = prior
    x, n = tally.events, tally.trials
    if above:  # mass of q > p, through the mirror I_(1-p)(b, a)
        tail = log_incomplete_beta(b + n - x, a + x, 1 - p)
        normaliser = log_incomplete_beta(b, a, 1 - p)
    else:
        tail = log_incomplete_beta(a + x, b + n - x, p)
        normaliser = log_incomplete_beta(a, b, p)
    mixture = _log_beta(a + x, b + n - x) + tail - _log_beta(a, b) - normaliser
    return mixture - log_likelihood(tally, p)


def confidence_sequence(tally: Tally, alpha: float, prior: Prior = JEFFREYS) -> Bounds:
    """The proportions p with M_n(p) < 1/alpha: the true one stays inside at every n w.p. 1-alpha.

    log M_n(p) is convex in p and at most 0 at p = x/n (a mixture of likelihoods is at most the
    largest one), so the set is an interval around x/n; both ends are found by bisection.
    """
    if tally.trials == 0:
        return Bounds(0.0, 1.0)
    limit = math.log(1 / alpha)
    centre = tally.events / tally.trials
    a, b = prior
    mixture = _log_beta(a + tally.events, b + tally.trials - tally.events) - _log_beta(a, b)

    def outside(p: float) -> bool:
        if p <= 0 or p >= 1:
            return mixture_log_evidence(tally, p, prior) >= limit
        return mixture - log_likelihood(tally, p) >= limit

    def edge(inside: float, beyond: float) -> float:
        if not outside(beyond):
            return beyond
        for _ in range(_BISECTIONS):
            middle = (inside + beyond) / 2
            if outside(middle):
                beyond = middle
            else:
                inside = middle
        return inside

    return Bounds(edge(centre, 0.0), edge(centre, 1.0))


def _null_reference(first: Tally, second: Tally, q1: float, q2: float, margin: float) -> float:
    """r in (max(q2, -margin), min(q1 - margin, 1)) where both groups' first-order terms cancel:

        n1 (q1 - r - margin) / ((r + margin)(1 - r - margin)) + n2 (q2 - r) / (r (1 - r)) = 0.

    The left side is positive at the lower end and negative at the upper end (the alternative is
    in H1), so bisection finds the root; the ends themselves are never evaluated.
    """
    low, high = max(q2, -margin), min(q1 - margin, 1.0)
    for _ in range(_BISECTIONS):
        r = (low + high) / 2
        shifted = r + margin
        gradient = first.trials * (q1 - shifted) / (shifted * (1 - shifted)) + second.trials * (
            q2 - r
        ) / (r * (1 - r))
        if gradient > 0:
            low = r
        else:
            high = r
    return (low + high) / 2


def comparison_log_e(first: Tally, second: Tally, q1: float, q2: float, margin: float) -> float:
    """log of one block's e-value against H0: p1 <= p2 + margin (group 1 is no worse than that).

    (q1, q2) is the alternative the block is scored against; it must come from earlier blocks
    only. A block with no trials in one group carries no evidence (e-value 1). An alternative
    outside H1 (q1 - q2 <= margin) or outside (0, 1) scores 1 too.
    """
    if first.trials == 0 or second.trials == 0:
        return 0.0
    if not (0 < q1 < 1 and 0 < q2 < 1 and q1 - q2 > margin and q1 - margin > 0):
        return 0.0
    r = _null_reference(first, second, q1, q2, margin)
    alternative = log_likelihood(first, q1) + log_likelihood(second, q2)
    return alternative - log_likelihood(first, r + margin) - log_likelihood(second, r)


def log_mean_exp(values: Sequence[float]) -> float:
    """log of the mean of exp(values): an equal-weight mixture of e-processes is one too."""
    top = max(values)
    if top == -math.inf:
        return top
    return top + math.log(sum(math.exp(value - top) for value in values) / len(values))


@dataclass(frozen=True)
class ComparisonPlan:
    """One sequential comparison H0: p1 <= p2 + margin, as a mixture of plug-in e-processes.

    Each alternative says group 1 fails `offset` more often than group 2 (offset > margin);
    group 2's rate is estimated from earlier blocks with a Beta(prior) start.
    """

    margin: float
    offsets: tuple[float, ...]
    prior: Prior = (0.5, 250.0)

    def __post_init__(self) -> None:
        if not self.offsets or min(self.offsets) <= self.margin:
            raise ValueError("every alternative offset must be larger than the margin")

    def start(self) -> list[float]:
        return [0.0] * len(self.offsets)

    def update(
        self, log_e: Sequence[float], first: Tally, second: Tally, second_before: Tally
    ) -> list[float]:
        """The e-processes after one more block; `second_before` is group 2's earlier blocks."""
        a, b = self.prior
        q2 = (second_before.events + a) / (second_before.trials + a + b)
        updated = []
        for value, offset in zip(log_e, self.offsets, strict=True):
            q1 = min(q2 + offset, 1 - 1e-9)
            updated.append(value + comparison_log_e(first, second, q1, q2, self.margin))
        return updated


Bucket = tuple[float, int]
"""(upper bound in seconds, cumulative count of requests at or below it); +Inf last."""


def _interpolate(level: float, points: Sequence[tuple[float, float]], cap: float) -> float:
    """Where the piecewise-linear curve through (0, 0) and `points` first reaches `level`."""
    previous_x, previous_y = 0.0, 0.0
    for x, y in points:
        if y >= level:
            if y == previous_y:
                return previous_x
            return previous_x + (x - previous_x) * (level - previous_y) / (y - previous_y)
        previous_x, previous_y = x, y
    return cap


def _finite(buckets: Sequence[Bucket]) -> tuple[list[Bucket], int]:
    ordered = sorted(buckets)
    if not ordered or not math.isinf(ordered[-1][0]):
        raise ValueError("a histogram needs its +Inf bucket")
    return [bucket for bucket in ordered if not math.isinf(bucket[0])], ordered[-1][1]


def histogram_quantile(level: float, buckets: Sequence[Bucket]) -> float | None:
    """Prometheus' histogram_quantile on cumulative counts: None without requests; the highest
    finite bound when the quantile is in the +Inf bucket; linear within a bucket, from 0."""
    finite, total = _finite(buckets)
    if total == 0 or not finite:
        return None
    return _interpolate(level, [(le, count / total) for le, count in finite], finite[-1][0])


def quantile_bounds(
    level: float, buckets: Sequence[Bucket], alpha: float, prior: Prior = JEFFREYS
) -> Bounds:
    """Bounds on histogram_quantile(level) of the true bucket shares, valid at every look.

    With F(b) the true share at or below boundary b and [lo(b), hi(b)] its confidence sequence,
    the curve through hi(b) lies above the true interpolated curve between any two boundaries
    whose sequences hold, so where it reaches `level` is a lower bound of the quantile; the curve
    through lo(b) gives the upper bound. Only the two boundaries around the true quantile matter,
    so both bounds hold together with probability >= 1 - 2 alpha (alpha per boundary).
    """
    finite, total = _finite(buckets)
    if not finite:
        raise ValueError("a histogram needs a finite bucket")
    cap = finite[-1][0]
    sequences = [confidence_sequence(Tally(count, total), alpha, prior) for _, count in finite]
    # Monotone envelopes: a larger upper bound, or a smaller lower bound, is still a bound.
    highs, lows, running = [], [], 0.0
    for bounds in sequences:
        running = max(running, bounds.upper)
        highs.append(running)
    running = 1.0
    for bounds in reversed(sequences):
        running = min(running, bounds.lower)
        lows.append(running)
    lows.reverse()
    edges = [le for le, _ in finite]
    return Bounds(
        _interpolate(level, list(zip(edges, highs, strict=True)), cap),
        _interpolate(level, list(zip(edges, lows, strict=True)), cap),
    )
