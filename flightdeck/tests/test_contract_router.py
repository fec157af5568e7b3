"""The TrafficRouter contract, run against the local nginx and both Kubernetes routers.

The Kubernetes routers act on the objects the chart renders (helm template of the ci/ scenario),
stored in the fake API server; the local router drives a real nginx of a local platform.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flightdeck.core.errors import PermanentError
from flightdeck.engines.local import LocalPlatform
from flightdeck.kubernetes.api import KubeApi
from flightdeck.routers import Routing, TrafficRouter
from flightdeck.routers.gateway_api import GatewayApiRouter
from flightdeck.routers.ingress_nginx import IngressNginxRouter
from flightdeck.workloads import TrackSpec
from testsupport.fake_kubernetes import FakeKubernetes
from testsupport.helmchart import NAMESPACE, render
from testsupport.platform import platform_from_file, write_platform_config

pytestmark = pytest.mark.integration

FULLNAME = "fd-flightdeck"
NGINX = "nginx.ingress.kubernetes.io/"
ROUTINGS = [
    Routing(canary_active=True, canary_weight=0),
    Routing(canary_active=True, canary_weight=10),
    Routing(canary_active=True, canary_weight=100),
    Routing(canary_active=False),
]


@pytest.fixture(scope="module")
def local_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    platform = platform_from_file(write_platform_config(tmp_path_factory.mktemp("platform")))
    try:
        platform.up()
        platform.workloads.apply(TrackSpec("canary", "2.0.0-contract", 1))
        platform.workloads.wait_ready("canary", 60)
        yield platform
    finally:
        platform.down(purge=True)


@pytest.fixture(scope="module")
def chart_objects() -> dict[str, list[dict[str, Any]]]:
    return {scenario: render(scenario).objects for scenario in ("canary", "gateway-api")}


@pytest.fixture
def fake() -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as server:
        yield server


def ingress_router(fake: FakeKubernetes, objects: list[dict[str, Any]]) -> IngressNginxRouter:
    fake.install(objects, NAMESPACE)
    return IngressNginxRouter(KubeApi(fake.api_client(), NAMESPACE), FULLNAME)


def gateway_router(fake: FakeKubernetes, objects: list[dict[str, Any]]) -> GatewayApiRouter:
    fake.install(objects, NAMESPACE)
    return GatewayApiRouter(KubeApi(fake.api_client(), NAMESPACE), FULLNAME)


@pytest.fixture(params=["nginx", "ingress-nginx", "gateway-api"])
def router(
    request: pytest.FixtureRequest,
    chart_objects: dict[str, list[dict[str, Any]]],
) -> Iterator[TrafficRouter]:
    if request.param == "nginx":
        platform: LocalPlatform = request.getfixturevalue("local_platform")
        yield platform.router
        platform.router.apply(Routing())
        return
    with FakeKubernetes() as server:
        if request.param == "ingress-nginx":
            yield ingress_router(server, chart_objects["canary"])
        else:
            yield gateway_router(server, chart_objects["gateway-api"])


@pytest.mark.parametrize("routing", ROUTINGS, ids=str)
def test_apply_then_current_returns_it(router: TrafficRouter, routing: Routing) -> None:
    router.apply(routing)
    assert router.current() == routing


def test_routing_changes_in_sequence(router: TrafficRouter) -> None:
    for routing in [*ROUTINGS, Routing(canary_active=True, canary_weight=25), Routing()]:
        router.apply(routing)
        assert router.current() == routing


@pytest.mark.parametrize("weight", [-1, 101])
def test_a_weight_outside_0_to_100_is_refused(router: TrafficRouter, weight: int) -> None:
    router.apply(Routing(canary_active=True, canary_weight=10))
    with pytest.raises(ValueError, match="between 0 and 100"):
        router.apply(Routing(canary_active=True, canary_weight=weight))
    assert router.current() == Routing(canary_active=True, canary_weight=10)


# -- what the Kubernetes routers write ------------------------------------------------------------
def canary_annotations(fake: FakeKubernetes) -> dict[str, str]:
    ingress = fake.get("Ingress", f"{FULLNAME}-canary", NAMESPACE)
    assert ingress is not None
    annotations: dict[str, str] = ingress["metadata"]["annotations"]
    return annotations


def test_ingress_nginx_annotations(
    fake: FakeKubernetes, chart_objects: dict[str, list[dict[str, Any]]]
) -> None:
    router = ingress_router(fake, chart_objects["canary"])
    assert router.current() == Routing(canary_active=True, canary_weight=10)  # the chart's 10%
    router.apply(Routing(canary_active=True, canary_weight=25))
    annotations = canary_annotations(fake)
    assert annotations[NGINX + "canary"] == "true"
    assert annotations[NGINX + "canary-weight"] == "25"
    assert annotations[NGINX + "canary-by-header"] == "X-Canary"
    assert annotations[NGINX + "canary-by-cookie"] == "canary"

    router.apply(Routing())
    annotations = canary_annotations(fake)
    assert annotations[NGINX + "canary"] == "true"
    assert annotations[NGINX + "canary-weight"] == "0"
    assert NGINX + "canary-by-header" not in annotations
    assert NGINX + "canary-by-cookie" not in annotations
    assert annotations["flightdeck.io/canary-by-header"] == "X-Canary"

    router.apply(Routing(canary_active=True, canary_weight=0))
    annotations = canary_annotations(fake)
    assert annotations[NGINX + "canary-by-header"] == "X-Canary"
    assert annotations[NGINX + "canary-by-cookie"] == "canary"
    assert "flightdeck.io/canary-by-header" not in annotations


def test_ingress_nginx_keeps_other_clients_changes_and_retries_conflicts(
    fake: FakeKubernetes, chart_objects: dict[str, list[dict[str, Any]]]
) -> None:
    router = ingress_router(fake, chart_objects["canary"])
    fake.update(
        "Ingress",
        f"{FULLNAME}-canary",
        {"metadata": {"annotations": {"team": "payments"}}},
        NAMESPACE,
    )
    fake.fail_next("PATCH", "/ingresses/", 409)
    router.apply(Routing(canary_active=True, canary_weight=50))
    assert canary_annotations(fake)["team"] == "payments"
    assert canary_annotations(fake)[NGINX + "canary-weight"] == "50"
    patches = [r for r in fake.requests if r[0] == "PATCH"]
    assert len(patches) == 2
    assert {content_type for *_, content_type in patches} == {"application/merge-patch+json"}


def test_ingress_nginx_without_the_canary_ingress_names_the_chart_setting(
    fake: FakeKubernetes, chart_objects: dict[str, list[dict[str, Any]]]
) -> None:
    router = IngressNginxRouter(KubeApi(fake.api_client(), NAMESPACE), FULLNAME)
    with pytest.raises(PermanentError, match=r"fd-flightdeck-canary not found.*canary.enabled"):
        router.apply(Routing())


def route_rules(fake: FakeKubernetes) -> list[dict[str, Any]]:
    route = fake.get("HTTPRoute", FULLNAME, NAMESPACE)
    assert route is not None
    rules: list[dict[str, Any]] = route["spec"]["rules"]
    return rules


def backends(rule: dict[str, Any]) -> dict[str, int | None]:
    return {ref["name"]: ref.get("weight") for ref in rule["backendRefs"]}


def test_gateway_api_backend_ref_weights(
    fake: FakeKubernetes, chart_objects: dict[str, list[dict[str, Any]]]
) -> None:
    router = gateway_router(fake, chart_objects["gateway-api"])
    assert router.current() == Routing(canary_active=True, canary_weight=25)  # the chart's 25%
    stable, canary = f"{FULLNAME}-backend", f"{FULLNAME}-backend-canary"
    router.apply(Routing(canary_active=True, canary_weight=10))
    rules = route_rules(fake)
    weighted = [r for r in rules if stable in backends(r)]
    by_header = [r for r in rules if "headers" in r["matches"][0]]
    assert len(weighted) == 2  # /api and /health
    assert len(by_header) == 2
    assert all(backends(r) == {stable: 90, canary: 10} for r in weighted)
    assert all(backends(r) == {canary: None} for r in by_header)
    frontend = [r for r in rules if backends(r) == {f"{FULLNAME}-frontend": None}]
    assert len(frontend) == 1, "the frontend rule is left alone"

    router.apply(Routing())
    rules = route_rules(fake)
    assert all(backends(r) == {stable: 100, canary: 0} for r in rules if canary in backends(r))
    by_header = [r for r in rules if "headers" in r["matches"][0]]
    assert all(backends(r) == {stable: None} for r in by_header)
    assert all(ref["port"] == 80 for r in rules for ref in r["backendRefs"])


def test_gateway_api_without_the_route_names_the_chart_setting(fake: FakeKubernetes) -> None:
    router = GatewayApiRouter(KubeApi(fake.api_client(), NAMESPACE), FULLNAME)
    with pytest.raises(PermanentError, match=r"httproute fd-flightdeck not found.*gatewayApi"):
        router.current()
