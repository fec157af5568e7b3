"""The TrafficRouter contract, run against the local nginx and both Kubernetes routers.

The Kubernetes routers act on the chart installed on the real control plane (the canary
Ingress of ci/canary-values.yaml, the HTTPRoute of ci/gateway-api-values.yaml), authenticated
as the chart's flightdeck ServiceAccount, so its Role is exercised too; each test starts from
the object as Helm installed it. The local router drives a real nginx of a local platform.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flightdeck.core.errors import PermanentError
from flightdeck.engines.local import LocalPlatform
from flightdeck.kubernetes.api import HTTPROUTE
from flightdeck.routers import Routing, TrafficRouter
from flightdeck.routers.gateway_api import GatewayApiRouter
from flightdeck.routers.ingress_nginx import IngressNginxRouter
from flightdeck.workloads import TrackSpec
from testsupport.chartcluster import ChartCluster, Release
from testsupport.interleaving import InterleavingApi
from testsupport.platform import platform_from_file, write_platform_config

pytestmark = pytest.mark.integration

FULLNAME = "fd-flightdeck"  # the releases of conftest.py
NGINX = "nginx.ingress.kubernetes.io/"
CANARY_INGRESS = f"{FULLNAME}-canary"
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


@pytest.fixture
def ingress_release(canary_release: Release) -> Release:
    """The canary release with its canary Ingress as the chart installed it (10%)."""
    canary_release.restore("Ingress", CANARY_INGRESS)
    return canary_release


@pytest.fixture
def route_release(gateway_release: Release) -> Release:
    """The gateway-api release with its HTTPRoute as the chart installed it (25%)."""
    gateway_release.restore("HTTPRoute", FULLNAME)
    return gateway_release


def api_of(release: Release) -> InterleavingApi:
    """flightdeck's API client as the chart's flightdeck ServiceAccount."""
    return InterleavingApi(release.api_client(release.flightdeck_account), release.namespace)


@pytest.fixture(params=["nginx", "ingress-nginx", "gateway-api"])
def router(request: pytest.FixtureRequest) -> Iterator[TrafficRouter]:
    if request.param == "nginx":
        platform: LocalPlatform = request.getfixturevalue("local_platform")
        yield platform.router
        platform.router.apply(Routing())
    elif request.param == "ingress-nginx":
        yield IngressNginxRouter(api_of(request.getfixturevalue("ingress_release")), FULLNAME)
    else:
        yield GatewayApiRouter(api_of(request.getfixturevalue("route_release")), FULLNAME)


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
def canary_annotations(release: Release) -> dict[str, str]:
    annotations: dict[str, str] = release.live("Ingress", CANARY_INGRESS)["metadata"]["annotations"]
    return annotations


def test_ingress_nginx_annotations(ingress_release: Release) -> None:
    router = IngressNginxRouter(api_of(ingress_release), FULLNAME)
    assert router.current() == Routing(canary_active=True, canary_weight=10)  # the chart's 10%
    router.apply(Routing(canary_active=True, canary_weight=25))
    annotations = canary_annotations(ingress_release)
    assert annotations[NGINX + "canary"] == "true"
    assert annotations[NGINX + "canary-weight"] == "25"
    assert annotations[NGINX + "canary-by-header"] == "X-Canary"
    assert annotations[NGINX + "canary-by-cookie"] == "canary"

    router.apply(Routing())
    annotations = canary_annotations(ingress_release)
    assert annotations[NGINX + "canary"] == "true"
    assert annotations[NGINX + "canary-weight"] == "0"
    assert NGINX + "canary-by-header" not in annotations
    assert NGINX + "canary-by-cookie" not in annotations
    assert annotations["flightdeck.io/canary-by-header"] == "X-Canary"

    router.apply(Routing(canary_active=True, canary_weight=0))
    annotations = canary_annotations(ingress_release)
    assert annotations[NGINX + "canary-by-header"] == "X-Canary"
    assert annotations[NGINX + "canary-by-cookie"] == "canary"
    assert "flightdeck.io/canary-by-header" not in annotations


def test_ingress_nginx_keeps_other_clients_changes_and_retries_conflicts(
    ingress_release: Release, chart_cluster: ChartCluster
) -> None:
    api = api_of(ingress_release)
    router = IngressNginxRouter(api, FULLNAME)
    path = ingress_release.path("Ingress", CANARY_INGRESS)

    def another_client_annotates() -> None:
        with chart_cluster.http() as http:
            body = {"metadata": {"annotations": {"team": "payments"}}}
            headers = {"Content-Type": "application/merge-patch+json"}
            http.patch(path, json=body, headers=headers).raise_for_status()

    api.before_next_write = another_client_annotates
    router.apply(Routing(canary_active=True, canary_weight=50))
    annotations = canary_annotations(ingress_release)
    assert annotations["team"] == "payments"
    assert annotations[NGINX + "canary-weight"] == "50"
    # The first patch carried the resourceVersion read before the other write: the API server
    # refused it (409) and the router read again and patched once more.
    assert api.writes == [("patch", "ingress"), ("patch", "ingress")]


def test_ingress_nginx_without_the_canary_ingress_names_the_chart_setting(
    gateway_release: Release,
) -> None:
    router = IngressNginxRouter(api_of(gateway_release), FULLNAME)  # routing=gatewayApi
    with pytest.raises(PermanentError, match=r"fd-flightdeck-canary not found.*canary.enabled"):
        router.apply(Routing())


def route_rules(release: Release) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = release.live("HTTPRoute", FULLNAME)["spec"]["rules"]
    return rules


def backends(rule: dict[str, Any]) -> dict[str, int | None]:
    return {ref["name"]: ref.get("weight") for ref in rule["backendRefs"]}


def test_gateway_api_backend_ref_weights(route_release: Release) -> None:
    router = GatewayApiRouter(api_of(route_release), FULLNAME)
    assert router.current() == Routing(canary_active=True, canary_weight=25)  # the chart's 25%
    stable, canary = f"{FULLNAME}-backend", f"{FULLNAME}-backend-canary"
    router.apply(Routing(canary_active=True, canary_weight=10))
    rules = route_rules(route_release)
    weighted = [r for r in rules if stable in backends(r)]
    by_header = [r for r in rules if "headers" in r["matches"][0]]
    assert len(weighted) == 2  # /api and /health
    assert len(by_header) == 2
    assert all(backends(r) == {stable: 90, canary: 10} for r in weighted)
    # A backendRef without a weight gets the API server's default, 1 (the CRD's schema).
    assert all(backends(r) == {canary: 1} for r in by_header)
    frontend = [r for r in rules if backends(r) == {f"{FULLNAME}-frontend": 1}]
    assert len(frontend) == 1, "the frontend rule is left alone"

    router.apply(Routing())
    rules = route_rules(route_release)
    assert all(backends(r) == {stable: 100, canary: 0} for r in rules if canary in backends(r))
    by_header = [r for r in rules if "headers" in r["matches"][0]]
    assert all(backends(r) == {stable: 1} for r in by_header)
    assert all(ref["port"] == 80 for r in rules for ref in r["backendRefs"])


def test_gateway_api_without_the_route_names_the_chart_setting(canary_release: Release) -> None:
    router = GatewayApiRouter(api_of(canary_release), FULLNAME)  # routing=ingress
    with pytest.raises(PermanentError, match=r"httproute fd-flightdeck not found.*gatewayApi"):
        router.current()


def test_the_api_server_validates_what_the_router_writes(route_release: Release) -> None:
    """A write the HTTPRoute schema refuses (the CRD's validation, which no fake has) is a
    permanent error naming the field, and the route is left as it was."""
    api = api_of(route_release)
    route = route_release.live("HTTPRoute", FULLNAME)
    rules = route["spec"]["rules"]
    rules[0]["backendRefs"][0]["weight"] = 1_000_001  # the schema's maximum is 1000000
    with pytest.raises(PermanentError, match=r"rejected \(422\).*weight"):
        api.patch(HTTPROUTE, FULLNAME, {"spec": {"rules": rules}})
    assert GatewayApiRouter(api, FULLNAME).current() == Routing(
        canary_active=True, canary_weight=25
    )
