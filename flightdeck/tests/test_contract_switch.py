"""The colour-switch part of the TrafficRouter contract: which track serves, which previews.

Run against the local nginx (a real platform with a blue and a green track) and the chart's
blue-green mode on the real control plane (ci/blue-green-values.yaml installed by Helm),
authenticated as the chart's flightdeck ServiceAccount, so its Role is exercised too.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from flightdeck.core.errors import PermanentError
from flightdeck.core.tracks import TrackSpec
from flightdeck.engines.local import LocalPlatform
from flightdeck.kubernetes.api import KubeApi
from flightdeck.routers import Routing, TrafficRouter
from flightdeck.routers.service_selector import ServiceSelectorRouter
from testsupport.chartcluster import Release
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


@pytest.fixture
def release(bluegreen_release: Release) -> Release:
    """The blue-green release with its Services and HPA as the chart installed them."""
    for kind, name in (
        ("Service", f"{FULLNAME}-backend"),
        ("Service", f"{FULLNAME}-backend-preview"),
        ("HorizontalPodAutoscaler", f"{FULLNAME}-backend"),
    ):
        bluegreen_release.restore(kind, name)
    return bluegreen_release


def switch_router(release: Release) -> ServiceSelectorRouter:
    api = KubeApi(release.api_client(release.flightdeck_account), release.namespace)
    return ServiceSelectorRouter(api, FULLNAME)


@pytest.fixture(params=["nginx", "bluegreen-service"])
def router(request: pytest.FixtureRequest) -> Iterator[TrafficRouter]:
    if request.param == "nginx":
        platform: LocalPlatform = request.getfixturevalue("local_platform")
        yield platform.router
        platform.router.apply(Routing())
    else:
        yield switch_router(request.getfixturevalue("release"))


@pytest.mark.parametrize("routing", SWITCHES, ids=str)
def test_apply_then_current_returns_it(router: TrafficRouter, routing: Routing) -> None:
    router.apply(routing)
    assert router.current() == routing


def test_a_canary_pool_is_refused_where_there_is_none(release: Release) -> None:
    router = switch_router(release)
    with pytest.raises(PermanentError, match="no canary pool"):
        router.apply(Routing("green", canary_active=True, canary_weight=10))
    assert router.current().active == "green"  # the chart's activeColor, untouched


def test_the_service_selectors_and_the_hpa_follow_the_serving_colour(release: Release) -> None:
    switch_router(release).apply(Routing("blue", preview="green"))
    service = release.live("Service", f"{FULLNAME}-backend")
    preview = release.live("Service", f"{FULLNAME}-backend-preview")
    hpa = release.live("HorizontalPodAutoscaler", f"{FULLNAME}-backend")
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
