"""Prometheus scrapes every backend; a dead backend fires an alert that reaches the receiver."""

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from flightdeck.engines.local import LocalPlatform, local_history
from testsupport.waiting import wait_until as wait_for

T = TypeVar("T")


def prometheus(platform: LocalPlatform, path: str, **params: str) -> Any:
    url = f"http://127.0.0.1:{platform.config.ports.prometheus}{path}"
    response = httpx.get(url, params=params, timeout=10)
    response.raise_for_status()
    return response.json()["data"]


def wait_until(condition: Callable[[], T], timeout: float, interval: float = 1.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def backend_targets(platform: LocalPlatform) -> list[dict[str, Any]]:
    targets = prometheus(platform, "/api/v1/targets")["activeTargets"]
    return [t for t in targets if t["labels"]["job"] == "backend"]


def test_every_backend_replica_is_an_up_target_with_track_and_version(
    platform: LocalPlatform,
) -> None:
    replicas = platform.context.tracks.load()["stable"].replicas
    expected = {f"127.0.0.1:{replica.port}" for replica in replicas}

    def all_up() -> bool:
        targets = backend_targets(platform)
        up = {t["labels"]["instance"] for t in targets if t["health"] == "up"}
        return up == expected

    assert wait_until(all_up, timeout=30), backend_targets(platform)
    stable = platform.workloads.get("stable")
    assert stable is not None
    for target in backend_targets(platform):
        assert target["labels"]["track"] == "stable"
        assert target["labels"]["version"] == stable.version
    jobs = {t["labels"]["job"] for t in prometheus(platform, "/api/v1/targets")["activeTargets"]}
    assert {"backend", "prometheus", "alertmanager", "flightdeck"} <= jobs


def test_the_project_rules_are_loaded(platform: LocalPlatform) -> None:
    groups = prometheus(platform, "/api/v1/rules")["groups"]
    alerts = {
        rule["name"] for group in groups for rule in group["rules"] if rule["type"] == "alerting"
    }
    assert "BackendTargetDown" in alerts


def test_a_killed_backend_fires_an_alert_that_reaches_the_receiver(
    platform: LocalPlatform,
) -> None:
    replica = platform.context.tracks.load()["stable"].replicas[0]
    incidents_url = f"http://127.0.0.1:{platform.config.ports.receiver}/incidents"
    platform.supervisor.stop_process(replica.name, replica.name)
    try:

        def alert_received() -> list[dict[str, Any]]:
            return [
                alert
                for incident in httpx.get(incidents_url, timeout=5).json()
                for alert in incident.get("alerts", [])
                if alert["labels"].get("alertname") == "BackendTargetDown"
                and alert["labels"].get("instance") == f"127.0.0.1:{replica.port}"
                and alert["status"] == "firing"
            ]

        # The rule waits 2 minutes (`for: 2m`); Alertmanager then groups for a few seconds.
        received = wait_until(alert_received, timeout=240, interval=2)
    finally:
        platform.supervisor.start_process(replica.name, replica.name)
        platform.workloads.wait_ready("stable", 30)
    assert received, "BackendTargetDown never reached the receiver"
    assert received[0]["labels"]["track"] == "stable"
    assert received[0]["annotations"]["runbook_url"].endswith("BackendTargetDown.md")
    # The receiver also records it in the delivery history (the "first alert" of MTTD).
    fingerprint = received[0]["fingerprint"]
    history = local_history(platform.context)
    [entry] = wait_for(
        lambda: [e for e in history.read() if e.details.get("fingerprint") == fingerprint],
        timeout=30,
        what="the alert in the delivery history",
    )
    assert (entry.kind, entry.reason, entry.severity) == ("alert", "BackendTargetDown", "warning")
