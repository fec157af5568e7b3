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
from flightdeck.local.ingress import SMOKE_TOKEN_HEADER, smoke_token
from flightdeck.metrics.prometheus import PrometheusProvider
from flightdeck.notify import IncidentSink, incident_sinks
from flightdeck.notify import incidents as _incident_sinks  # noqa: F401  (registers the sinks)
from flightdeck.notify.apprise_notifier import AppriseNotifier
from flightdeck.paths import repo_root
from flightdeck.registry import Registry
from flightdeck.routers import TrafficRouter
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


def local_context(config_path: Path | None) -> LocalContext:
    root = config_path.resolve().parent if config_path else repo_root()
    return LocalContext(load_platform_config(config_path, root))


@targets.register("local")
def local_target(spec: RolloutSpec, config_path: Path | None) -> Target:
    context = local_context(config_path)
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
        extra_headers={SMOKE_TOKEN_HEADER: smoke_token(context)},
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


@targets.register("kubernetes")
def kubernetes_target(spec: RolloutSpec, config_path: Path | None) -> Target:
    """The chart's objects in a cluster; settings from FLIGHTDECK_* (see docs/kubernetes.md)."""
    # Imported here: the kubernetes client takes a while to import and `--target local` never
    # needs it.
    from flightdeck.kubernetes.api import KubeApi
    from flightdeck.kubernetes.routers import GatewayApiRouter, IngressNginxRouter
    from flightdeck.kubernetes.settings import connect, load_kubernetes_settings
    from flightdeck.kubernetes.state import ConfigMapStateStore
    from flightdeck.kubernetes.workloads import DeploymentWorkloads

    settings = load_kubernetes_settings()
    api = KubeApi(connect(settings.kube_context), settings.namespace)
    fullname = settings.chart_fullname
    router: TrafficRouter = (
        GatewayApiRouter(
            api,
            fullname,
            f"{fullname}-backend",
            f"{fullname}-backend-canary",
            settings.canary_header,
        )
        if settings.router == "gateway-api"
        else IngressNginxRouter(api, f"{fullname}-canary")
    )
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=str(settings.ingress_ca_file))
        if settings.ingress_ca_file
        else True
    )
    return Target(
        router=router,
        workloads=DeploymentWorkloads(api, fullname),
        metrics=PrometheusProvider(settings.prometheus_url),
        state=ConfigMapStateStore(api, f"{fullname}-rollout-", settings.lease_seconds),
        notifier=AppriseNotifier(spec.notifications.urls),
        incidents=incident_sink(spec, settings.incidents_file),
        smoke=partial(
            run_smoke_tests,
            settings.ingress_url,
            verify,
            timeout=spec.smoke_tests.timeout.total_seconds(),
            header=settings.canary_header,
        ),
        metrics_dir=settings.metrics_dir,
    )
