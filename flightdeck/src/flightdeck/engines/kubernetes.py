"""The kubernetes engine: rollouts on the Helm chart's objects in a cluster.

The composition root of the kubernetes engine: the API client and settings
(`flightdeck.kubernetes`) with the router the settings name (ingress-nginx annotations or a
Gateway API HTTPRoute), Deployment workloads, a ConfigMap + Lease state store and Prometheus.
Settings come from FLIGHTDECK_* variables (docs/kubernetes.md).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from flightdeck.core.errors import ConfigError
from flightdeck.core.tracks import Track
from flightdeck.engines import engines, rollout_states
from flightdeck.metrics.prometheus import PrometheusProvider
from flightdeck.notify import incident_sink_for, notifier_for
from flightdeck.rollout.smoke import SmokeResult, run_smoke_tests
from flightdeck.rollout.target import Target
from flightdeck.state import StateStore

if TYPE_CHECKING:
    from flightdeck.kubernetes.api import KubeApi
    from flightdeck.kubernetes.settings import ClusterSettings


@engines.register("kubernetes")
def kubernetes_target(config_path: Path | None) -> Target:
    """The chart's objects in a cluster (`config_path`, the local platform's, is not used)."""
    # Imported here: the kubernetes client takes a while to import, and `--target local` never
    # needs it.
    from flightdeck.kubernetes.api import KubeApi
    from flightdeck.kubernetes.settings import connect, load_kubernetes_settings
    from flightdeck.routers import gateway_api, ingress_nginx, routers  # noqa: F401 (registers)
    from flightdeck.workloads.deployments import DeploymentWorkloads

    settings = load_kubernetes_settings()
    api = KubeApi(connect(settings.kube_context), settings.namespace)
    fullname = settings.chart_fullname
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=str(settings.ingress_ca_file))
        if settings.ingress_ca_file
        else True
    )
    routes: dict[Track, dict[str, str]] = {"canary": {settings.canary_header: "always"}}

    def smoke(track: Track, version: str, timeout: float) -> list[SmokeResult]:
        if track not in routes:
            raise ConfigError(f"the chart has no route to smoke-test track {track!r}")
        return run_smoke_tests(
            settings.ingress_url, verify, version, track=track, timeout=timeout,
            headers=routes[track],
        )  # fmt: skip

    return Target(
        router=routers.create(settings.router, api, fullname, settings.canary_header),
        workloads=DeploymentWorkloads(api, fullname),
        metrics=PrometheusProvider(settings.prometheus_url),
        state=_state_store(api, settings),
        smoke=smoke,
        notifier=notifier_for,
        incidents=lambda notifications: incident_sink_for(notifications, settings.incidents_file),
        metrics_dir=settings.metrics_dir,
    )


@rollout_states.register("kubernetes")
def kubernetes_rollout_state(config_path: Path | None) -> StateStore:
    """The rollouts' ConfigMaps of the release the FLIGHTDECK_* variables name."""
    from flightdeck.kubernetes.api import KubeApi
    from flightdeck.kubernetes.settings import connect, load_cluster_settings

    settings = load_cluster_settings("--target kubernetes")
    return _state_store(KubeApi(connect(settings.kube_context), settings.namespace), settings)


def _state_store(api: KubeApi, settings: ClusterSettings) -> StateStore:
    from flightdeck.state.configmap import ConfigMapStateStore

    return ConfigMapStateStore(api, settings.rollout_prefix, settings.lease_seconds)
