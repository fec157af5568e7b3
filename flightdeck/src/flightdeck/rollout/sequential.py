"""The sequential judge: statistical tests on the counts since the step began, on every scrape.

Counts come from the backend's counters: for each series, its value now minus its value when
the step began (a series born during the step counts from 0); a series whose counter went back
(a process restarted) falls back to Prometheus' increase() over the step. The judge is due when
Prometheus has a scrape newer than the last one it judged: one small query per tick, the full
evaluation (four count queries, memory and CPU) only when there is something new.

Checks, with `alpha` = analysis.sequential.false_alarm_rate shared out so that a step of a good
candidate is failed with probability at most alpha in total, however often it is evaluated, and
`beta` = analysis.sequential.miss_rate shared out the same way for passing a step of a candidate
clearly worse than the thresholds allow (rollout/statistics.py and docs/canary.md explain them):

- error_rate: one-sided mixture tests of the candidate's failure share against
  thresholds.max_error_rate: fail when the evidence that it is above reaches 4/alpha, pass when
  the evidence that it is below reaches 4/beta (its confidence sequence is shown beside).
- error_rate_vs_baseline, live baseline: two mixtures of two-sample e-processes over blocks of
  new counts (a block closes when both sides have new requests). "Worse": against H0 "the
  candidate fails at most error_rate_margin more often than the baseline"; reaching 2/alpha fails.
  "Not worse": against H0 "it fails at least max_error_rate_increase more often"; reaching 2/beta
  passes. Against figures measured before a switch (a fixed sample), confidence sequences are
  compared instead: the candidate's (alpha/4, beta/4) with the baseline's (alpha/2, beta/2).
- p95_latency and p95_vs_baseline: bounds on each side's P95 as histogram_quantile reads the
  buckets, from confidence sequences at the bucket boundaries (alpha/16 or beta/24 each; two
  boundaries per bound): fail when the candidate's lower bound is above max_p95_seconds, or above
  the floor and max_p95_ratio times the baseline's upper bound; pass when the upper bounds allow,
  or when a one-sided test (beta/24) is sure that 95% of the candidate's requests took at most
  the bucket boundary under the floor (or under max_p95_seconds).
- memory and cpu: gauges against the limits, as the threshold judge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime

from flightdeck.metrics import MetricsProvider
from flightdeck.rollout.analysis import (
    API_ROUTES,
    CheckResult,
    Comparison,
    Figures,
    Series,
    Verdict,
    combine,
    judges,
    resource_checks,
    selector,
)
from flightdeck.rollout.evidence import BlockCounts, JudgeState
from flightdeck.rollout.spec import Analysis
from flightdeck.rollout.statistics import (
    Bounds,
    Bucket,
    ComparisonPlan,
    Tally,
    confidence_sequence,
    histogram_quantile,
    log_mean_exp,
    one_sided_log_evidence,
    quantile_bounds,
)

QUANTILE = 0.95
LOOKBACK_SECONDS = 300
"""Prometheus' lookback: the value "when the step began" is the last sample up to 5 min before."""
WORSE_STEPS = (0.01, 0.03, 0.1, 0.3)
"""How much worse than the margin the "worse" alternatives are: quick on a clear failure,
still sensitive to a small one."""


def since_step(metric: str, since: float, now: float) -> str:
    """PromQL: each series' increase since `since` (Unix seconds), exact unless it was reset.

    The value now minus the value at `since` (0 for a series born later); a series reset after
    `since` (its resets over the lookback and the step, minus those up to `since`) falls back to
    increase() over the step, which Prometheus extrapolates to the step's span.
    """
    elapsed = max(1, math.ceil(now - since))
    at = f"{since:.3f}"
    lookback = f"{LOOKBACK_SECONDS}s"
    resets_since = (
        f"resets({metric}[{elapsed + LOOKBACK_SECONDS}s])"
        f" - (resets({metric}[{lookback}] @ {at}) or {metric} * 0)"
    )
    return (
        f"(({metric} - (({metric} @ {at}) * 1 or {metric} * 0))"
        f" unless ({resets_since}) > 0)"
        f" or increase({metric}[{elapsed}s])"
    )


def count_queries(series: Series, since: float, now: float) -> dict[str, str]:
    sel = selector(series.track, series.version)
    requests = since_step(f"http_requests_total{{{sel},{API_ROUTES}}}", since, now)
    buckets = since_step(f"http_request_duration_seconds_bucket{{{sel},{API_ROUTES}}}", since, now)
    return {
        "statuses": f"sum by (status) ({requests})",
        "buckets": f"sum by (le) ({buckets})",
    }


def latest_scrape_query(series: list[Series]) -> str:
    parts = [f"timestamp(up{{{selector(s.track, s.version)}}})" for s in series]
    return f"max({' or '.join(parts)})"


class Side:
    """One side's counts since the step began: requests with failed ones, and latency buckets."""

    def __init__(self, statuses: Mapping[str, float], buckets: Mapping[str, float]) -> None:
        requests = round(sum(statuses.values()))
        errors = round(sum(v for status, v in statuses.items() if status.startswith("5")))
        self.requests = Tally(min(max(errors, 0), max(requests, 0)), max(requests, 0))
        cumulative: list[Bucket] = []
        highest = 0
        for le, count in sorted((float(le), count) for le, count in buckets.items()):
            highest = max(highest, round(count))  # cumulative counts never go down
            cumulative.append((le, highest))
        self.buckets = cumulative if cumulative and math.isinf(cumulative[-1][0]) else []

    @property
    def timed(self) -> int:
        """Requests in the latency histogram (its +Inf bucket)."""
        return self.buckets[-1][1] if self.buckets else 0


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}ms"


def _tally(tally: Tally) -> str:
    return f"{tally.events}/{tally.trials} ({_percent(tally.share)})"


def _increment(now: Tally, errors_before: int, requests_before: int) -> Tally:
    trials = max(0, now.trials - requests_before)
    return Tally(min(max(0, now.events - errors_before), trials), trials)


@judges.register("sequential")
class SequentialJudge:
    waits_for_evidence = True

    def __init__(self, provider: MetricsProvider, analysis: Analysis) -> None:
        self.provider = provider
        self.analysis = analysis
        # Failing rests on the false-alarm rate, passing on the miss rate, each shared out the
        # same way: the comparison with the baseline catches most regressions, and fastest, so
        # it has half; the candidate's own error rate a quarter; the latency tests the rest.
        # Failing a P95 rests on two boundaries of each side; passing also on one test per
        # limit that a P95 may be under (the floor, max_p95_seconds).
        self.fail = Shares(analysis.sequential.false_alarm_rate, latency_tests=4)
        self.passing = Shares(analysis.sequential.miss_rate, latency_tests=6)
        margin = analysis.sequential.error_rate_margin
        increase = analysis.thresholds.max_error_rate_increase
        self.worse = ComparisonPlan(margin, tuple(margin + step for step in WORSE_STEPS))
        # "Not worse" compares successes, so that the well-measured baseline is the side
        # estimated from earlier blocks (its prior: a success rate near 1).
        self.not_worse = ComparisonPlan(-increase, (-increase / 2, 0.0), prior=(250.0, 0.5))
        self._latest: float | None = None

    # -- when ---------------------------------------------------------------------------------
    def _sides(self, comparison: Comparison) -> list[Series]:
        baseline = comparison.baseline
        return [comparison.candidate, *([baseline] if isinstance(baseline, Series) else [])]

    def latest_scrape(self, comparison: Comparison) -> float | None:
        self._latest = self.provider.query(latest_scrape_query(self._sides(comparison)))
        return self._latest

    def sees(self, candidate: Series) -> bool:
        """Prometheus has scraped the candidate: its first requests will be counted from then."""
        return self.provider.query(latest_scrape_query([candidate])) is not None

    def due(self, comparison: Comparison, last_analysis_at: datetime | None, now: datetime) -> bool:
        latest = self.latest_scrape(comparison)
        if latest is None or latest <= comparison.since.timestamp():
            return False
        state = comparison.state
        if state is None or state.since != comparison.since or state.scrape_at is None:
            return True
        return latest > state.scrape_at

    # -- what ---------------------------------------------------------------------------------
    def _side(self, series: Series, since: float, now: float) -> Side:
        queries = count_queries(series, since, now)
        return Side(
            self.provider.query_vector(queries["statuses"], "status"),
            self.provider.query_vector(queries["buckets"], "le"),
        )

    def judge(self, comparison: Comparison, now: datetime) -> Verdict:
        since = comparison.since
        previous = comparison.state
        state = (
            previous.model_copy(deep=True)
            if previous is not None and previous.since == since
            else JudgeState(since=since)
        )
        latest = self._latest if self._latest is not None else self.latest_scrape(comparison)
        state.scrape_at = latest
        candidate = self._side(comparison.candidate, since.timestamp(), now.timestamp())
        baseline = comparison.baseline
        if isinstance(baseline, Series):
            base = self._side(baseline, since.timestamp(), now.timestamp())
            base_name = baseline.track
            errors_vs = self._errors_vs_live(state, candidate, base, comparison.candidate.track)
        else:
            base = Side(*_figure_counts(baseline))
            base_name = "before the switch"
            errors_vs = self._errors_vs_figures(candidate, base, baseline)
        name = comparison.candidate.track
        counts = {
            "candidate_requests": float(candidate.requests.trials),
            "baseline_requests": float(base.requests.trials),
        }
        checks = [
            CheckResult(
                "requests",
                float(candidate.requests.trials),
                1.0,
                "pass" if candidate.requests.trials else "inconclusive",
                f"requests since the step began: {name} {candidate.requests.trials}, "
                f"{base_name} {base.requests.trials}",
                counts=counts,
            ),
            self._error_rate(name, candidate),
            errors_vs,
            *self._latency(name, candidate, base_name, base),
            *resource_checks(self.provider, comparison.candidate, self.analysis),
        ]
        return combine(checks, state)

    # -- error rate ---------------------------------------------------------------------------
    def _rate_bounds(self, tally: Tally, fail_alpha: float, pass_alpha: float) -> Bounds:
        """The lower bound that may fail a check, and the upper bound that may pass it."""
        return Bounds(
            confidence_sequence(tally, fail_alpha).lower,
            confidence_sequence(tally, pass_alpha).upper,
        )

    def _error_rate(self, name: str, candidate: Side) -> CheckResult:
        """One-sided tests against the limit decide; the confidence sequence is shown."""
        limit = self.analysis.thresholds.max_error_rate
        tally = candidate.requests
        bounds = self._rate_bounds(tally, self.fail.rate, self.passing.rate)
        above = _capped_exp(one_sided_log_evidence(tally, limit, above=True))
        below = _capped_exp(one_sided_log_evidence(tally, limit, above=False))
        fails_at, passes_at = 1 / self.fail.rate, 1 / self.passing.rate
        shown = (
            f"error_rate {name} {_tally(tally)}, between {_percent(bounds.lower)} and "
            f"{_percent(bounds.upper)}, evidence above {above:.3g} (fails at {fails_at:.0f}), "
            f"below {below:.3g} (passes at {passes_at:.0f})"
        )
        if above >= fails_at:
            result, detail = "fail", f"{shown}: above the {_percent(limit)} limit"
        elif below >= passes_at:
            result, detail = "pass", f"{shown}: under the {_percent(limit)} limit"
        else:
            result, detail = "inconclusive", f"{shown}: not yet sure against {_percent(limit)}"
        return CheckResult(
            "error_rate",
            tally.share,
            limit,
            result,  # type: ignore[arg-type]
            detail,
            lower=bounds.lower,
            upper=bounds.upper,
            evidence={"above": above, "below": below},
            needed={"above": fails_at, "below": passes_at},
            counts={"candidate_errors": float(tally.events), "candidate_requests": tally.trials},
        )

    def _difference(self, candidate: Tally, baseline: Tally) -> Bounds:
        """Bounds on the candidate's error rate minus the baseline's."""
        mine = self._rate_bounds(candidate, self.fail.rate, self.passing.rate)
        theirs = self._rate_bounds(baseline, self.passing.comparison, self.fail.comparison)
        return Bounds(mine.lower - theirs.upper, mine.upper - theirs.lower)

    def _errors_vs_live(
        self, state: JudgeState, candidate: Side, base: Side, name: str
    ) -> CheckResult:
        closed = state.closed
        new_candidate = _increment(
            candidate.requests, closed.candidate_errors, closed.candidate_requests
        )
        new_baseline = _increment(base.requests, closed.baseline_errors, closed.baseline_requests)
        if new_candidate.trials and new_baseline.trials:
            # A block closes only when both sides have new requests: a one-sided block carries
            # no evidence, and its counts join the next block instead.
            state.worse = self.worse.update(
                state.worse or self.worse.start(),
                new_candidate,
                new_baseline,
                Tally(closed.baseline_errors, closed.baseline_requests),
            )
            state.not_worse = self.not_worse.update(
                state.not_worse or self.not_worse.start(),
                _successes(new_candidate),
                _successes(new_baseline),
                _successes(Tally(closed.baseline_errors, closed.baseline_requests)),
            )
            state.closed = BlockCounts(
                candidate_requests=max(closed.candidate_requests, candidate.requests.trials),
                candidate_errors=max(closed.candidate_errors, candidate.requests.events),
                baseline_requests=max(closed.baseline_requests, base.requests.trials),
                baseline_errors=max(closed.baseline_errors, base.requests.events),
            )
            state.blocks += 1
        fails_at, passes_at = 1 / self.fail.comparison, 1 / self.passing.comparison
        worse, not_worse = _e_value(state.worse), _e_value(state.not_worse)
        state.not_worse_reached = state.not_worse_reached or not_worse >= passes_at
        margin = self.analysis.sequential.error_rate_margin
        increase = self.analysis.thresholds.max_error_rate_increase
        shown = f"{name} {_tally(candidate.requests)} vs baseline {_tally(base.requests)}"
        if worse >= fails_at:
            result = "fail"
            detail = (
                f"error_rate_vs_baseline: fails more often than the baseline + "
                f"{100 * margin:.2f} points: {shown}, evidence {worse:.0f} >= {fails_at:.0f}"
            )
        elif state.not_worse_reached:
            result = "pass"
            detail = (
                f"error_rate_vs_baseline: less than {100 * increase:.2f} points worse: {shown}, "
                f"evidence reached {passes_at:.0f}"
            )
        else:
            result = "inconclusive"
            detail = (
                f"error_rate_vs_baseline: not yet: {shown}, evidence worse {worse:.3g} "
                f"(fails at {fails_at:.0f}), not worse {not_worse:.3g} (passes at {passes_at:.0f})"
            )
        bounds = self._difference(candidate.requests, base.requests)
        return CheckResult(
            "error_rate_vs_baseline",
            _difference(candidate.requests, base.requests),
            margin,
            result,  # type: ignore[arg-type]
            detail,
            lower=bounds.lower,
            upper=bounds.upper,
            evidence={"worse": worse, "not_worse": not_worse},
            needed={"worse": fails_at, "not_worse": passes_at},
            counts=_counts(candidate.requests, base.requests),
        )

    def _errors_vs_figures(self, candidate: Side, base: Side, figures: Figures) -> CheckResult:
        margin = self.analysis.sequential.error_rate_margin
        increase = self.analysis.thresholds.max_error_rate_increase
        if figures.requests is None:
            return CheckResult(
                "error_rate_vs_baseline",
                None,
                margin,
                "inconclusive",
                "error_rate_vs_baseline: no counts were measured before the switch",
            )
        bounds = self._difference(candidate.requests, base.requests)
        shown = (
            f"{_tally(candidate.requests)} vs {_tally(base.requests)} before the switch; "
            f"difference between {100 * bounds.lower:.2f} and {100 * bounds.upper:.2f} points"
        )
        if bounds.lower > margin:
            result, detail = "fail", f"error_rate_vs_baseline: worse by > {100 * margin:.2f}"
        elif candidate.requests.trials and bounds.upper <= increase:
            result, detail = "pass", f"error_rate_vs_baseline: < {100 * increase:.2f} worse"
        else:
            result, detail = "inconclusive", "error_rate_vs_baseline: not yet"
        return CheckResult(
            "error_rate_vs_baseline",
            _difference(candidate.requests, base.requests),
            margin,
            result,  # type: ignore[arg-type]
            f"{detail} points: {shown}",
            lower=bounds.lower,
            upper=bounds.upper,
            counts=_counts(candidate.requests, base.requests),
        )

    # -- latency ------------------------------------------------------------------------------
    def _p95_bounds(self, buckets: list[Bucket], fail_alpha: float, pass_alpha: float) -> Bounds:
        """The lower bound of a P95 from the fail side's sequences, the upper from the pass
        side's (for the baseline the sides swap: its upper bound is what may fail the canary)."""
        if not buckets:
            return Bounds(0.0, math.inf)
        return Bounds(
            quantile_bounds(QUANTILE, buckets, fail_alpha).lower,
            quantile_bounds(QUANTILE, buckets, pass_alpha).upper,
        )

    def _latency(self, name: str, candidate: Side, base_name: str, base: Side) -> list[CheckResult]:
        limits = self.analysis.thresholds
        counts = {"candidate_requests": float(candidate.timed), "baseline_requests": base.timed}
        if not candidate.timed:
            return [
                CheckResult(check, None, threshold, "inconclusive", f"{check}: no requests yet")
                for check, threshold in (
                    ("p95_latency", limits.max_p95_seconds),
                    ("p95_vs_baseline", limits.max_p95_ratio),
                )
            ]
        estimate = histogram_quantile(QUANTILE, candidate.buckets)
        bounds = self._p95_bounds(candidate.buckets, self.fail.boundary, self.passing.boundary)
        shown = f"{name} P95 {_ms(estimate)}, between {_ms(bounds.lower)} and {_ms(bounds.upper)}"
        under_limit = bounds.upper <= limits.max_p95_seconds or self._surely_under(
            candidate.buckets, limits.max_p95_seconds
        )
        absolute = CheckResult(
            "p95_latency",
            estimate,
            limits.max_p95_seconds,
            "fail"
            if bounds.lower > limits.max_p95_seconds
            else "pass"
            if under_limit
            else "inconclusive",
            f"p95_latency: {shown} (limit {_ms(limits.max_p95_seconds)})",
            lower=bounds.lower,
            upper=bounds.upper,
            counts=counts,
        )
        under_floor = bounds.upper <= limits.p95_ratio_floor_seconds or self._surely_under(
            candidate.buckets, limits.p95_ratio_floor_seconds
        )
        return [
            absolute,
            self._latency_ratio(shown, bounds, under_floor, estimate, base_name, base, counts),
        ]

    def _surely_under(self, buckets: list[Bucket], seconds: float) -> bool:
        """Sure that 95% of the requests took at most the largest bucket boundary under
        `seconds` (so P95 is under it, whatever the interpolation): a one-sided test of the
        share at that boundary against 0.95."""
        within = [(le, count) for le, count in buckets if le <= seconds and not math.isinf(le)]
        if not within or not buckets:
            return False
        tally = Tally(within[-1][1], buckets[-1][1])
        evidence = one_sided_log_evidence(tally, QUANTILE, above=True)
        return evidence >= math.log(1 / self.passing.boundary)

    def _latency_ratio(
        self,
        shown: str,
        bounds: Bounds,
        under_floor: bool,
        estimate: float | None,
        base_name: str,
        base: Side,
        counts: dict[str, float],
    ) -> CheckResult:
        limits = self.analysis.thresholds
        ratio, floor = limits.max_p95_ratio, limits.p95_ratio_floor_seconds
        base_estimate = histogram_quantile(QUANTILE, base.buckets) if base.buckets else None
        base_bounds = self._p95_bounds(base.buckets, self.passing.boundary, self.fail.boundary)
        shown_base = (
            f"{base_name} P95 {_ms(base_estimate)}, between {_ms(base_bounds.lower)} and "
            f"{_ms(base_bounds.upper)}"
        )
        if bounds.lower > floor and bounds.lower > ratio * base_bounds.upper:
            result, verdict = "fail", f"more than {ratio:g}x the baseline's"
        elif under_floor:
            result, verdict = "pass", f"under the {_ms(floor)} floor"
        elif bounds.upper <= ratio * base_bounds.lower:
            result, verdict = "pass", f"at most {ratio:g}x the baseline's"
        else:
            result, verdict = "inconclusive", f"not yet sure against {ratio:g}x the baseline's"
        return CheckResult(
            "p95_vs_baseline",
            estimate / base_estimate if estimate is not None and base_estimate else None,
            ratio,
            result,  # type: ignore[arg-type]
            f"p95_vs_baseline: {verdict}: {shown}; {shown_base}",
            lower=bounds.lower / base_bounds.upper if base_bounds.upper > 0 else None,
            upper=bounds.upper / base_bounds.lower if base_bounds.lower > 0 else None,
            counts=counts,
        )


class Shares:
    """How one error rate (false alarms, or misses) is shared out among the tests of a step:
    half to the comparison with the baseline, a quarter to the candidate's own error rate, the
    last quarter to the latency tests (`latency_tests` of them)."""

    def __init__(self, rate: float, latency_tests: int) -> None:
        self.comparison = rate / 2
        self.rate = rate / 4
        self.boundary = rate / 4 / latency_tests


def _difference(candidate: Tally, baseline: Tally) -> float | None:
    if candidate.share is None or baseline.share is None:
        return None
    return candidate.share - baseline.share


def _counts(candidate: Tally, baseline: Tally) -> dict[str, float]:
    return {
        "candidate_errors": float(candidate.events),
        "candidate_requests": float(candidate.trials),
        "baseline_errors": float(baseline.events),
        "baseline_requests": float(baseline.trials),
    }


def _figure_counts(figures: Figures) -> tuple[dict[str, float], dict[str, float]]:
    """Figures measured before a switch, in the shape of Prometheus' answers."""
    if figures.requests is None:
        return {}, figures.buckets or {}
    requests, errors = figures.requests, figures.errors or 0.0
    return {"200": max(requests - errors, 0.0), "500": errors}, figures.buckets or {}


def _capped_exp(log_e: float) -> float:
    """An e-value from its log, capped far above any bar so that it stays a finite float."""
    return math.exp(min(log_e, 700.0))


def _e_value(log_e: list[float]) -> float:
    """The mixture's e-value."""
    return _capped_exp(log_mean_exp(log_e)) if log_e else 1.0


def _successes(tally: Tally) -> Tally:
    return Tally(tally.trials - tally.events, tally.trials)
