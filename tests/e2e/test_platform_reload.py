"""Graceful reloads: changing the canary weight under continuous load fails no request."""

import threading
import time
from collections import Counter

import httpx

from flightdeck.engines.local import LocalPlatform
from flightdeck.routers import Routing
from flightdeck.workloads import TrackSpec
from testsupport.platform import https_client

WEIGHT_CHANGES = 20
CLIENTS = 4


def test_zero_failed_requests_while_the_weight_changes_20_times(platform: LocalPlatform) -> None:
    platform.workloads.apply(TrackSpec("canary", "2.0.0-canary", 1))
    platform.workloads.wait_ready("canary", 30)
    stop = threading.Event()
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def load() -> None:
        # A new connection per request: each one lands on whichever workers nginx runs now.
        while not stop.is_set():
            try:
                with https_client(platform) as client:
                    response = client.get("/api/version")
                outcome = f"{response.status_code} {response.json()['track']}"
            except httpx.HTTPError as exc:
                outcome = f"error {type(exc).__name__}: {exc}"
            with lock:
                outcomes[outcome] += 1

    threads = [threading.Thread(target=load) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        for change in range(WEIGHT_CHANGES):
            platform.router.apply(Routing(canary_active=True, canary_weight=(change * 37) % 101))
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        platform.router.apply(Routing())
        platform.workloads.remove("canary")

    failures = {outcome: n for outcome, n in outcomes.items() if not outcome.startswith("200 ")}
    assert not failures, failures
    assert outcomes["200 stable"] > 50
    assert outcomes["200 canary"] > 10
    assert platform.ingress.served_generation() is not None


def test_once_apply_returns_no_new_connection_sees_the_old_routing(
    platform: LocalPlatform,
) -> None:
    """An old nginx worker may accept a connection until it takes the reload's signal: `apply`
    must not return before then (a smoke test once reached stable right after the canary pool
    was added)."""
    platform.workloads.apply(TrackSpec("canary", "2.0.0-fresh", 1))
    platform.workloads.wait_ready("canary", 60)
    seen = []
    try:
        for _ in range(15):
            for routing, expected in (
                (Routing(canary_active=True), "canary"),
                (Routing(), "stable"),
            ):
                platform.router.apply(routing)
                with https_client(platform, headers={"X-Canary": "always"}) as client:
                    seen.append((expected, client.get("/api/version").json()["track"]))
    finally:
        platform.router.apply(Routing())
        platform.workloads.remove("canary")
    assert [pair for pair in seen if pair[0] != pair[1]] == []
