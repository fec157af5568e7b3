"""The kubernetes engine: rollouts on the Helm chart's objects in a cluster.

The composition root of the kubernetes engine: the API client and settings
(`flightdeck.kubernetes`) with the router the settings name (ingress-nginx annotations or a
Gateway API HTTPRoute), Deployment workloads, a ConfigMap + Lease state store and Prometheus;
for `flightdeck validate`, the same router, workloads and Prometheus with the pods and
autoscalers probes (flightdeck.validate.kubernetes). Settings come from FLIGHTDECK_* variables
(docs/kubernetes.md).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from flightdeck.core.errors import ConfigError, PermanentError
from flightdeck.core.tracks import Track
from flightdeck.engines import engines, validation_targets
from flightdeck.metrics.prometheus import PrometheusProvider
from flightdeck.notify import incident_sink_for, notifier_for
from flightdeck.rollout.smoke import SmokeResult, run_smoke_tests
from flightdeck.rollout.target import SmokeTests, Target
from flightdeck.validate import ValidationTarget, serving_routes

if TYPE_CHECKING:
    from flightdeck.kubernetes.api import KubeApi
    from flightdeck.kubernetes.settings import KubernetesSettings


def _connect() -> tuple[KubernetesSettings, KubeApi]:
    # Imported here: the kubernetes client takes a while to import, and `--target local` never
    # needs it.
    from flightdeck.kubernetes.api import KubeApi
    from flightdeck.kubernetes.settings import connect, load_kubernetes_settings

    settings = load_kubernetes_settings()
    return settings, KubeApi(connect(settings.kube_context), settings.namespace)


def _ingress_smoke(
    settings: KubernetesSettings, routes: Mapping[Track, Mapping[str, str]]
) -> SmokeTests:
    """The smoke tests through the public ingress URL, on the route `routes` gives each track."""
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=str(settings.ingress_ca_file))
        if settings.ingress_ca_file
        else True
    )

    def smoke(track: Track, version: str, timeout: float) -> list[SmokeResult]:
        if track not in routes:
            raise ConfigError(f"the chart has no route to smoke-test track {track!r}")
        return run_smoke_tests(
            settings.ingress_url, verify, version, track=track, timeout=timeout,
            headers=dict(routes[track]),
        )  # fmt: skip

    return smoke


@engines.register("kubernetes")
def kubernetes_target(config_path: Path | None) -> Target:
    """The chart's objects in a cluster (`config_path`, the local platform's, is not used)."""
    from flightdeck.routers import gateway_api, ingress_nginx, routers  # noqa: F401 (registers)
    from flightdeck.state.configmap import ConfigMapStateStore
    from flightdeck.workloads.deployments import DeploymentWorkloads

    settings, api = _connect()
    fullname = settings.chart_fullname
    return Target(
        router=routers.create(settings.router, api, fullname, settings.canary_header),
        workloads=DeploymentWorkloads(api, fullname),
        metrics=PrometheusProvider(settings.prometheus_url),
        state=ConfigMapStateStore(api, f"{fullname}-rollout-", settings.lease_seconds),
        smoke=_ingress_smoke(settings, {"canary": {settings.canary_header: "always"}}),
        notifier=notifier_for,
        incidents=lambda notifications: incident_sink_for(notifications, settings.incidents_file),
        metrics_dir=settings.metrics_dir,
    )


@validation_targets.register("kubernetes")
def kubernetes_validation_target(config_path: Path | None) -> ValidationTarget:
    """`flightdeck validate` on the release's objects (`config_path` is not used)."""
    from flightdeck.routers import gateway_api, ingress_nginx, routers  # noqa: F401 (registers)
    from flightdeck.validate.kubernetes import HpaScaling, PodReplicas
    from flightdeck.workloads.deployments import DeploymentWorkloads

    settings, api = _connect()
    workloads = DeploymentWorkloads(api, settings.chart_fullname)
    router = routers.create(settings.router, api, settings.chart_fullname, settings.canary_header)
    through_ingress = _ingress_smoke(settings, serving_routes(settings.canary_header))

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
