"""`flightdeck demo`: one promotion and one automatic rollback on the running local platform.

Steady traffic goes through the ingress while a good version is rolled out (and promoted) and then a
bad one, with an error or latency fault (and rolled back by the analysis). Durations follow the
platform's scrape interval, so the demo takes a few minutes with the default 15 s and well under two
with 1-5 s. The report is an HTML page with charts of canary vs stable and every decision.

Both rollouts go to the delivery history like any other, with the checkout's HEAD as the commit
both versions were built from (for lead time), so `flightdeck kpi` shows real numbers afterwards;
the demo ends with the KPIs of its own window, also in the report.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from flightdeck.cli.kpi import render_kpis
from flightdeck.cli.options import ConfigOption
from flightdeck.cli.rollout import drive_with_view
from flightdeck.core import terminal
from flightdeck.core.errors import ConfigError, FlightdeckError
from flightdeck.core.files import write_atomically
from flightdeck.core.git import commit_time, head_commit
from flightdeck.core.loadgen import LoadGenerator
from flightdeck.core.paths import checkout_root
from flightdeck.engines.local import local_target
from flightdeck.history import HistoryStore, record_change
from flightdeck.local.context import load_local_context
from flightdeck.rollout.controller import Controller
from flightdeck.rollout.kpi import KpiReport, kpi_report
from flightdeck.rollout.record import RolloutRecord
from flightdeck.rollout.report import MetricsSampler, render_report
from flightdeck.rollout.spec import RolloutSpec
from flightdeck.rollout.target import Target

FAULTS = {"error": {"FAULT_ERROR_RATE": "0.25"}, "latency": {"FAULT_LATENCY_MS": "600"}}


def demo_spec(scrape_seconds: int) -> RolloutSpec:
    """Short holds, with windows long enough for Prometheus' rate() at this scrape interval."""
    window = max(10, 4 * scrape_seconds)
    interval = max(5, scrape_seconds)
    data: dict[str, Any] = {
        "name": "demo",
        "strategy": {
            "type": "canary",
            "steps": [
                {"weight": 10, "hold": f"{window + interval}s"},
                {"weight": 25, "hold": f"{2 * interval}s"},
                {"weight": 50, "hold": f"{2 * interval}s"},
            ],
        },
        "analysis": {
            "interval": f"{interval}s",
            "window": f"{window}s",
            "min_requests": 10,
            "inconclusive": {"policy": "rollback", "limit": 6},
        },
        "timeouts": {"candidate_ready": "60s", "baseline_ready": "120s"},
    }
    return RolloutSpec.model_validate(data)


def record_checkout_commit(history: HistoryStore, versions: list[str]) -> None:
    """The demo's versions are built from the checkout: its HEAD is their commit (lead time)."""
    root = checkout_root()
    head = head_commit(root) if root else None
    when = commit_time(head, root) if head and root else None
    if head is None or when is None or root is None:
        terminal.info("no git checkout here: the demo's lead time will be 'no data'", style="dim")
        return
    try:
        for version in versions:
            record_change(history, version, head, when, source="git")
    except FlightdeckError as exc:
        terminal.warning(f"the demo's commit is not in the delivery history: {exc}")


def demo_kpis(target: Target, began: datetime) -> KpiReport | None:
    """The delivery KPIs of the demo's own window (None if the history cannot be read)."""
    if target.history is None:
        return None
    try:
        entries = target.history.read()
    except FlightdeckError as exc:
        terminal.warning(f"the delivery history cannot be read: {exc}")
        return None
    return kpi_report(entries, target.metrics, began, datetime.now(UTC))


def demo(
    config: ConfigOption = None,
    fault: Annotated[
        str, typer.Option(help="The bad version's fault: error (25% 500s) or latency (+600 ms).")
    ] = "error",
    rate: Annotated[
        float,
        typer.Option(min=1, max=1000, help="Requests per second (stay under the rate limit)."),
    ] = 15,
    output: Annotated[Path | None, typer.Option(help="Where to write the HTML report.")] = None,
) -> None:
    """Roll out a good version (promoted) and a bad one (rolled back), and write a report."""
    if fault not in FAULTS:
        raise ConfigError(f"--fault {fault!r}: choose one of {', '.join(FAULTS)}")
    chosen: Literal["error", "latency"] = "error" if fault == "error" else "latency"
    context = load_local_context(config)
    spec = demo_spec(context.config.monitoring.scrape_interval_seconds)
    target = local_target(config)
    stable = target.workloads.get("stable")
    if stable is None:
        raise ConfigError("the local platform is not up: run `make up`")
    began = datetime.now(UTC)
    stamp = began.strftime("%Y%m%d%H%M%S")
    report = output or context.run_dir.root / "reports" / f"demo-{stamp}.html"
    ingress = f"https://localhost:{context.config.ports.https}"
    verify = ssl.create_default_context(cafile=str(context.run_dir.tls / "ca.crt"))
    controller = Controller(target)
    records: list[RolloutRecord] = []
    terminal.info(f"traffic: {rate:g} requests/s to {ingress}; report: {report}")
    window = spec.analysis.rate_window.total_seconds()
    if target.history is not None:
        record_checkout_commit(target.history, [f"{stamp}-good", f"{stamp}-bad"])
    with (
        LoadGenerator(ingress, verify, rate=rate) as traffic,
        MetricsSampler(target.metrics, window) as sampler,
    ):
        for label, env in (("good", {}), ("bad", FAULTS[chosen])):
            version = f"{stamp}-{label}"
            terminal.info(f"\nRolling out the {label} version {version} {env or ''}", style="bold")
            controller.start(spec, version, dict(env))
            records.append(drive_with_view(controller, spec.name))
    kpis = demo_kpis(target, began)
    write_atomically(
        report, render_report(f"Flightdeck demo {stamp}", records, sampler.samples, kpis)
    )
    good, bad = records
    if kpis is not None:
        terminal.info("")
        render_kpis(kpis)
        terminal.info("`flightdeck kpi` shows them over the last 30 days (docs/kpis.md).")
    terminal.info(f"\ntraffic: {traffic.total()} requests, outcomes {dict(traffic.outcomes)}")
    (terminal.success if good.phase == "Succeeded" else terminal.error)(
        f"good version {good.version}: {good.phase}"
    )
    (terminal.success if bad.phase == "RolledBack" else terminal.error)(
        f"bad version {bad.version}: {bad.phase} ({bad.reason})"
    )
    terminal.success(f"report written to {report}")
    raise typer.Exit(0 if good.phase == "Succeeded" and bad.phase == "RolledBack" else 1)
