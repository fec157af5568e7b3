"""The kubernetes engine: rollouts on the Helm chart's objects in a cluster.

The composition root of the kubernetes engine: the API client and settings
(`flightdeck.kubernetes`) with the router the settings name (ingress-nginx annotations, a
Gateway API HTTPRoute, or the blue-green Services' selectors), Deployment workloads, a
ConfigMap + Lease state store, Prometheus and the delivery history (the release's MongoDB, or a
JSON-lines file); for `flightdeck validate`, the same router, workloads and Prometheus with the
pods and autoscalers probes (flightdeck.validate.kubernetes). Settings come from FLIGHTDECK_*
variables (docs/kubernetes.md).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from flightdeck.core.errors import ConfigError, PermanentError
from flightdeck.core.loadgen import LoadGenerator
from flightdeck.core.tracks import Track
from flightdeck.engines import engines, rollout_states, validation_targets
from flightdeck.history import HistoryStore, history_store
from flightdeck.metrics.prometheus import PrometheusProvider
from flightdeck.notify import incident_sink_for, notifier_for
from flightdeck.rollout.smoke import SmokeResult, run_smoke_tests
from flightdeck.rollout.target import SmokeTests, Target
from flightdeck.state import StateStore
from flightdeck.validate import ValidationTarget, serving_routes

if TYPE_CHECKING:
    from flightdeck.kubernetes.api import KubeApi
    from flightdeck.kubernetes.settings import ClusterSettings, KubernetesSettings


def _connect() -> tuple[KubernetesSettings, KubeApi]:
    # Imported here: the kubernetes client takes a while to import, and `--target local` never
    # needs it.
    from flightdeck.kubernetes.api import KubeApi
    from flightdeck.kubernetes.settings import connect, load_kubernetes_settings

    settings = load_kubernetes_settings()
    return settings, KubeApi(connect(settings.kube_context), settings.namespace)


Route = Callable[[Track], tuple[str, Mapping[str, str]]]
"""Where a track answers: the base URL and the headers that reach it."""
PREVIEW_LOAD_RATE = 20.0
"""Requests per second on the preview route during a pre-switch analysis."""


def _verify(settings: KubernetesSettings) -> ssl.SSLContext | bool:
    if settings.ingress_ca_file:
        return ssl.create_default_context(cafile=str(settings.ingress_ca_file))
    return True


def _rollout_route(settings: KubernetesSettings) -> Route:
    """A rollout's new version apart from user traffic: the canary header on the ingress, or a
    blue-green colour on the preview URL (the chart's preview Service)."""

    def route(track: Track) -> tuple[str, Mapping[str, str]]:
        if track == "canary":
            return settings.ingress_url, {settings.canary_header: "always"}
        if settings.preview_url is None:
            raise ConfigError(
                f"FLIGHTDECK_PREVIEW_URL is not set: nowhere to check the {track} colour (the "
                f"chart's preview Service, {settings.chart_fullname}-backend-preview)"
            )
        return settings.preview_url, {}

    return route


def _serving_route(settings: KubernetesSettings) -> Route:
    """Each serving track through the public ingress (validate: never or always the canary)."""
    routes = serving_routes(settings.canary_header)
    return lambda track: (settings.ingress_url, routes[track])


def _ingress_smoke(settings: KubernetesSettings, route: Route) -> SmokeTests:
    """The smoke tests on the route each track has."""
    verify = _verify(settings)

    def smoke(track: Track, version: str, timeout: float) -> list[SmokeResult]:
        base_url, headers = route(track)
        return run_smoke_tests(
            base_url, verify, version, track=track, timeout=timeout, headers=dict(headers)
        )

    return smoke


def _register_routers() -> None:
    """Importing the routers registers them under the names FLIGHTDECK_ROUTER takes."""
    from flightdeck.routers import gateway_api, ingress_nginx, service_selector  # noqa: F401


if TYPE_CHECKING:
    from flightdeck.kubernetes.settings import ClusterSettings, KubernetesSettings


@engines.register("kubernetes")
def kubernetes_target(config_path: Path | None) -> Target:
    """The chart's objects in a cluster (`config_path`, the local platform's, is not used)."""
    from flightdeck.routers import routers
    from flightdeck.workloads.deployments import DeploymentWorkloads

    _register_routers()
    settings, api = _connect()
    fullname = settings.chart_fullname
    route = _rollout_route(settings)

    def preview_load(track: Track, seconds: float) -> None:
        base_url, headers = route(track)
        with LoadGenerator(
            base_url, _verify(settings), rate=PREVIEW_LOAD_RATE, headers=dict(headers)
        ):
            time.sleep(seconds)

    return Target(
        history=_history(settings),
        router=routers.create(settings.router, api, fullname, settings.canary_header),
        workloads=DeploymentWorkloads(api, fullname),
        metrics=PrometheusProvider(settings.prometheus_url),
        state=_state_store(api, settings),
        smoke=_ingress_smoke(settings, route),
        notifier=notifier_for,
        incidents=lambda notifications: incident_sink_for(notifications, settings.incidents_file),
        metrics_dir=settings.metrics_dir,
        preview_load=preview_load,
    )


@validation_targets.register("kubernetes")
def kubernetes_validation_target(config_path: Path | None) -> ValidationTarget:
    """`flightdeck validate` on the release's objects (`config_path` is not used)."""
    from flightdeck.routers import routers
    from flightdeck.validate.kubernetes import HpaScaling, PodReplicas
    from flightdeck.workloads.deployments import DeploymentWorkloads

    _register_routers()
    settings, api = _connect()
    workloads = DeploymentWorkloads(api, settings.chart_fullname)
    router = routers.create(settings.router, api, settings.chart_fullname, settings.canary_header)
    through_ingress = _ingress_smoke(settings, _serving_route(settings))

    def smoke(track: Track, version: str, timeout: float) -> list[SmokeResult]:
        # An HTTPRoute matches the canary header's `always` only: while the canary takes a
        # weight, no request reaches the active track alone, and a test of it would be a draw.
        if settings.router == "gateway-api" and track != "canary":
            weight = router.current().canary_weight
            if weight > 0:
                raise PermanentError(
                    f"the Gateway API route sends {weight}% of every request to the canary and "
                    f"has no `{settings.canary_header}: never` match: the {track} track cannot "
                    "be smoke-tested alone until the canary is promoted or rolled back"
                )
        return through_ingress(track, version, timeout)

    return ValidationTarget(
        engine="kubernetes",
        router=router,
        workloads=workloads,
        replicas=PodReplicas(api, workloads),
        scaling=HpaScaling(api, workloads, settings.release),
        metrics=PrometheusProvider(settings.prometheus_url),
        smoke=smoke,
        metrics_scope={"namespace": settings.namespace},
    )


def _history(settings: KubernetesSettings) -> HistoryStore:
    """The delivery history the settings name: the release's MongoDB (included in its backups)
    unless FLIGHTDECK_HISTORY=jsonl."""
    if settings.history == "jsonl":
        return history_store("jsonl", settings.history_file)
    if settings.history_mongodb_uri is None:
        raise ConfigError(
            "--target kubernetes: FLIGHTDECK_HISTORY_MONGODB_URI is not set: the delivery "
            "history goes to the release's MongoDB (a mongodb:// URI with the chart's "
            "credentials), or set FLIGHTDECK_HISTORY=jsonl and FLIGHTDECK_HISTORY_FILE for a "
            "file (docs/kubernetes.md)"
        )
    uri = settings.history_mongodb_uri.get_secret_value()
    return history_store("mongodb", uri, settings.history_database)


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
