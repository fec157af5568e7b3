"""The kubernetes engine: rollouts on the Helm chart's objects in a cluster.

The composition root of the kubernetes engine: the API client and settings
(`flightdeck.kubernetes`) with the router the settings name (ingress-nginx annotations or a
Gateway API HTTPRoute), Deployment workloads, a ConfigMap + Lease state store and Prometheus.
Settings come from FLIGHTDECK_* variables (docs/kubernetes.md).
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path

from flightdeck.core.errors import ConfigError
from flightdeck.core.loadgen import LoadGenerator
from flightdeck.core.tracks import Track
from flightdeck.engines import engines
from flightdeck.metrics.prometheus import PrometheusProvider
from flightdeck.notify import incident_sink_for, notifier_for
from flightdeck.rollout.smoke import SmokeResult, run_smoke_tests
from flightdeck.rollout.target import Target

PREVIEW_LOAD_RATE = 20.0
"""Requests per second on the preview route during a pre-switch analysis."""


@engines.register("kubernetes")
def kubernetes_target(config_path: Path | None) -> Target:
    """The chart's objects in a cluster (`config_path`, the local platform's, is not used)."""
    # Imported here: the kubernetes client takes a while to import, and `--target local` never
    # needs it.
    from flightdeck.kubernetes.api import KubeApi
    from flightdeck.kubernetes.settings import connect, load_kubernetes_settings
    from flightdeck.routers import (  # noqa: F401 (importing registers them)
        gateway_api,
        ingress_nginx,
        routers,
        service_selector,
    )
    from flightdeck.state.configmap import ConfigMapStateStore
    from flightdeck.workloads.deployments import DeploymentWorkloads

    settings = load_kubernetes_settings()
    api = KubeApi(connect(settings.kube_context), settings.namespace)
    fullname = settings.chart_fullname
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=str(settings.ingress_ca_file))
        if settings.ingress_ca_file
        else True
    )

    def route(track: Track) -> tuple[str, dict[str, str]]:
        """The canary by its header on the ingress; a colour in preview on the preview URL."""
        if track == "canary":
            return settings.ingress_url, {settings.canary_header: "always"}
        if settings.preview_url is None:
            raise ConfigError(
                f"FLIGHTDECK_PREVIEW_URL is not set: nowhere to check the {track} colour "
                f"(the chart's preview Service, {fullname}-backend-preview)"
            )
        return settings.preview_url, {}

    def smoke(track: Track, version: str, timeout: float) -> list[SmokeResult]:
        base_url, headers = route(track)
        return run_smoke_tests(
            base_url, verify, version, track=track, timeout=timeout, headers=headers
        )

    def preview_load(track: Track, seconds: float) -> None:
        base_url, headers = route(track)
        with LoadGenerator(base_url, verify, rate=PREVIEW_LOAD_RATE, headers=headers):
            time.sleep(seconds)

    return Target(
        router=routers.create(settings.router, api, fullname, settings.canary_header),
        workloads=DeploymentWorkloads(api, fullname),
        metrics=PrometheusProvider(settings.prometheus_url),
        state=ConfigMapStateStore(api, f"{fullname}-rollout-", settings.lease_seconds),
        smoke=smoke,
        notifier=notifier_for,
        incidents=lambda notifications: incident_sink_for(notifications, settings.incidents_file),
        metrics_dir=settings.metrics_dir,
        preview_load=preview_load,
    )
