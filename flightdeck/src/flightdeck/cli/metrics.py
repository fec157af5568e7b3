"""`flightdeck metrics serve`: backup and rollout metrics for Prometheus, without a Pushgateway.

In a cluster the chart runs it as the `<fullname>-metrics` Deployment (a ServiceMonitor scrapes
it): the backup CronJob writes backup.prom to a volume the Deployment mounts too, and the
rollout metrics are computed from the rollout ConfigMaps at each scrape (docs/kubernetes.md).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from flightdeck.cli.options import ConfigOption, TargetOption
from flightdeck.core import terminal
from flightdeck.core.errors import ConfigError
from flightdeck.engines import rollout_state
from flightdeck.metrics.endpoint import MetricsEndpoint, MetricsServer, Source
from flightdeck.rollout.controller import utc_now
from flightdeck.rollout.exporter import RolloutRecordsCollector

app = typer.Typer(help="Metrics for Prometheus: backups and rollouts.")


def _host(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an IP address (e.g. 0.0.0.0)") from None


@app.command()
def serve(
    directories: Annotated[
        list[Path] | None,
        typer.Option(
            "--dir",
            help="Serve every *.prom file of this directory (e.g. FLIGHTDECK_BACKUP_METRICS_DIR); "
            "repeatable.",
            file_okay=False,
        ),
    ] = None,
    rollouts: Annotated[
        bool,
        typer.Option(help="Serve the rollout metrics, computed from the target's rollout records."),
    ] = True,
    target: TargetOption = "local",
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.", callback=_host)] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 9108,
) -> None:
    """Serve the metrics on http://HOST:PORT/metrics until stopped."""
    sources: dict[str, Source] = {}
    if rollouts:
        sources["rollouts"] = RolloutRecordsCollector(
            rollout_state(target, config), utc_now
        ).collect
    endpoint = MetricsEndpoint(directories or [], sources)
    try:
        server = MetricsServer((host, port), endpoint)
    except OSError as exc:
        raise ConfigError(f"--host {host} --port {port}: cannot listen: {exc.strerror}") from None
    shown = ", ".join([*(str(d) for d in directories or []), *sources]) or "nothing"
    terminal.info(f"serving metrics of {shown} on http://{host}:{port}/metrics")
    with server:
        server.serve_forever()
