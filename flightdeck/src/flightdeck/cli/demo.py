"""`flightdeck demo`: one promotion and one automatic rollback on the running local platform.

Steady traffic goes through the ingress while a good version is rolled out (and promoted) and then a
bad one, with an error or latency fault (and rolled back by the analysis). Durations follow the
platform's scrape interval, so the demo takes a few minutes with the default 15 s and well under two
with 1-5 s. The report is an HTML page with charts of canary vs stable and every decision.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from flightdeck import terminal
from flightdeck.cli.canary import drive_with_view
from flightdeck.engine.controller import Controller
from flightdeck.engine.record import RolloutRecord
from flightdeck.engine.spec import RolloutSpec
from flightdeck.errors import ConfigError
from flightdeck.files import write_atomically
from flightdeck.loadgen import LoadGenerator
from flightdeck.report import MetricsSampler, render_report
from flightdeck.targets import local_context, local_target

FAULTS = {"error": {"FAULT_ERROR_RATE": "0.25"}, "latency": {"FAULT_LATENCY_MS": "600"}}


def demo_spec(scrape_seconds: int) -> RolloutSpec:
    """Short holds, with windows long enough for Prometheus' rate() at this scrape interval."""
    window = max(10, 4 * scrape_seconds)
    interval = max(5, scrape_seconds)
    data: dict[str, Any] = {
        "name": "demo",
        "steps": [
            {"weight": 10, "hold": f"{window + interval}s"},
            {"weight": 25, "hold": f"{2 * interval}s"},
            {"weight": 50, "hold": f"{2 * interval}s"},
        ],
        "analysis": {
            "interval": f"{interval}s",
            "window": f"{window}s",
            "min_requests": 10,
            "inconclusive": {"policy": "rollback", "limit": 6},
        },
        "timeouts": {"canary_ready": "60s", "stable_ready": "120s"},
    }
    return RolloutSpec.model_validate(data)


def demo(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", envvar="FLIGHTDECK_CONFIG", help="Platform config file."),
    ] = None,
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
    context = local_context(config)
    spec = demo_spec(context.config.monitoring.scrape_interval_seconds)
    target = local_target(spec, config)
    stable = target.workloads.get("stable")
    if stable is None:
        raise ConfigError("the local platform is not up: run `make up`")
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    report = output or context.run_dir.root / "reports" / f"demo-{stamp}.html"
    ingress = f"https://localhost:{context.config.ports.https}"
    verify = ssl.create_default_context(cafile=str(context.run_dir.tls / "ca.crt"))
    controller = Controller(target)
    records: list[RolloutRecord] = []
    terminal.info(f"traffic: {rate:g} requests/s to {ingress}; report: {report}")
    window = spec.analysis.rate_window.total_seconds()
    with (
        LoadGenerator(ingress, verify, rate=rate) as traffic,
        MetricsSampler(target.metrics, window) as sampler,
    ):
        for label, env in (("good", {}), ("bad", FAULTS[chosen])):
            version = f"{stamp}-{label}"
            terminal.info(f"\nRolling out the {label} version {version} {env or ''}", style="bold")
            controller.start(spec, version, dict(env))
            records.append(drive_with_view(controller, spec.name))
    write_atomically(report, render_report(f"Flightdeck demo {stamp}", records, sampler.samples))
    good, bad = records
    terminal.info(f"\ntraffic: {traffic.total()} requests, outcomes {dict(traffic.outcomes)}")
    (terminal.success if good.phase == "Succeeded" else terminal.error)(
        f"good version {good.version}: {good.phase}"
    )
    (terminal.success if bad.phase == "RolledBack" else terminal.error)(
        f"bad version {bad.version}: {bad.phase} ({bad.reason})"
    )
    terminal.success(f"report written to {report}")
    raise typer.Exit(0 if good.phase == "Succeeded" and bad.phase == "RolledBack" else 1)
