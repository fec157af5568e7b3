"""Rollout analysis: PromQL over the backend's own metrics, a candidate judged against a baseline.

The candidate is the new version's track (the canary, or the green colour). The baseline is either
a track measured at the same time (stable, for a canary) or figures measured before a switch
(blue's, for a blue-green monitor window: after a full switch nothing serves the old version).

A *judge* turns the metrics into a verdict; the rollout spec chooses it (`analysis.judge`):

- `threshold` (here): every `interval`, window averages against fixed limits. "No data" is never
  read as 0: an empty result is inconclusive, and so is every check when the candidate served
  fewer than `min_requests` requests in the window.
- `sequential` (rollout/sequential.py): on every new scrape, statistical tests on the counts
  since the step began, with a false-alarm rate that holds however often they are evaluated.

Each check is `pass`, `fail` or `inconclusive`. One failing check fails the verdict; otherwise one
inconclusive check makes it inconclusive.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from flightdeck.core.registry import Registry
from flightdeck.metrics import MetricsProvider
from flightdeck.rollout.evidence import JudgeState
from flightdeck.rollout.record import RolloutRecord
from flightdeck.rollout.spec import Analysis

Result = Literal["pass", "fail", "inconclusive"]
API_ROUTES = 'route=~"/api/.*"'


@dataclass(frozen=True)
class CheckResult:
    name: str
    value: float | None
    threshold: float
    result: Result
    detail: str
    lower: float | None = None
    """Sequential judge: the bound that can fail the check (at the false-alarm rate)."""
    upper: float | None = None
    """Sequential judge: the bound that can pass the check (at the miss rate)."""
    evidence: dict[str, float] | None = None
    """E-values of the sequential tests behind the check, by what they argue for."""
    needed: dict[str, float] | None = None
    """The e-value at which each test decides (1 / its share of the false-alarm or miss rate)."""
    counts: dict[str, float] | None = None
    """The counts the check was computed from (requests, errors, by side)."""

    def as_dict(self) -> dict[str, Any]:
        """For the rollout record: the sequential judge's numbers only when there are some."""
        optional = ("lower", "upper", "evidence", "needed", "counts")
        return {
            key: value
            for key, value in asdict(self).items()
            if key not in optional or value not in (None, {})
        }


def bounds_text(check: dict[str, Any]) -> str:
    """A recorded check's confidence bounds, `[lower, upper]`, or "" (threshold judge)."""
    lower, upper = check.get("lower"), check.get("upper")
    if lower is None and upper is None:
        return ""
    shown = ["-" if side is None else f"{side:.3g}" for side in (lower, upper)]
    return f"[{shown[0]}, {shown[1]}]"


def numbers_behind(check: dict[str, Any]) -> str:
    """The counts and e-values a recorded check was decided from (sequential judge)."""
    counts, parts = check.get("counts") or {}, []
    if "candidate_errors" in counts:
        errors = f"errors {counts['candidate_errors']:.0f}/{counts['candidate_requests']:.0f}"
        if "baseline_errors" in counts:
            errors += f" vs {counts['baseline_errors']:.0f}/{counts['baseline_requests']:.0f}"
        parts.append(errors)
    elif "candidate_requests" in counts:
        parts.append(
            f"requests {counts['candidate_requests']:.0f} vs "
            f"{counts.get('baseline_requests', 0):.0f}"
        )
    if check.get("evidence"):
        needed = check.get("needed") or {}
        parts.append(
            "evidence "
            + ", ".join(
                f"{name} {value:.3g} of {needed.get(name, 0):.0f}"
                for name, value in check["evidence"].items()
            )
        )
    return "; ".join(parts)


def combine(checks: list[CheckResult], state: JudgeState | None = None) -> Verdict:
    results = {check.result for check in checks}
    verdict: Result = (
        "fail" if "fail" in results else "inconclusive" if "inconclusive" in results else "pass"
    )
    return Verdict(verdict, tuple(checks), state)


@dataclass(frozen=True)
class Verdict:
    result: Result
    checks: tuple[CheckResult, ...]
    state: JudgeState | None = None
    """What the judge carries to its next evaluation in the same step (None: nothing)."""

    @property
    def reason(self) -> str:
        wanted = "fail" if self.result == "fail" else "inconclusive"
        details = [check.detail for check in self.checks if check.result == wanted]
        return "; ".join(details) if details else "every check passed"


def _window(window: timedelta) -> str:
    return f"{max(1, int(window.total_seconds()))}s"


def selector(track: str, version: str | None) -> str:
    labels = f'job="backend",track="{track}"'
    return labels + (f',version="{version}"' if version else "")


def build_queries(track: str, version: str | None, window: timedelta) -> dict[str, str]:
    sel, w = selector(track, version), _window(window)
    requests = f"http_requests_total{{{sel},{API_ROUTES}}}"
    errors = f'http_requests_total{{{sel},{API_ROUTES},status=~"5.."}}'
    buckets = f"http_request_duration_seconds_bucket{{{sel},{API_ROUTES}}}"
    return {
        "requests": f"sum(increase({requests}[{w}]))",
        # No 5xx series yet means no errors, provided there were requests (the denominator).
        "error_rate": f"(sum(rate({errors}[{w}])) or vector(0)) / sum(rate({requests}[{w}]))",
        "p95_seconds": f"histogram_quantile(0.95, sum by (le) (rate({buckets}[{w}])))",
        "memory_bytes": f"max(process_resident_memory_bytes{{{sel}}})",
        "cpu_cores": f"max(rate(process_cpu_seconds_total{{{sel}}}[{w}]))",
    }


def build_count_queries(track: str, version: str | None, window: timedelta) -> dict[str, str]:
    """Requests by status and requests by latency bucket over a window (for measured figures)."""
    sel, w = selector(track, version), _window(window)
    return {
        "statuses": f"sum by (status) (increase(http_requests_total{{{sel},{API_ROUTES}}}[{w}]))",
        "buckets": "sum by (le) (increase("
        f"http_request_duration_seconds_bucket{{{sel},{API_ROUTES}}}[{w}]))",
    }


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if unit == "%":
        return f"{100 * value:.2f}%"
    if unit == "s":
        return f"{value * 1000:.0f}ms"
    if unit == "B":
        return f"{value / 1024 / 1024:.0f}MiB"
    return f"{value:.2f}{unit}"


def limit_check(name: str, value: float | None, threshold: float, unit: str) -> CheckResult:
    if value is None:
        return CheckResult(name, None, threshold, "inconclusive", f"{name}: no data")
    shown = f"{name} {_fmt(value, unit)} (limit {_fmt(threshold, unit)})"
    return CheckResult(name, value, threshold, "fail" if value > threshold else "pass", shown)


def resource_checks(
    provider: MetricsProvider, candidate: Series, analysis: Analysis
) -> list[CheckResult]:
    """Memory and CPU: gauges of the candidate's processes against the backend's limits."""
    limits = analysis.thresholds
    queries = build_queries(candidate.track, candidate.version, analysis.rate_window)
    memory, cpu = provider.query(queries["memory_bytes"]), provider.query(queries["cpu_cores"])
    return [
        limit_check("memory", memory, limits.max_memory_bytes, "B"),
        limit_check("cpu", cpu, limits.max_cpu_cores, " cores"),
    ]


def _p95_ratio(
    p95: float | None, stable_p95: float | None, limit: float, floor: float
) -> CheckResult:
    if p95 is not None and p95 <= floor:
        detail = f"p95_vs_baseline: P95 {_fmt(p95, 's')} is under the {_fmt(floor, 's')} floor"
        return CheckResult("p95_vs_baseline", None, limit, "pass", detail)
    ratio = None if p95 is None or not stable_p95 else p95 / stable_p95
    return limit_check("p95_vs_baseline", ratio, limit, "x")


@dataclass(frozen=True)
class Series:
    """A track's requests, optionally only those of one version."""

    track: str
    version: str | None = None


@dataclass(frozen=True)
class Figures:
    """A baseline measured once (None: no data then): error rate and P95, and for the
    sequential judge the counts behind them (requests, failed requests, requests per bucket)."""

    error_rate: float | None
    p95_seconds: float | None
    requests: float | None = None
    errors: float | None = None
    buckets: dict[str, float] | None = field(default=None)

    def summary(self) -> str:
        error = "no data" if self.error_rate is None else f"{100 * self.error_rate:.2f}% errors"
        p95 = "no data" if self.p95_seconds is None else f"P95 {self.p95_seconds * 1000:.0f}ms"
        counted = "" if self.requests is None else f" ({self.requests:.0f} requests)"
        return f"{error}, {p95}{counted}"

    def as_dict(self) -> dict[str, Any]:
        """For the rollout record: the counts only when they were measured."""
        return {key: value for key, value in asdict(self).items() if value is not None} | {
            "error_rate": self.error_rate,
            "p95_seconds": self.p95_seconds,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> Figures:
        values = values or {}
        return cls(
            values.get("error_rate"),
            values.get("p95_seconds"),
            values.get("requests"),
            values.get("errors"),
            values.get("buckets"),
        )


def _rates(provider: MetricsProvider, series: Series, window: timedelta) -> Figures:
    queries = build_queries(series.track, series.version, window)
    return Figures(provider.query(queries["error_rate"]), provider.query(queries["p95_seconds"]))


def measure(provider: MetricsProvider, series: Series, analysis: Analysis) -> Figures:
    """The series' figures over the analysis window (with counts for the sequential judge)."""
    window = analysis.rate_window
    rates = _rates(provider, series, window)
    if analysis.judge != "sequential":
        return rates
    error_rate, p95 = rates.error_rate, rates.p95_seconds
    counts = build_count_queries(series.track, series.version, window)
    statuses = provider.query_vector(counts["statuses"], "status")
    requests = sum(statuses.values())
    errors = sum(value for status, value in statuses.items() if status.startswith("5"))
    buckets = provider.query_vector(counts["buckets"], "le")
    return Figures(error_rate, p95, requests, errors, buckets)


@dataclass(frozen=True)
class Comparison:
    """What a judge is asked: the candidate against a baseline, for the step begun at `since`."""

    candidate: Series
    baseline: Series | Figures
    since: datetime
    state: JudgeState | None = None


class Judge(Protocol):
    waits_for_evidence: bool
    """True when "inconclusive" is expected while evidence accumulates (not a failing window)."""

    def sees(self, candidate: Series) -> bool:
        """Whether the judge can see the candidate yet (before it takes any weighted traffic)."""
        ...

    def due(self, comparison: Comparison, last_analysis_at: datetime | None, now: datetime) -> bool:
        """Whether an evaluation now could say something new (cheap; never hammers Prometheus)."""
        ...

    def judge(self, comparison: Comparison, now: datetime) -> Verdict: ...


judges: Registry[Judge] = Registry("analysis judge")
"""Factories taking (MetricsProvider, Analysis), keyed by the spec's `analysis.judge`."""


def _judge_modules() -> None:
    """Importing the judges outside this module registers them."""
    from flightdeck.rollout import sequential  # noqa: F401


def judge_for(provider: MetricsProvider, analysis: Analysis) -> Judge:
    _judge_modules()
    return judges.create(analysis.judge, provider, analysis)


@judges.register("threshold")
class ThresholdJudge:
    """Window averages against the spec's thresholds, once per `interval`."""

    waits_for_evidence = False

    def __init__(self, provider: MetricsProvider, analysis: Analysis) -> None:
        self.provider = provider
        self.analysis = analysis

    def sees(self, candidate: Series) -> bool:
        return True  # windows without data are inconclusive; nothing to wait for

    def due(self, comparison: Comparison, last_analysis_at: datetime | None, now: datetime) -> bool:
        return last_analysis_at is None or now - last_analysis_at >= self.analysis.interval

    def judge(self, comparison: Comparison, now: datetime) -> Verdict:
        provider, analysis = self.provider, self.analysis
        limits, candidate = analysis.thresholds, comparison.candidate
        canary_q = build_queries(candidate.track, candidate.version, analysis.rate_window)
        requests = provider.query(canary_q["requests"])
        enough = requests is not None and requests >= analysis.min_requests
        traffic = CheckResult(
            "requests",
            requests,
            float(analysis.min_requests),
            "pass" if enough else "inconclusive",
            f"{candidate.track} requests {requests or 0:.0f} in the window "
            f"(need {analysis.min_requests})",
        )
        if not enough:
            return Verdict("inconclusive", (traffic,))

        error_rate = provider.query(canary_q["error_rate"])
        p95 = provider.query(canary_q["p95_seconds"])
        baseline = comparison.baseline
        base = (
            _rates(provider, baseline, analysis.rate_window)
            if isinstance(baseline, Series)
            else baseline
        )
        stable_error_rate, stable_p95 = base.error_rate, base.p95_seconds
        checks = [
            traffic,
            limit_check("error_rate", error_rate, limits.max_error_rate, "%"),
            limit_check("p95_latency", p95, limits.max_p95_seconds, "s"),
            limit_check(
                "error_rate_vs_baseline",
                None
                if error_rate is None or stable_error_rate is None
                else error_rate - stable_error_rate,
                limits.max_error_rate_increase,
                "%",
            ),
            _p95_ratio(p95, stable_p95, limits.max_p95_ratio, limits.p95_ratio_floor_seconds),
            *resource_checks(provider, candidate, analysis),
        ]
        return combine(checks)


def undecided_allowance(analysis: Analysis) -> timedelta:
    """How long past its planned end a judge that waits for evidence may stay undecided before
    the inconclusive policy applies: `inconclusive.limit` intervals, as many windows as the
    threshold judge may be inconclusive in a row."""
    return analysis.inconclusive.limit * analysis.interval


def undecided(record: RolloutRecord) -> str:
    """What the last analysis of the current step could not decide yet."""
    last = record.last_analysis
    started = record.step_started_at
    if last is None or started is None or last.at < started:
        return "no new scrape in this step"
    return "; ".join(c["detail"] for c in last.checks if c["result"] == "inconclusive")


def analyse(
    provider: MetricsProvider,
    analysis: Analysis,
    candidate: Series,
    baseline: Series | Figures,
    since: datetime | None = None,
    state: JudgeState | None = None,
    now: datetime | None = None,
) -> Verdict:
    """Judge the candidate against the baseline with the spec's judge, for the step since `since`
    (the sequential judge needs it; the threshold judge looks at its window only)."""
    moment = now or datetime.now().astimezone()
    comparison = Comparison(candidate, baseline, since or moment, state)
    return judge_for(provider, analysis).judge(comparison, moment)
