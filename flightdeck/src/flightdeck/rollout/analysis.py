"""Rollout analysis: PromQL over the backend's own metrics, a candidate judged against a baseline.

The candidate is the new version's track (the canary, or the green colour). The baseline is either
a track measured at the same time (stable, for a canary) or figures measured before a switch
(blue's, for a blue-green monitor window: after a full switch nothing serves the old version).

Each check is `pass`, `fail` or `inconclusive`. "No data" is never read as 0: an empty result is
inconclusive, and so is every check when the candidate served fewer than `min_requests` requests
in the window. One failing check fails the window; otherwise one inconclusive check makes it
inconclusive.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Literal

from flightdeck.metrics import MetricsProvider
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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Verdict:
    result: Result
    checks: tuple[CheckResult, ...]

    @property
    def reason(self) -> str:
        wanted = "fail" if self.result == "fail" else "inconclusive"
        details = [check.detail for check in self.checks if check.result == wanted]
        return "; ".join(details) if details else "every check passed"


def _window(window: timedelta) -> str:
    return f"{max(1, int(window.total_seconds()))}s"


def _selector(track: str, version: str | None) -> str:
    labels = f'job="backend",track="{track}"'
    return labels + (f',version="{version}"' if version else "")


def build_queries(track: str, version: str | None, window: timedelta) -> dict[str, str]:
    sel, w = _selector(track, version), _window(window)
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


def _limit(name: str, value: float | None, threshold: float, unit: str) -> CheckResult:
    if value is None:
        return CheckResult(name, None, threshold, "inconclusive", f"{name}: no data")
    shown = f"{name} {_fmt(value, unit)} (limit {_fmt(threshold, unit)})"
    return CheckResult(name, value, threshold, "fail" if value > threshold else "pass", shown)


def _p95_ratio(
    p95: float | None, stable_p95: float | None, limit: float, floor: float
) -> CheckResult:
    if p95 is not None and p95 <= floor:
        detail = f"p95_vs_baseline: P95 {_fmt(p95, 's')} is under the {_fmt(floor, 's')} floor"
        return CheckResult("p95_vs_baseline", None, limit, "pass", detail)
    ratio = None if p95 is None or not stable_p95 else p95 / stable_p95
    return _limit("p95_vs_baseline", ratio, limit, "x")


@dataclass(frozen=True)
class Series:
    """A track's requests, optionally only those of one version."""

    track: str
    version: str | None = None


@dataclass(frozen=True)
class Figures:
    """A baseline's error rate and P95 measured once (None: no data then)."""

    error_rate: float | None
    p95_seconds: float | None


def measure(provider: MetricsProvider, series: Series, window: timedelta) -> Figures:
    queries = build_queries(series.track, series.version, window)
    return Figures(provider.query(queries["error_rate"]), provider.query(queries["p95_seconds"]))


def analyse(
    provider: MetricsProvider, analysis: Analysis, candidate: Series, baseline: Series | Figures
) -> Verdict:
    """Query Prometheus for the candidate (and a live baseline), and judge every check."""
    limits = analysis.thresholds
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
    base = (
        measure(provider, baseline, analysis.rate_window)
        if isinstance(baseline, Series)
        else baseline
    )
    stable_error_rate, stable_p95 = base.error_rate, base.p95_seconds
    checks = [
        traffic,
        _limit("error_rate", error_rate, limits.max_error_rate, "%"),
        _limit("p95_latency", p95, limits.max_p95_seconds, "s"),
        _limit(
            "error_rate_vs_baseline",
            None
            if error_rate is None or stable_error_rate is None
            else error_rate - stable_error_rate,
            limits.max_error_rate_increase,
            "%",
        ),
        _p95_ratio(p95, stable_p95, limits.max_p95_ratio, limits.p95_ratio_floor_seconds),
        _limit("memory", provider.query(canary_q["memory_bytes"]), limits.max_memory_bytes, "B"),
        _limit("cpu", provider.query(canary_q["cpu_cores"]), limits.max_cpu_cores, " cores"),
    ]
    results = {check.result for check in checks}
    verdict: Result = (
        "fail" if "fail" in results else "inconclusive" if "inconclusive" in results else "pass"
    )
    return Verdict(verdict, tuple(checks))
