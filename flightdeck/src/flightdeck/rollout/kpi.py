"""The delivery KPIs as people see them: each with its value, the architecture's target, pass or
fail, and its DORA performance level; plus the Prometheus metrics the Delivery dashboard reads.

The delivery figures come from the history (`flightdeck.history.kpis`); availability, P95 and
error rate come from Prometheus over the same window, with the SLO's definition (API requests,
probes and scrapes excluded). docs/kpis.md defines every KPI, its formula and its target.

DORA levels follow the 2023 Accelerate State of DevOps report (elite, high, medium, low), with
its bands turned into thresholds; they apply to the four DORA keys only (deployment frequency,
lead time, change failure rate, time to restore). The other KPIs are the architecture's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from flightdeck.core.errors import FlightdeckError
from flightdeck.history import HistoryEntry, HistoryStore
from flightdeck.history.kpis import DeliveryFigures, Point, delivery_figures
from flightdeck.metrics import MetricsProvider

Unit = Literal["per_week", "per_day", "seconds", "ratio"]
Level = Literal["elite", "high", "medium", "low"]
DEFAULT_WINDOW = timedelta(days=30)
HOUR, DAY = 3600.0, 86400.0
SLO_SELECTOR = 'job="backend", route!~"/health.*|/metrics"'
"""The SLO's requests (monitoring/prometheus/rules/slo.yaml): API traffic, not probes or scrapes."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STRATEGIES = ("canary", "bluegreen")
OUTCOMES = {"Succeeded": "succeeded", "RolledBack": "rolled_back", "Aborted": "aborted"}
DURATION_BUCKETS = (
    30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1200.0, 1800.0, HOUR, 4 * HOUR, DAY, 7 * DAY, 30 * DAY
)  # fmt: skip


def _frequency_level(per_day: float) -> Level:
    # Elite: on demand (at least daily); high: daily to weekly; medium: weekly to monthly.
    if per_day >= 1:
        return "elite"
    if per_day >= 1 / 7:
        return "high"
    if per_day >= 1 / 30:
        return "medium"
    return "low"


def _lead_time_level(seconds: float) -> Level:
    if seconds < DAY:
        return "elite"
    if seconds < 7 * DAY:
        return "high"
    if seconds < 30 * DAY:
        return "medium"
    return "low"


def _failure_rate_level(ratio: float) -> Level:
    if ratio <= 0.05:
        return "elite"
    if ratio <= 0.10:
        return "high"
    if ratio <= 0.15:
        return "medium"
    return "low"


def _restore_level(seconds: float) -> Level:
    if seconds < HOUR:
        return "elite"
    if seconds < DAY:
        return "high"
    if seconds < 7 * DAY:
        return "medium"
    return "low"


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    unit: Unit
    statistic: str
    target: str
    meets: Callable[[float], bool]
    dora: Callable[[float], Level] | None = None
    source: Literal["history", "prometheus"] = "history"


KPIS: tuple[Kpi, ...] = (
    Kpi("deployment_frequency_per_week", "Deployment frequency (per week)", "per_week",
        "count / weeks", "10-20 per week", lambda v: v >= 10, lambda v: _frequency_level(v / 7)),
    Kpi("deployment_frequency_per_day", "Deployment frequency (per day)", "per_day",
        "count / days", "1.4-2.9 per day", lambda v: v >= 10 / 7, _frequency_level),
    Kpi("lead_time", "Lead time for changes (median)", "seconds", "median",
        "< 1 day (DORA elite)", lambda v: v < DAY, _lead_time_level),
    Kpi("change_failure_rate", "Change failure rate", "ratio", "failed / changes",
        "< 1%", lambda v: v < 0.01, _failure_rate_level),
    Kpi("mttd", "MTTD, time to detect (mean)", "seconds", "mean", "< 5 min", lambda v: v < 300),
    Kpi("mttr", "MTTR, time to restore (mean)", "seconds", "mean", "< 15 min", lambda v: v < 900,
        _restore_level),
    Kpi("rollback_time", "Rollback time (longest)", "seconds", "longest", "< 5 min",
        lambda v: v < 300),
    Kpi("deployment_time", "Deployment time (median)", "seconds", "median", "15-20 min",
        lambda v: v <= 1200),
    Kpi("availability", "Availability (SLO)", "ratio", "API requests without a 5xx", ">= 99.99%",
        lambda v: v >= 0.9999, source="prometheus"),
    Kpi("p95_latency", "P95 latency", "seconds", "P95 of API requests", "< 500 ms",
        lambda v: v < 0.5, source="prometheus"),
    Kpi("error_rate", "Error rate", "ratio", "5xx share of API requests", "< 0.1%",
        lambda v: v < 0.001, source="prometheus"),
)  # fmt: skip
KPI_KEYS = tuple(kpi.key for kpi in KPIS)


def slo_queries(window: timedelta) -> dict[str, str]:
    """PromQL for availability, P95 and error rate over the window ending now."""
    w = f"[{max(60, int(window.total_seconds()))}s]"
    requests = f"sum(increase(http_requests_total{{{SLO_SELECTOR}}}{w}))"
    # No 5xx series means no errors, provided there were requests (the denominator).
    errors = (
        f'(sum(increase(http_requests_total{{{SLO_SELECTOR}, status=~"5.."}}{w})) or vector(0))'
    )
    buckets = f"http_request_duration_seconds_bucket{{{SLO_SELECTOR}}}"
    return {
        "availability": f"1 - {errors} / {requests}",
        "p95_latency": f"histogram_quantile(0.95, sum by (le) (increase({buckets}{w})))",
        "error_rate": f"{errors} / {requests}",
    }


def format_value(value: float | None, unit: Unit, key: str = "") -> str:
    if value is None:
        return "no data"
    if unit == "per_week":
        return f"{value:.2f} per week"
    if unit == "per_day":
        return f"{value:.2f} per day"
    if unit == "ratio":
        return f"{100 * value:.4f}%" if key == "availability" else f"{100 * value:.2f}%"
    return format_seconds(value)


def format_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * HOUR:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * DAY:
        return f"{seconds / HOUR:.1f} h"
    return f"{seconds / DAY:.1f} days"


@dataclass(frozen=True)
class KpiResult:
    kpi: Kpi
    value: float | None
    samples: int | None
    note: str = ""

    @property
    def met(self) -> bool | None:
        return None if self.value is None else self.kpi.meets(self.value)

    @property
    def level(self) -> str:
        if self.kpi.dora is None:
            return "n/a (not DORA)"
        return "no data" if self.value is None else self.kpi.dora(self.value)

    @property
    def display(self) -> str:
        return format_value(self.value, self.kpi.unit, self.kpi.key)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.kpi.key,
            "label": self.kpi.label,
            "value": self.value,
            "unit": self.kpi.unit,
            "statistic": self.kpi.statistic,
            "display": self.display,
            "target": self.kpi.target,
            "met": self.met,
            "dora_level": self.level if self.kpi.dora else None,
            "samples": self.samples,
            "source": self.kpi.source,
            "note": self.note,
        }


@dataclass(frozen=True)
class KpiReport:
    figures: DeliveryFigures
    results: tuple[KpiResult, ...]

    def result(self, key: str) -> KpiResult:
        return next(result for result in self.results if result.kpi.key == key)

    def as_dict(self) -> dict[str, Any]:
        figures = self.figures
        return {
            "window": {
                "since": figures.since.isoformat(),
                "until": figures.until.isoformat(),
                "days": round(figures.days, 6),
            },
            "history_since": figures.history_since.isoformat() if figures.history_since else None,
            "kpis": [result.as_dict() for result in self.results],
            "counts": counts(figures),
            "deployments": [
                {"rollout": d.key, "version": d.version, "promoted_at": _iso(d.promoted_at)}
                for d in figures.deployments
            ],
            "failures": [
                {
                    "subject": f.subject,
                    "started_at": _iso(f.started_at),
                    "detected_at": _iso(f.detected_at),
                    "detected_by": f.how_detected,
                    "restored_at": _iso(f.restored_at),
                    "change": f.change.version if f.change else None,
                }
                for f in figures.failures
            ],
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def counts(figures: DeliveryFigures) -> dict[str, int]:
    return {
        "rollouts_started": len(figures.rollouts),
        "production_changes": len(figures.changes),
        "deployments": len(figures.deployments),
        "failed_changes": len(figures.failed_changes),
        "rollbacks_before_traffic": len(figures.rollbacks_before_traffic),
        "failures": len(figures.failures),
        "incidents": len(figures.incidents),
        "open_incidents": sum(1 for i in figures.incidents if i.resolved_at is None),
    }


def history_results(figures: DeliveryFigures) -> dict[str, KpiResult]:
    by_key = {kpi.key: kpi for kpi in KPIS}

    def result(key: str, value: float | None, samples: list[Point] | int, note: str = "") -> None:
        count = samples if isinstance(samples, int) else len(samples)
        results[key] = KpiResult(by_key[key], value, count, note)

    results: dict[str, KpiResult] = {}
    deployments = len(figures.deployments)
    result("deployment_frequency_per_week", figures.deployments_per_week, deployments)
    result("deployment_frequency_per_day", figures.deployments_per_day, deployments)
    result(
        "lead_time",
        figures.lead_time,
        figures.lead_times,
        "" if figures.lead_times or not deployments else "no commit time recorded for them",
    )
    result("change_failure_rate", figures.change_failure_rate, len(figures.changes))
    result("mttd", figures.mttd, figures.detection_times)
    result("mttr", figures.mttr, figures.restore_times)
    result("rollback_time", figures.rollback_time, figures.rollback_times)
    sources = figures.deployment_time_sources
    result(
        "deployment_time",
        figures.deployment_time,
        figures.deployment_times,
        f"from the pipeline's start: {sources['pipeline']}, from the rollout's start: "
        f"{sources['rollout']}"
        if figures.deployment_times
        else "",
    )
    return results


def prometheus_results(metrics: MetricsProvider | None, window: timedelta) -> dict[str, KpiResult]:
    by_key = {kpi.key: kpi for kpi in KPIS}
    results: dict[str, KpiResult] = {}
    for key, query in slo_queries(window).items():
        if metrics is None:
            results[key] = KpiResult(by_key[key], None, None, "no Prometheus for this engine")
            continue
        try:
            value = metrics.query(query)
        except FlightdeckError as exc:
            results[key] = KpiResult(by_key[key], None, None, f"Prometheus: {exc}")
            continue
        results[key] = KpiResult(
            by_key[key], value, None, "" if value is not None else "no requests"
        )
    return results


def kpi_report(
    entries: Iterable[HistoryEntry],
    metrics: MetricsProvider | None,
    since: datetime,
    until: datetime,
) -> KpiReport:
    figures = delivery_figures(entries, since, until)
    results = history_results(figures) | prometheus_results(metrics, until - since)
    return KpiReport(figures, tuple(results[key] for key in KPI_KEYS))


# -- Prometheus metrics for the Delivery dashboard -------------------------------------------------


def _histogram(name: str, documentation: str, points: Sequence[Point]) -> HistogramMetricFamily:
    cumulative, values = [], sorted(p.seconds for p in points)
    for bound in DURATION_BUCKETS:
        cumulative.append((repr(bound), float(sum(1 for v in values if v <= bound))))
    cumulative.append(("+Inf", float(len(values))))
    return HistogramMetricFamily(
        name, documentation, buckets=cumulative, sum_value=float(sum(values))
    )


class DeliveryCollector(Collector):
    """Totals over the whole history (counters, histograms) and the KPIs of the default window."""

    def __init__(self, entries: list[HistoryEntry], now: datetime) -> None:
        self.everything = delivery_figures(entries, EPOCH, now + timedelta(seconds=1))
        self.window = history_results(delivery_figures(entries, now - DEFAULT_WINDOW, now))
        self.now = now

    def collect(self) -> Iterable[Metric]:
        figures = self.everything
        finished = CounterMetricFamily(
            "flightdeck_delivery_rollouts",
            "Rollouts that ended, by strategy and outcome",
            labels=["strategy", "outcome"],
        )
        strategies = sorted(set(STRATEGIES) | {r.strategy for r in figures.rollouts if r.strategy})
        for strategy in strategies:
            for phase, outcome in OUTCOMES.items():
                count = sum(
                    1 for r in figures.rollouts if r.strategy == strategy and r.outcome == phase
                )
                finished.add_metric([strategy, outcome], count)
        yield finished
        for name, documentation, value in (
            ("deployments", "Production deployments (promoted rollouts)", len(figures.deployments)),
            ("changes", "Production changes (rollouts whose new version took traffic)",
             len(figures.changes)),
            ("change_failures", "Production changes rolled back or causing an incident",
             len(figures.failed_changes)),
            ("incidents", "Incidents (recorded, or critical alerts of user-facing services)",
             len(figures.incidents)),
        ):  # fmt: skip
            yield CounterMetricFamily(f"flightdeck_delivery_{name}", documentation, value=value)
        for name, documentation, points in (
            ("lead_time_seconds", "Commit to production, per deployment", figures.lead_times),
            ("deployment_time_seconds", "Pipeline (or rollout) start to production",
             figures.deployment_times),
            ("detection_time_seconds", "Failure start to detection (MTTD)",
             figures.detection_times),
            ("restore_time_seconds", "Failure start to service healthy again (MTTR)",
             figures.restore_times),
            ("rollback_time_seconds", "Rollback decision to traffic back on the good version",
             figures.rollback_times),
        ):  # fmt: skip
            yield _histogram(f"flightdeck_delivery_{name}", documentation, points)
        kpi = GaugeMetricFamily(
            "flightdeck_delivery_kpi",
            f"Delivery KPIs over the last {DEFAULT_WINDOW.days} days (absent: no data)",
            labels=["kpi", "unit"],
        )
        met = GaugeMetricFamily(
            "flightdeck_delivery_kpi_target_met",
            "1 when the KPI meets the architecture's target, 0 when not (absent: no data)",
            labels=["kpi"],
        )
        for result in self.window.values():
            if result.value is not None:
                kpi.add_metric([result.kpi.key, result.kpi.unit], result.value)
                met.add_metric([result.kpi.key], 1.0 if result.met else 0.0)
        yield kpi
        yield met
        yield GaugeMetricFamily(
            "flightdeck_delivery_kpi_computed_timestamp_seconds",
            "When the delivery metrics were last computed from the history",
            value=self.now.timestamp(),
        )


def write_delivery_metrics(entries: list[HistoryEntry], directory: Path, now: datetime) -> Path:
    registry = CollectorRegistry()
    registry.register(DeliveryCollector(entries, now))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "delivery.prom"
    write_to_textfile(str(path), registry)
    return path


def refresh_delivery_metrics(store: HistoryStore, directory: Path) -> Path:
    """Rewrite `delivery.prom` from the whole history (raises what the store raises)."""
    return write_delivery_metrics(store.read(), directory, datetime.now(UTC))
