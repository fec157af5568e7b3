"""Assembling a rollout Target from an engine's providers (`--target local|kubernetes`)."""

from __future__ import annotations

import os
import ssl
from functools import partial
from pathlib import Path

from flightdeck.engine.controller import Target
from flightdeck.engine.smoke import run_smoke_tests
from flightdeck.engine.spec import RolloutSpec
from flightdeck.errors import ConfigError
from flightdeck.local.config import load_platform_config
from flightdeck.local.context import LocalContext
from flightdeck.metrics.prometheus import PrometheusProvider
from flightdeck.notify import IncidentSink, incident_sinks
from flightdeck.notify import incidents as _incident_sinks  # noqa: F401  (registers the sinks)
from flightdeck.notify.apprise_notifier import AppriseNotifier
from flightdeck.paths import repo_root
from flightdeck.registry import Registry
from flightdeck.routers.nginx import LocalNginxRouter
from flightdeck.state.file import FileStateStore
from flightdeck.workloads.local import SupervisorWorkloads

targets: Registry[Target] = Registry("target")


def incident_sink(spec: RolloutSpec, local_file: Path) -> IncidentSink:
    """The incident sink the spec names; secrets come from the environment, never the spec."""
    kind = spec.notifications.incidents
    if kind == "github":
        return incident_sinks.create(
            "github",
            spec.notifications.github_repository or "",
            os.environ.get("GITHUB_TOKEN", ""),
            os.environ.get("GITHUB_API_URL", "https://api.github.com"),
        )
    if kind == "pagerduty":
        return incident_sinks.create("pagerduty", os.environ.get("PAGERDUTY_URL", ""))
    return incident_sinks.create("jsonl", local_file)


@targets.register("local")
def local_target(spec: RolloutSpec, config_path: Path | None) -> Target:
    root = config_path.resolve().parent if config_path else repo_root()
    context = LocalContext(load_platform_config(config_path, root))
    config, run_dir = context.config, context.run_dir
    if not (run_dir.state / "tracks.json").exists():
        raise ConfigError(
            f"the local platform is not up (no {run_dir.state / 'tracks.json'}): run `make up`"
        )
    verify = ssl.create_default_context(cafile=str(run_dir.tls / "ca.crt"))
    smoke = partial(
        run_smoke_tests,
        f"https://localhost:{config.ports.https}",
        verify,
        timeout=spec.smoke_tests.timeout.total_seconds(),
        header=config.canary.header,
    )
    return Target(
        router=LocalNginxRouter(context),
        workloads=SupervisorWorkloads(context),
        metrics=PrometheusProvider(f"http://127.0.0.1:{config.ports.prometheus}"),
        state=FileStateStore(run_dir.state / "rollouts"),
        notifier=AppriseNotifier(spec.notifications.urls),
        incidents=incident_sink(spec, run_dir.incidents),
        smoke=smoke,
        metrics_dir=run_dir.metrics,
    )
