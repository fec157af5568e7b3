"""`flightdeck demo`: both strategies, each promoting a good version and rolling back a bad one.

Steady traffic goes through the ingress while four versions are rolled out on the running local
platform: a good canary (promoted), a bad canary (rolled back by the analysis), a good blue-green
rollout (switched) and a bad one (switched back by the monitor). Durations follow the platform's
scrape interval: a few minutes with the default 15 s, less with 1-5 s. The report is an HTML page
with charts of the new version against the serving one and every decision.

Every rollout goes to the delivery history like any other, with the checkout's HEAD as the commit
the versions were built from (for lead time), so `flightdeck kpi` shows real numbers afterwards;
the demo ends with the KPIs of its own window, also in the report.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

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

# A fault that the smoke tests cannot see (every request succeeds, just late) and the analysis
# can: the rollback is the analysis's decision. FAULT_ERROR_RATE failures are often caught by
# one of the five smoke requests already, before any analysis runs.
FAULTS = {"latency": {"FAULT_LATENCY_MS": "400"}, "error": {"FAULT_ERROR_RATE": "0.25"}}


def demo_specs(scrape_seconds: int) -> dict[str, RolloutSpec]:
    """Short holds, with windows long enough for Prometheus' rate() at this scrape interval."""
    window = max(10, 4 * scrape_seconds)
    interval = max(5, scrape_seconds)
    common: dict[str, Any] = {
        "name": "demo",
        "analysis": {
            # Holds of a few intervals at a few requests a second: the sequential judge would
            # often need longer than the hold to pass a good canary (docs/canary.md, "When to
            # pick which"); the demo shows fixed timings, so it uses the threshold judge.
            "judge": "threshold",
            "interval": f"{interval}s",
            "window": f"{window}s",
            "min_requests": 10,
            "inconclusive": {"policy": "rollback", "limit": 6},
        },
        "timeouts": {"candidate_ready": "60s", "baseline_ready": "120s"},
    }
    canary = {
        "type": "canary",
        "steps": [
            {"weight": 10, "hold": f"{window + interval}s"},
            {"weight": 25, "hold": f"{2 * interval}s"},
            {"weight": 50, "hold": f"{2 * interval}s"},
        ],
    }
    bluegreen = {"type": "bluegreen", "monitor": f"{window + 2 * interval}s"}
    return {
        name: RolloutSpec.model_validate({**common, "strategy": strategy})
        for name, strategy in (("canary", canary), ("bluegreen", bluegreen))
    }


# (strategy, label, fault?) in the order the demo runs them, and the outcome each must reach.
ROLLOUTS = (
    ("canary", "good", False, "Succeeded"),
    ("canary", "bad", True, "RolledBack"),
    ("bluegreen", "good", False, "Succeeded"),
    ("bluegreen", "bad", True, "RolledBack"),
)


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
        str,
        typer.Option(
            help="The bad versions' fault: latency (+400 ms, seen only by the analysis) or "
            "error (25% 500s, often caught by the smoke tests first)."
        ),
    ] = "latency",
    rate: Annotated[
        float,
        typer.Option(min=1, max=1000, help="Requests per second (stay under the rate limit)."),
    ] = 15,
    output: Annotated[Path | None, typer.Option(help="Where to write the HTML report.")] = None,
) -> None:
    """Four rollouts under traffic, and an HTML report of each.

    A good canary (promoted), a bad canary (rolled back by the analysis), a good blue-green
    rollout (switched) and a bad one (switched back by the monitor after the switch).
    """
    if fault not in FAULTS:
        raise ConfigError(f"--fault {fault!r}: choose one of {', '.join(FAULTS)}")
    context = load_local_context(config)
    specs = demo_specs(context.config.monitoring.scrape_interval_seconds)
    target = local_target(config)
    began = datetime.now(UTC)
    stamp = began.strftime("%Y%m%d%H%M%S")
    report = output or context.run_dir.root / "reports" / f"demo-{stamp}.html"
    ingress = f"https://localhost:{context.config.ports.https}"
    verify = ssl.create_default_context(cafile=str(context.run_dir.tls / "ca.crt"))
    controller = Controller(target)
    records: list[RolloutRecord] = []
    terminal.info(f"traffic: {rate:g} requests/s to {ingress}; report: {report}")
    window = specs["canary"].analysis.rate_window.total_seconds()
    versions = [f"{stamp}-{strategy}-{label}" for strategy, label, _, _ in ROLLOUTS]
    if target.history is not None:
        record_checkout_commit(target.history, versions)
    with (
        LoadGenerator(ingress, verify, rate=rate) as traffic,
        MetricsSampler(target.metrics, window) as sampler,
    ):
        for version, (strategy, label, faulty, _) in zip(versions, ROLLOUTS, strict=True):
            env = FAULTS[fault] if faulty else {}
            terminal.info(
                f"\n{strategy}: rolling out the {label} version {version} {env or ''}", style="bold"
            )
            controller.start(specs[strategy], version, dict(env))
            records.append(drive_with_view(controller, "demo"))
    kpis = demo_kpis(target, began)
    write_atomically(
        report, render_report(f"Flightdeck demo {stamp}", records, sampler.samples, kpis)
    )
    if kpis is not None:
        terminal.info("")
        render_kpis(kpis)
        terminal.info("`flightdeck kpi` shows them over the last 30 days (docs/kpis.md).")
    terminal.info(
        f"\ntraffic: {traffic.total()} requests, outcomes {dict(traffic.outcomes)} "
        f"({traffic.reconnects} resent after a reload closed their keep-alive connection)"
    )
    as_expected = True
    for record, (strategy, label, _, expected) in zip(records, ROLLOUTS, strict=True):
        ok = record.phase == expected
        as_expected &= ok
        reason = f" ({record.reason})" if record.reason else ""
        (terminal.success if ok else terminal.error)(
            f"{strategy} {label} version {record.version}: {record.phase}{reason}"
        )
    terminal.success(f"report written to {report}")
    raise typer.Exit(0 if as_expected else 1)
