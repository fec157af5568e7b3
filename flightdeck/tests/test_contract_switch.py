"""The colour-switch part of the TrafficRouter contract: which track serves, which previews.

Run against the local nginx (a real platform with a blue and a green track) and the chart's
blue-green mode on Kubernetes (the Services of `helm template` with ci/blue-green-values.yaml, in
the fake API server; the real control plane runs the chart in charts/tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from flightdeck.core.errors import PermanentError
from flightdeck.core.tracks import TrackSpec
from flightdeck.engines.local import LocalPlatform
from flightdeck.kubernetes.api import KubeApi
from flightdeck.routers import Routing, TrafficRouter
from flightdeck.routers.service_selector import ServiceSelectorRouter
from testsupport.fake_kubernetes import FakeKubernetes
from testsupport.helmchart import NAMESPACE, render
from testsupport.platform import (
    https_client,
    platform_from_file,
    trust_platform_ca,
    write_platform_config,
)

pytestmark = pytest.mark.integration

FULLNAME = "fd-flightdeck"
SWITCHES = [
    Routing("blue", preview="green"),
    Routing("green"),
    Routing("green", preview="blue"),
    Routing("blue"),
]


@pytest.fixture(scope="module")
def local_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    platform = platform_from_file(write_platform_config(tmp_path_factory.mktemp("platform")))
    try:
        platform.up()
        for colour, version in (("blue", "1.0.0-blue"), ("green", "2.0.0-green")):
            platform.workloads.apply(TrackSpec(colour, version, 1))
            platform.workloads.wait_ready(colour, 60)
        yield platform
    finally:
        platform.down(purge=True)


@pytest.fixture(scope="module")
def blue_green_objects() -> list[dict[str, Any]]:
    return render("blue-green").objects


@pytest.fixture(params=["nginx", "bluegreen-service"])
def router(
    request: pytest.FixtureRequest, blue_green_objects: list[dict[str, Any]]
) -> Iterator[TrafficRouter]:
    if request.param == "nginx":
        platform: LocalPlatform = request.getfixturevalue("local_platform")
        yield platform.router
        platform.router.apply(Routing())
        return
    with FakeKubernetes() as server:
        server.install(blue_green_objects, NAMESPACE)
        yield ServiceSelectorRouter(KubeApi(server.api_client(), NAMESPACE), FULLNAME)


@pytest.mark.parametrize("routing", SWITCHES, ids=str)
def test_apply_then_current_returns_it(router: TrafficRouter, routing: Routing) -> None:
    router.apply(routing)
    assert router.current() == routing


def test_a_canary_pool_is_refused_where_there_is_none(blue_green_objects: Any) -> None:
    with FakeKubernetes() as server:
        server.install(blue_green_objects, NAMESPACE)
        router = ServiceSelectorRouter(KubeApi(server.api_client(), NAMESPACE), FULLNAME)
        with pytest.raises(PermanentError, match="no canary pool"):
            router.apply(Routing("green", canary_active=True, canary_weight=10))
        assert router.current().active == "green"  # the chart's activeColor, untouched


def test_the_service_selectors_and_the_hpa_follow_the_serving_colour(
    blue_green_objects: Any,
) -> None:
    with FakeKubernetes() as server:
        server.install(blue_green_objects, NAMESPACE)
        router = ServiceSelectorRouter(KubeApi(server.api_client(), NAMESPACE), FULLNAME)
        router.apply(Routing("blue", preview="green"))
        service = server.get("Service", f"{FULLNAME}-backend", NAMESPACE)
        preview = server.get("Service", f"{FULLNAME}-backend-preview", NAMESPACE)
        hpa = server.get("HorizontalPodAutoscaler", f"{FULLNAME}-backend", NAMESPACE)
        assert service is not None
        assert preview is not None
        assert hpa is not None
        assert service["spec"]["selector"]["version"] == "blue"
        assert preview["spec"]["selector"]["version"] == "green"
        assert hpa["spec"]["scaleTargetRef"]["name"] == f"{FULLNAME}-backend-blue"


def test_the_local_switch_moves_users_and_the_preview_port_shows_the_other_colour(
    local_platform: LocalPlatform,
) -> None:
    local_platform.router.apply(Routing("blue", preview="green"))
    with https_client(local_platform) as client:
        assert client.get("/api/version").json()["track"] == "blue"
    preview = httpx.get(
        f"https://localhost:{local_platform.config.ports.preview}/api/version",
        verify=trust_platform_ca(local_platform),
    )
    assert preview.json()["track"] == "green"
    local_platform.router.apply(Routing("green"))
    with https_client(local_platform) as client:
        assert {client.get("/api/version").json()["track"] for _ in range(20)} == {"green"}
