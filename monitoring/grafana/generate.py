"""Grafana dashboards as code (grafana-foundation-sdk), written as committed JSON.

    uv run python monitoring/grafana/generate.py            # rewrite dashboards/*.json
    uv run python monitoring/grafana/generate.py --check    # fail if the JSON is stale

Every panel queries the Prometheus chosen by the `datasource` variable, so the same JSON works
in the local platform's Grafana and in the chart's ConfigMaps (Grafana sidecar).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import DataSourceRef
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    Threshold,
    ThresholdsMode,
    VariableRefresh,
)
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef as DashboardDataSourceRef,
)

# The classic (v1) dashboard model is what Grafana's file provisioning and the sidecar load.
warnings.filterwarnings("ignore", category=DeprecationWarning, module="grafana_foundation_sdk")

OUTPUT_DIR = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
BACKEND = 'job="backend", route!~"/health.*|/metrics"'
RATE = "[$__rate_interval]"


def query(expr: str, legend: str = "", ref_id: str = "A") -> prometheus.Dataquery:
    built = prometheus.Dataquery().expr(expr).ref_id(ref_id).datasource(DATASOURCE)
    return built.legend_format(legend) if legend else built


def thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    return (
        dashboard.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=value, color=color) for value, color in steps])
    )


def stat_panel(title: str, expr: str, unit: str, description: str, legend: str = "") -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
        .with_target(query(expr, legend))
        .height(4)
        .span(4)
    )


def graph(
    title: str, unit: str, description: str, *targets: tuple[str, str], span: int = 12
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(8)
        .span(span)
    )
    for index, (expr, legend) in enumerate(targets):
        panel = panel.with_target(query(expr, legend, ref_id=chr(ord("A") + index)))
    return panel


def datasource_variable() -> dashboard.DatasourceVariable:
    return dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")


def label_variable(name: str, label: str, metric: str) -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DashboardDataSourceRef(type_val="prometheus", uid="${datasource}"))
        .query(f"label_values({metric}, {name})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )


def base(uid: str, title: str, tags: list[str]) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .tags(["flightdeck", *tags])
        .editable()
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(datasource_variable())
    )


def with_panels(board: dashboard.Dashboard, panels: list[Any]) -> dashboard.Dashboard:
    """Add the panels in order with stable ids 1..n (Grafana would renumber them otherwise)."""
    for number, panel in enumerate(panels, start=1):
        board = board.with_panel(panel.id(number))
    return board


def p95(selector: str, by: str) -> str:
    return (
        f"histogram_quantile(0.95, sum by ({by}) "
        f"(rate(http_request_duration_seconds_bucket{{{selector}}}{RATE})))"
    )


def application_overview() -> dashboard.Dashboard:
    sel = f'{BACKEND}, track=~"$track"'
    errors = f'{sel}, status=~"5.."'
    board = base("flightdeck-app-overview", "Flightdeck / Application Overview", ["backend"])
    board = board.with_variable(label_variable("track", "Track", "http_requests_total"))
    panels = [
        stat_panel(
            "Request rate",
            f"sum(rate(http_requests_total{{{sel}}}{RATE}))",
            "reqps",
            "API requests per second (probes and scrapes excluded).",
        ),
        stat_panel(
            "5xx ratio",
            f"sum(rate(http_requests_total{{{errors}}}{RATE})) "
            f"/ sum(rate(http_requests_total{{{sel}}}{RATE}))",
            "percentunit",
            "Share of API requests answered with a 5xx. Objective: below 0.1%.",
        ).thresholds(thresholds((None, "green"), (0.001, "red"))),
        stat_panel(
            "P95 latency",
            p95(sel, "le"),
            "s",
            "95th percentile of API request duration. Objective: below 500 ms.",
        ).thresholds(thresholds((None, "green"), (0.5, "red"))),
        stat_panel(
            "Availability (3 days)",
            "1 - job:slo_errors_per_request:ratio_rate3d",
            "percentunit",
            "Share of API requests without a 5xx over 3 days. Objective: 99.99%.",
        ).thresholds(thresholds((None, "red"), (0.9999, "green"))),
        stat_panel(
            "Error budget burn rate (1h)",
            "job:slo_errors_per_request:ratio_rate1h / 0.0001",
            "x",
            "How many times faster than sustainable the 0.01% error budget burns. "
            "Pages at 14.4x (1h/5m) and 6x (6h/30m).",
        ).thresholds(thresholds((None, "green"), (1, "orange"), (6, "red"))),
        stat_panel(
            "Backend targets up",
            'sum(up{job="backend"})',
            "none",
            "Backend processes Prometheus can scrape.",
        ),
        graph(
            "Requests by track and version",
            "reqps",
            "API request rate per deployment track and version.",
            (
                f"sum by (track, version) (rate(http_requests_total{{{sel}}}{RATE}))",
                "{{track}} {{version}}",
            ),
        ),
        graph(
            "Requests by status",
            "reqps",
            "API request rate per HTTP status code.",
            (f"sum by (status) (rate(http_requests_total{{{sel}}}{RATE}))", "{{status}}"),
        ),
        graph(
            "5xx ratio by track and version",
            "percentunit",
            "Share of 5xx answers per track and version.",
            (
                f"sum by (track, version) (rate(http_requests_total{{{errors}}}{RATE})) "
                f"/ sum by (track, version) (rate(http_requests_total{{{sel}}}{RATE}))",
                "{{track}} {{version}}",
            ),
        ),
        graph(
            "Latency quantiles",
            "s",
            "P50, P95 and P99 of API request duration.",
            (p95(sel, "le").replace("0.95", "0.50", 1), "P50"),
            (p95(sel, "le"), "P95"),
            (p95(sel, "le").replace("0.95", "0.99", 1), "P99"),
        ),
        graph(
            "Slowest routes (P95)",
            "s",
            "The ten route templates with the highest P95 latency.",
            (f"topk(10, {p95(sel, 'route, le')})", "{{route}}"),
        ),
        graph(
            "MongoDB operation latency (P95)",
            "s",
            "95th percentile of MongoDB operation duration, per operation and collection.",
            (
                "histogram_quantile(0.95, sum by (operation, collection, le) "
                f'(rate(mongodb_operation_duration_seconds_bucket{{track=~"$track"}}{RATE})))',
                "{{operation}} {{collection}}",
            ),
        ),
    ]
    return with_panels(board, panels)


def canary_vs_stable() -> dashboard.Dashboard:
    tracks = f'{BACKEND}, track=~"stable|canary"'
    errors = f'{tracks}, status=~"5.."'
    board = base("flightdeck-canary-vs-stable", "Flightdeck / Canary vs Stable", ["rollout"])
    board = board.with_variable(label_variable("rollout", "Rollout", "flightdeck_rollout_phase"))
    rollout = 'rollout=~"$rollout"'

    panels = [
        stat_panel(
            "Canary weight",
            f"flightdeck_canary_weight{{{rollout}}}",
            "percent",
            "Share of traffic routed to the canary.",
            "{{rollout}}",
        ),
        stat_panel(
            "Rollout phase",
            f"flightdeck_rollout_phase{{{rollout}}} == 1",
            "none",
            "The rollout's current phase.",
            "{{rollout}}: {{phase}}",
        ),
        stat_panel(
            "Analysis checks",
            f"flightdeck_rollout_check_result{{{rollout}}}",
            "none",
            "Latest result per check: 1 pass, 0 fail, -1 inconclusive (too little data).",
            "{{check}}",
        ).thresholds(thresholds((None, "orange"), (0, "red"), (1, "green"))),
        graph(
            "Request rate by track",
            "reqps",
            "API requests per second served by stable and canary.",
            (f"sum by (track) (rate(http_requests_total{{{tracks}}}{RATE}))", "{{track}}"),
        ),
        graph(
            "5xx ratio by track",
            "percentunit",
            "Rollback when the canary is above 5% or 3 points above stable.",
            (
                f"sum by (track) (rate(http_requests_total{{{errors}}}{RATE})) "
                f"/ sum by (track) (rate(http_requests_total{{{tracks}}}{RATE}))",
                "{{track}}",
            ),
        ),
        graph(
            "P95 latency by track",
            "s",
            "Rollback when the canary's P95 is above 2 s.",
            (p95(tracks, "track, le"), "{{track}}"),
        ),
        graph(
            "Canary / stable P95 ratio",
            "x",
            "Rollback when the canary is more than 1.5x slower than stable.",
            (
                p95(f'{BACKEND}, track="canary"', "le")
                + " / "
                + p95(f'{BACKEND}, track="stable"', "le"),
                "canary / stable",
            ),
        ),
        graph(
            "Canary minus stable 5xx ratio",
            "percentunit",
            "Difference of the 5xx ratios (rollback above 3 points).",
            (
                f'sum(rate(http_requests_total{{{BACKEND}, track="canary", status=~"5.."}}{RATE}))'
                f' / sum(rate(http_requests_total{{{BACKEND}, track="canary"}}{RATE}))'
                f' - sum(rate(http_requests_total{{{BACKEND}, track="stable", status=~"5.."}}'
                f"{RATE}))"
                f' / sum(rate(http_requests_total{{{BACKEND}, track="stable"}}{RATE}))',
                "canary - stable",
            ),
        ),
        graph(
            "Memory by track",
            "bytes",
            "Resident memory of the backend processes per track.",
            (
                'sum by (track) (process_resident_memory_bytes{job="backend", '
                'track=~"stable|canary"})',
                "{{track}}",
            ),
        ),
        graph(
            "CPU by track",
            "percentunit",
            "CPU used by the backend processes per track (1 = one core).",
            (
                'sum by (track) (rate(process_cpu_seconds_total{job="backend", '
                f'track=~"stable|canary"}}{RATE}))',
                "{{track}}",
            ),
        ),
    ]
    return with_panels(board, panels)


def infrastructure() -> dashboard.Dashboard:
    board = base("flightdeck-infrastructure", "Flightdeck / Infrastructure", ["infrastructure"])
    board = board.with_variable(label_variable("instance", "Instance", 'up{job="backend"}'))
    inst = 'job="backend", instance=~"$instance"'
    ratio = (
        "1 - kubelet_volume_stats_available_bytes"
        '{{persistentvolumeclaim=~"{claim}"}} / kubelet_volume_stats_capacity_bytes'
        '{{persistentvolumeclaim=~"{claim}"}}'
    )
    panels = [
        graph(
            "CPU per backend process",
            "percentunit",
            "CPU seconds per second (1 = one core).",
            (f"rate(process_cpu_seconds_total{{{inst}}}{RATE})", "{{instance}}"),
        ),
        graph(
            "Memory per backend process",
            "bytes",
            "Resident memory; the pod limit is 512 MiB.",
            (f"process_resident_memory_bytes{{{inst}}}", "{{instance}}"),
        ),
        graph(
            "Open file descriptors",
            "percentunit",
            "Open file descriptors as a share of the process limit.",
            (
                f"process_open_fds{{{inst}}} / process_max_fds{{{inst}}}",
                "{{instance}}",
            ),
        ),
        graph(
            "Container restarts (1h)",
            "none",
            "Restarts per container over the last hour (crash loops show here first).",
            (
                "sum by (namespace, pod, container) "
                "(increase(kube_pod_container_status_restarts_total[1h]))",
                "{{pod}}/{{container}}",
            ),
        ),
        graph(
            "HPA replicas",
            "none",
            "Current and maximum replicas per HorizontalPodAutoscaler.",
            (
                "kube_horizontalpodautoscaler_status_current_replicas",
                "{{horizontalpodautoscaler}} current",
            ),
            (
                "kube_horizontalpodautoscaler_spec_max_replicas",
                "{{horizontalpodautoscaler}} max",
            ),
        ),
        graph(
            "Volume usage",
            "percentunit",
            "Used share of the MongoDB data and uploads volumes (alerts at 85% and 95%).",
            (ratio.format(claim="mongodb-data-.*"), "{{persistentvolumeclaim}}"),
            (ratio.format(claim=".*-uploads"), "{{persistentvolumeclaim}}"),
        ),
        stat_panel(
            "Last successful backup",
            "time() - flightdeck_backup_last_success_timestamp_seconds",
            "s",
            "Age of the newest successful backup (every 6 hours; alert after 7 hours).",
        ).thresholds(thresholds((None, "green"), (25200, "orange"), (46800, "red"))),
        stat_panel(
            "Certificate expiry",
            "min by (name) (certmanager_certificate_expiration_timestamp_seconds) - time() "
            "or min by (name) (flightdeck_tls_certificate_expiry_timestamp_seconds) - time()",
            "s",
            "Time left before each TLS certificate expires (alert under 21 days).",
            "{{name}}",
        ).thresholds(thresholds((None, "red"), (604800, "orange"), (1814400, "green"))),
    ]
    return with_panels(board, panels)


def delivery() -> dashboard.Dashboard:
    """The delivery KPIs (docs/kpis.md): flightdeck computes them from its delivery history and
    exports them on /metrics (job flightdeck): the 30-day figures as gauges, and counters and
    histograms over the whole history for the trends."""
    board = base("flightdeck-delivery", "Flightdeck / Delivery", ["delivery", "dora"])
    board = board.time("now-30d", "now").refresh("5m")

    def kpi(name: str) -> str:
        return f'flightdeck_delivery_kpi{{kpi="{name}"}}'

    def quantile(q: str, histogram: str, window: str = "7d") -> str:
        return (
            f"histogram_quantile({q}, sum by (le) "
            f"(increase(flightdeck_delivery_{histogram}_bucket[{window}])))"
        )

    errors = (
        f'(sum(increase(http_requests_total{{{BACKEND}, status=~"5.."}}[$__range])) or vector(0))'
    )
    requests = f"sum(increase(http_requests_total{{{BACKEND}}}[$__range]))"
    panels = [
        stat_panel(
            "Deployments per week (30 days)",
            kpi("deployment_frequency_per_week"),
            "none",
            "Promoted rollouts per week over the last 30 days. Target: 10-20 per week; DORA "
            "elite: daily or more.",
        ).thresholds(thresholds((None, "red"), (10, "green"))),
        stat_panel(
            "Lead time for changes (median, 30 days)",
            kpi("lead_time"),
            "s",
            "Commit time to production (the promotion), median over the deployments of the last "
            "30 days. DORA elite: under a day.",
        ).thresholds(thresholds((None, "green"), (86400, "red"))),
        stat_panel(
            "Change failure rate (30 days)",
            kpi("change_failure_rate"),
            "percentunit",
            "Production changes rolled back after taking traffic or causing an incident, over "
            "all production changes. Target: below 1%; DORA elite: 5% or less.",
        ).thresholds(thresholds((None, "green"), (0.01, "red"))),
        stat_panel(
            "MTTD (mean, 30 days)",
            kpi("mttd"),
            "s",
            "From a bad change taking traffic (or an incident's start) to the rollback decision "
            "or the first alert. Target: below 5 minutes.",
        ).thresholds(thresholds((None, "green"), (300, "red"))),
        stat_panel(
            "MTTR (mean, 30 days)",
            kpi("mttr"),
            "s",
            "From the failure's start to the service healthy again. Target: below 15 minutes; "
            "DORA elite: under an hour.",
        ).thresholds(thresholds((None, "green"), (900, "red"))),
        stat_panel(
            "Rollback time (longest, 30 days)",
            kpi("rollback_time"),
            "s",
            "From the decision to roll back to all traffic on the good version. Target: below "
            "5 minutes.",
        ).thresholds(thresholds((None, "green"), (300, "red"))),
        stat_panel(
            "Deployment time (median, 30 days)",
            kpi("deployment_time"),
            "s",
            "From the pipeline's start (or the rollout's) to production. Target: 15-20 minutes.",
        ).thresholds(thresholds((None, "green"), (1201, "red"))),
        stat_panel(
            "Availability (dashboard range)",
            f"1 - {errors} / {requests}",
            "percentunit",
            "API requests answered without a 5xx over the dashboard's time range (the SLO). "
            "Target: 99.99%.",
        ).thresholds(thresholds((None, "red"), (0.9999, "green"))),
        stat_panel(
            "Targets met",
            "flightdeck_delivery_kpi_target_met",
            "none",
            "Per delivery KPI of the last 30 days: 1 when it meets the architecture's target.",
            "{{kpi}}",
        ).thresholds(thresholds((None, "red"), (1, "green"))),
        graph(
            "Rollouts per day by outcome",
            "none",
            "Rollouts that ended in the preceding 24 hours: succeeded (deployments), rolled back, "
            "aborted.",
            ("sum by (outcome) (increase(flightdeck_delivery_rollouts_total[1d]))", "{{outcome}}"),
        ),
        graph(
            "Change failure rate (7 days)",
            "percentunit",
            "Failed production changes over production changes, in the preceding 7 days.",
            (
                "sum(increase(flightdeck_delivery_change_failures_total[7d])) "
                "/ sum(increase(flightdeck_delivery_changes_total[7d]))",
                "change failure rate",
            ),
        ),
        graph(
            "Detect, restore and roll back (P95, 7 days)",
            "s",
            "95th percentile over the failures and rollbacks of the preceding 7 days.",
            (quantile("0.95", "detection_time_seconds"), "time to detect"),
            (quantile("0.95", "restore_time_seconds"), "time to restore"),
            (quantile("0.95", "rollback_time_seconds"), "rollback time"),
        ),
        graph(
            "Lead time and deployment time (median, 7 days)",
            "s",
            "Median over the deployments of the preceding 7 days.",
            (quantile("0.5", "lead_time_seconds"), "lead time"),
            (quantile("0.5", "deployment_time_seconds"), "deployment time"),
        ),
    ]
    return with_panels(board, panels)


DASHBOARDS: dict[str, Callable[[], dashboard.Dashboard]] = {
    "application-overview": application_overview,
    "canary-vs-stable": canary_vs_stable,
    "infrastructure": infrastructure,
    "delivery": delivery,
}


def render(build: Callable[[], dashboard.Dashboard]) -> str:
    return json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR, help="output directory")
    parser.add_argument(
        "--check", action="store_true", help="compare with the files instead of writing them"
    )
    args = parser.parse_args(argv)
    stale = []
    for name, build in DASHBOARDS.items():
        path = args.output / f"{name}.json"
        text = render(build)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
        else:
            args.output.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("stale dashboards (run monitoring/grafana/generate.py):", *stale, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
