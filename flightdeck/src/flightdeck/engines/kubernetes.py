"""The kubernetes engine: rollouts on the Helm chart's objects in a cluster.

The composition root of the kubernetes engine: the API client and settings
(`flightdeck.kubernetes`) with the router the settings name (ingress-nginx annotations or a
Gateway API HTTPRoute), Deployment workloads, a ConfigMap + Lease state store, Prometheus and the
delivery history (the release's MongoDB, or a JSON-lines file). Settings come from FLIGHTDECK_*
variables (docs/kubernetes.md).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from flightdeck.core.errors import ConfigError
from flightdeck.core.tracks import Track
from flightdeck.engines import engines
from flightdeck.history import HistoryStore, history_store
from flightdeck.metrics.prometheus import PrometheusProvider
from flightdeck.notify import incident_sink_for, notifier_for
from flightdeck.rollout.smoke import SmokeResult, run_smoke_tests
from flightdeck.rollout.target import Target

if TYPE_CHECKING:
    from flightdeck.kubernetes.settings import KubernetesSettings


@engines.register("kubernetes")
def kubernetes_target(config_path: Path | None) -> Target:
    """The chart's objects in a cluster (`config_path`, the local platform's, is not used)."""
    # Imported here: the kubernetes client takes a while to import, and `--target local` never
    # needs it.
    from flightdeck.kubernetes.api import KubeApi
    from flightdeck.kubernetes.settings import connect, load_kubernetes_settings
    from flightdeck.routers import gateway_api, ingress_nginx, routers  # noqa: F401 (registers)
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
    routes: dict[Track, dict[str, str]] = {"canary": {settings.canary_header: "always"}}

    def smoke(track: Track, version: str, timeout: float) -> list[SmokeResult]:
        if track not in routes:
            raise ConfigError(f"the chart has no route to smoke-test track {track!r}")
        return run_smoke_tests(
            settings.ingress_url, verify, version, track=track, timeout=timeout,
            headers=routes[track],
        )  # fmt: skip

    return Target(
        history=_history(settings),
        router=routers.create(settings.router, api, fullname, settings.canary_header),
        workloads=DeploymentWorkloads(api, fullname),
        metrics=PrometheusProvider(settings.prometheus_url),
        state=ConfigMapStateStore(api, f"{fullname}-rollout-", settings.lease_seconds),
        smoke=smoke,
        notifier=notifier_for,
        incidents=lambda notifications: incident_sink_for(notifications, settings.incidents_file),
        metrics_dir=settings.metrics_dir,
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
