"""Canary routing through the real nginx ingress, with ingress-nginx's semantics."""

from collections import Counter
from collections.abc import Iterator

import pytest

from flightdeck.engines.local import LocalPlatform
from flightdeck.routers import Routing
from flightdeck.workloads import TrackSpec
from testsupport.platform import https_client

REQUESTS = 2000
TOLERANCE_POINTS = 3.0


@pytest.fixture(scope="module")
def with_canary(platform: LocalPlatform) -> Iterator[LocalPlatform]:
    platform.workloads.apply(TrackSpec("canary", "2.0.0-canary", 1))
    platform.workloads.wait_ready("canary", 30)
    yield platform
    platform.router.apply(Routing())
    platform.workloads.remove("canary")


def tracks_seen(platform: LocalPlatform, count: int, **request: dict[str, str]) -> Counter[str]:
    seen: Counter[str] = Counter()
    with https_client(platform, **request) as client:
        for _ in range(count):
            response = client.get("/api/version")
            assert response.status_code == 200, response.text
            seen[response.json()["track"]] += 1
    return seen


def test_without_a_canary_pool_everything_goes_to_stable(platform: LocalPlatform) -> None:
    assert platform.router.current() == Routing()
    seen = tracks_seen(platform, 50, headers={"X-Canary": "always"})
    assert seen == Counter({"stable": 50})


@pytest.mark.parametrize("weight", [10, 50])
def test_observed_canary_share_follows_the_weight(with_canary: LocalPlatform, weight: int) -> None:
    with_canary.router.apply(Routing(canary_active=True, canary_weight=weight))
    seen = tracks_seen(with_canary, REQUESTS)
    share = 100 * seen["canary"] / REQUESTS
    assert abs(share - weight) <= TOLERANCE_POINTS, f"canary share {share:.1f}% at weight {weight}"
    assert seen["canary"] + seen["stable"] == REQUESTS


@pytest.mark.parametrize(
    ("weight", "headers", "cookies", "expected"),
    [
        # The header decides first: always/never override the cookie and the weight.
        (0, {"X-Canary": "always"}, {}, "canary"),
        (100, {"X-Canary": "never"}, {}, "stable"),
        (0, {"X-Canary": "always"}, {"canary": "never"}, "canary"),
        (100, {"X-Canary": "never"}, {"canary": "always"}, "stable"),
        # Then the cookie.
        (0, {}, {"canary": "always"}, "canary"),
        (100, {}, {"canary": "never"}, "stable"),
        # Any other header value falls through to the cookie, then to the weight.
        (0, {"X-Canary": "yes"}, {"canary": "always"}, "canary"),
        (100, {"X-Canary": "maybe"}, {}, "canary"),
        (0, {"X-Canary": "true"}, {"canary": "sometimes"}, "stable"),
    ],
)
def test_header_then_cookie_then_weight(
    with_canary: LocalPlatform,
    weight: int,
    headers: dict[str, str],
    cookies: dict[str, str],
    expected: str,
) -> None:
    with_canary.router.apply(Routing(canary_active=True, canary_weight=weight))
    seen = tracks_seen(with_canary, 20, headers=headers, cookies=cookies)
    assert seen == Counter({expected: 20})


def test_the_router_reads_back_what_it_applied(with_canary: LocalPlatform) -> None:
    with_canary.router.apply(Routing(canary_active=True, canary_weight=25))
    assert with_canary.router.current() == Routing(canary_active=True, canary_weight=25)
    assert with_canary.ingress.served_generation() is not None
