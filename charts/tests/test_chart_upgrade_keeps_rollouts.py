"""`helm upgrade` keeps what flightdeck's rollouts changed on the live objects.

On the test control plane: the chart is installed, flightdeck's own Kubernetes providers
(kubernetes/routers.py, kubernetes/workloads.py) park the canary or promote a version on it,
then the release is upgraded with an unrelated value change. A parked canary stays parked and
a promoted version stays promoted; a deliberate change of the corresponding value applies.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from flightdeck.kubernetes.api import KubeApi
from flightdeck.routers import Routing, TrafficRouter
from flightdeck.routers.gateway_api import GatewayApiRouter
from flightdeck.routers.ingress_nginx import IngressNginxRouter
from flightdeck.workloads import TrackSpec
from flightdeck.workloads.deployments import DeploymentWorkloads
from testsupport.chartcluster import ChartCluster

pytestmark = pytest.mark.integration

NGINX = "nginx.ingress.kubernetes.io/"
SAVED = "flightdeck.io/"


def deployment_path(namespace: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


def ingress_path(namespace: str, name: str) -> str:
    return f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/{name}"


def route_path(namespace: str, name: str) -> str:
    return f"/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/httproutes/{name}"


# -- flightdeck's writes: its own Kubernetes providers -----------------------------------------


@dataclass
class Providers:
    ingress: IngressNginxRouter
    gateway: GatewayApiRouter
    workloads: DeploymentWorkloads


@contextmanager
def flightdeck_providers(cc: ChartCluster, namespace: str, fullname: str) -> Iterator[Providers]:
    """flightdeck's routers and workloads on the release, as `--target kubernetes` builds them."""
    with cc.cluster.api_client() as api_client:
        api = KubeApi(api_client, namespace)
        yield Providers(
            ingress=IngressNginxRouter(api, fullname),
            gateway=GatewayApiRouter(api, fullname),
            workloads=DeploymentWorkloads(api, fullname),
        )


def park(router: TrafficRouter, workloads: DeploymentWorkloads) -> None:
    """What a rollback ends with: no traffic to the canary, the canary scaled to 0."""
    router.apply(Routing(canary_active=False, canary_weight=0))
    workloads.remove("canary")


def promote(router: TrafficRouter, workloads: DeploymentWorkloads, version: str) -> None:
    """A promotion: all traffic to the canary, stable re-imaged, then the canary parked."""
    router.apply(Routing(canary_active=True, canary_weight=100))
    workloads.apply(TrackSpec("stable", version))
    park(router, workloads)


# -- checks ----------------------------------------------------------------------------------------


def wait_rolled_out(cc: ChartCluster, path: str, timeout: float = 60) -> dict[str, Any]:
    """The Deployment once its controller has caught up and every replica is updated and ready."""
    deadline = time.monotonic() + timeout
    while True:
        deployment = cc.get(path)
        assert deployment is not None
        status, wanted = deployment.get("status") or {}, deployment["spec"]["replicas"]
        if (
            status.get("observedGeneration") == deployment["metadata"]["generation"]
            and status.get("updatedReplicas", 0) == wanted
            and status.get("readyReplicas", 0) == wanted
            and status.get("replicas", 0) == wanted
        ):
            return deployment
        assert time.monotonic() < deadline, f"{path} not rolled out: {status}"
        time.sleep(0.2)


def version_of(deployment: dict[str, Any]) -> tuple[str, str, str]:
    """(image tag, APP_VERSION, flightdeck.io/image-tag label) of the backend container."""
    template = deployment["spec"]["template"]
    (container,) = [c for c in template["spec"]["containers"] if c["name"] == "backend"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    label = template["metadata"]["labels"]["flightdeck.io/image-tag"]
    return container["image"].rsplit(":", 1)[1], env["APP_VERSION"], label


@contextmanager
def installed(cc: ChartCluster, name: str, scenario: str) -> Iterator[str]:
    """The scenario installed as release NAME in namespace NAME; its fullname; uninstalled after
    (the ClusterIssuers are cluster-wide: one release owns them at a time)."""
    cc.install(name, name, scenario)
    try:
        yield f"{name}-flightdeck"
    finally:
        cc.helm_ok(name, "uninstall", name, "-n", name, "--wait")


def canary_annotations(cc: ChartCluster, namespace: str, fullname: str) -> dict[str, str]:
    ingress = cc.get(ingress_path(namespace, f"{fullname}-canary"))
    assert ingress is not None
    annotations: dict[str, str] = ingress["metadata"]["annotations"]
    return annotations


def route_routing(
    cc: ChartCluster, namespace: str, fullname: str
) -> tuple[dict[str, int], set[str]]:
    """(weights of the weighted /api rule, Services the header rules send to)."""
    route = cc.get(route_path(namespace, fullname))
    assert route is not None
    weights: dict[str, int] = {}
    by_header: set[str] = set()
    for rule in route["spec"]["rules"]:
        paths = {match["path"]["value"] for match in rule["matches"]}
        if any(match.get("headers") for match in rule["matches"]):
            by_header |= {ref["name"] for ref in rule["backendRefs"]}
        elif paths == {"/api"}:
            weights = {ref["name"]: ref["weight"] for ref in rule["backendRefs"]}
    return weights, by_header


# -- tests -----------------------------------------------------------------------------------------


def test_a_parked_ingress_canary_stays_parked(chart_cluster: ChartCluster) -> None:
    cc, namespace = chart_cluster, "parked-ingress"
    with installed(cc, namespace, "canary") as fullname:
        canary = deployment_path(namespace, f"{fullname}-backend-canary")
        assert canary_annotations(cc, namespace, fullname)[NGINX + "canary-weight"] == "10"

        with flightdeck_providers(cc, namespace, fullname) as flightdeck:
            park(flightdeck.ingress, flightdeck.workloads)
        wait_rolled_out(cc, canary)
        cc.upgrade(namespace, namespace, "canary", "--set", "ingress.rateLimit.rps=42")

        stable_ingress = cc.get(ingress_path(namespace, fullname))
        assert stable_ingress is not None
        assert stable_ingress["metadata"]["annotations"][NGINX + "limit-rps"] == "42"
        annotations = canary_annotations(cc, namespace, fullname)
        assert annotations[NGINX + "canary-weight"] == "0", annotations
        assert NGINX + "canary-by-header" not in annotations, annotations
        assert NGINX + "canary-by-cookie" not in annotations, annotations
        assert annotations[SAVED + "canary-by-header"] == "X-Canary", annotations
        assert annotations[SAVED + "canary-by-cookie"] == "canary", annotations
        assert wait_rolled_out(cc, canary)["spec"]["replicas"] == 0

        # A deliberate change of the value still applies.
        cc.upgrade(namespace, namespace, "canary", "--set", "canary.weight=30")
        annotations = canary_annotations(cc, namespace, fullname)
        assert annotations[NGINX + "canary-weight"] == "30", annotations
        assert annotations[NGINX + "canary-by-header"] == "X-Canary", annotations


def test_a_parked_gateway_canary_stays_parked(chart_cluster: ChartCluster) -> None:
    cc, namespace = chart_cluster, "parked-gateway"
    with installed(cc, namespace, "gateway-api") as fullname:
        stable, canary_service = f"{fullname}-backend", f"{fullname}-backend-canary"
        canary = deployment_path(namespace, canary_service)
        routing = route_routing(cc, namespace, fullname)
        assert routing == ({stable: 75, canary_service: 25}, {canary_service})

        with flightdeck_providers(cc, namespace, fullname) as flightdeck:
            park(flightdeck.gateway, flightdeck.workloads)
        wait_rolled_out(cc, canary)
        cc.upgrade(namespace, namespace, "gateway-api", "--set", "commonLabels.upgraded=yes")

        route = cc.get(route_path(namespace, fullname))
        assert route is not None
        assert route["metadata"]["labels"]["upgraded"] == "yes"
        routing = route_routing(cc, namespace, fullname)
        assert routing == ({stable: 100, canary_service: 0}, {stable})
        assert wait_rolled_out(cc, canary)["spec"]["replicas"] == 0

        cc.upgrade(namespace, namespace, "gateway-api", "--set", "canary.weight=40")
        routing = route_routing(cc, namespace, fullname)
        assert routing == ({stable: 60, canary_service: 40}, {canary_service})


def test_a_promoted_version_stays_promoted(chart_cluster: ChartCluster) -> None:
    cc, namespace = chart_cluster, "promoted"
    with installed(cc, namespace, "canary") as fullname:
        stable = deployment_path(namespace, f"{fullname}-backend")
        assert version_of(wait_rolled_out(cc, stable)) == ("0.1.0", "0.1.0", "0.1.0")

        with flightdeck_providers(cc, namespace, fullname) as flightdeck:
            promote(flightdeck.ingress, flightdeck.workloads, "0.2.0")
        promoted = wait_rolled_out(cc, stable)
        assert version_of(promoted) == ("0.2.0", "0.2.0", "0.2.0")

        cc.upgrade(namespace, namespace, "canary", "--set", "ingress.rateLimit.rps=42")
        upgraded = wait_rolled_out(cc, stable)
        assert version_of(upgraded) == ("0.2.0", "0.2.0", "0.2.0")
        # Nothing of the backend changed: its pods are not even restarted.
        generation = promoted["metadata"]["generation"]
        assert upgraded["metadata"]["generation"] == generation, upgraded["spec"]["template"]
        assert canary_annotations(cc, namespace, fullname)[NGINX + "canary-weight"] == "0"

        # The release workflow's next version, set in the values, is deployed.
        cc.upgrade(namespace, namespace, "canary", "--set", "backend.image.tag=0.4.0")
        assert version_of(wait_rolled_out(cc, stable)) == ("0.4.0", "0.4.0", "0.4.0")
