"""The delivery history written by real rollouts on the local platform, and what people see of it:
`flightdeck kpi` and `flightdeck history`, the receiver's /metrics and Prometheus, and alerts that
reach the platform's receiver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from flightdeck.engines.local import LocalPlatform, local_history, local_target
from flightdeck.rollout.controller import Controller
from flightdeck.rollout.delivery import rollout_key
from flightdeck.rollout.record import RolloutRecord
from flightdeck.rollout.spec import RolloutSpec
from flightdeck.routers import Routing
from testsupport.traffic import Traffic
from testsupport.waiting import wait_until

pytestmark = pytest.mark.e2e

FAST: dict[str, Any] = {
    "name": "history",
    "strategy": {"steps": [{"weight": 20, "hold": "4s"}, {"weight": 50, "hold": "4s"}]},
    # Steps of a few seconds: the threshold judge passes after a fixed time.
    "analysis": {"judge": "threshold", "interval": "2s", "window": "4s", "min_requests": 5},
    "timeouts": {"candidate_ready": "30s", "baseline_ready": "60s"},
}
SPEC = RolloutSpec.model_validate(FAST)
# The bad version's 500s would fail a smoke test: it must take traffic to be a failed change.
NO_SMOKE = RolloutSpec.model_validate({**FAST, "smoke_tests": {"enabled": False}})


def flightdeck(platform: LocalPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    config = platform.config.run_dir.parent / "flightdeck.yaml"
    return subprocess.run(
        [sys.executable, "-m", "flightdeck", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},  # the table on one line per KPI
    )


@pytest.fixture(scope="module")
def rollouts(platform: LocalPlatform) -> tuple[datetime, RolloutRecord, RolloutRecord]:
    """A promotion and a rollback by analysis, under traffic, with the history written."""
    began = datetime.now(UTC)
    controller = Controller(local_target(platform.config.run_dir.parent / "flightdeck.yaml"))
    records = []
    try:
        with Traffic(platform, rate=30):
            for spec, version, env in (
                (SPEC, "3.1.0", {}),
                (NO_SMOKE, "3.2.0", {"FAULT_ERROR_RATE": "0.3"}),
            ):
                controller.start(spec, version, env)
                records.append(controller.run(SPEC.name, lambda _: None, poll=0.5))
    finally:
        platform.router.apply(Routing())
        platform.workloads.remove("canary")
    good, bad = records
    assert good.phase == "Succeeded", good.events
    assert bad.phase == "RolledBack", bad.events
    return began, good, bad


def test_each_rollout_writes_its_transitions_to_the_platforms_database(
    platform: LocalPlatform, rollouts: tuple[datetime, RolloutRecord, RolloutRecord]
) -> None:
    _, good, bad = rollouts
    entries = local_history(platform.context).read()
    by_rollout: dict[str, list[Any]] = {}
    for entry in entries:
        by_rollout.setdefault(entry.rollout or "", []).append(entry)
    promoted = by_rollout[rollout_key(good)]
    assert [e.kind for e in promoted] == [
        "rollout.started",
        "rollout.traffic",
        "promotion",
        "rollout.finished",
    ]
    assert promoted[0].at == good.started_at.replace(
        microsecond=good.started_at.microsecond // 1000 * 1000
    )
    assert good.finished_at is not None
    assert abs(promoted[-1].at - good.finished_at).total_seconds() < 0.001
    assert promoted[-1].outcome == "Succeeded"
    rolled_back = by_rollout[rollout_key(bad)]
    assert [e.kind for e in rolled_back] == [
        "rollout.started",
        "rollout.traffic",
        "rollback.decided",
        "rollback.restored",
        "rollout.finished",
    ]
    decided = rolled_back[2]
    assert decided.reason == bad.reason
    assert "error_rate" in (decided.reason or "")
    assert decided.details["weight"] == 20
    assert rolled_back[3].at >= decided.at  # weight 0 right after the decision
    assert sorted(good.history.written) == sorted(e.kind for e in promoted)
    assert not [e for e in bad.events if e.message.startswith("history:")]


def test_flightdeck_kpi_counts_them(
    platform: LocalPlatform, rollouts: tuple[datetime, RolloutRecord, RolloutRecord]
) -> None:
    began, good, bad = rollouts
    result = flightdeck(platform, "kpi", "--json", "--since", began.isoformat())
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    kpis = {kpi["key"]: kpi for kpi in report["kpis"]}
    assert report["counts"]["deployments"] == 1
    assert report["counts"]["production_changes"] == 2
    assert report["counts"]["failed_changes"] == 1
    assert [d["version"] for d in report["deployments"]] == [good.version]
    assert [f["change"] for f in report["failures"]] == [bad.version]
    assert kpis["change_failure_rate"]["value"] == 0.5
    assert kpis["change_failure_rate"]["met"] is False
    assert kpis["change_failure_rate"]["dora_level"] == "low"
    assert bad.history.traffic_at is not None
    assert bad.history.rollback_at is not None
    exposure = (bad.history.rollback_at - bad.history.traffic_at).total_seconds()
    assert kpis["mttd"]["value"] == pytest.approx(exposure, abs=0.002)  # milliseconds stored
    assert kpis["rollback_time"]["value"] < 60
    for key in ("availability", "p95_latency", "error_rate"):  # from the platform's Prometheus
        assert kpis[key]["value"] is not None, kpis[key]
    assert kpis["error_rate"]["value"] > 0  # the bad canary's 500s
    table = flightdeck(platform, "kpi", "--since", "1h")
    assert table.returncode == 0, table.stderr
    for kpi in report["kpis"]:
        assert kpi["label"] in table.stdout
    history = flightdeck(platform, "history", "--json", "--since", began.isoformat())
    kinds = [entry["kind"] for entry in json.loads(history.stdout)]
    assert kinds.count("rollout.started") == 2


def test_the_delivery_metrics_reach_prometheus(
    platform: LocalPlatform, rollouts: tuple[datetime, RolloutRecord, RolloutRecord]
) -> None:
    receiver = f"http://127.0.0.1:{platform.config.ports.receiver}"
    text = httpx.get(f"{receiver}/metrics", timeout=10).text
    assert "flightdeck_delivery_deployments_total" in text
    prometheus = f"http://127.0.0.1:{platform.config.ports.prometheus}"

    def deployments() -> float | None:
        answer = httpx.get(
            f"{prometheus}/api/v1/query",
            params={"query": "flightdeck_delivery_deployments_total"},
            timeout=10,
        ).json()["data"]["result"]
        return float(answer[0]["value"][1]) if answer else None

    assert wait_until(deployments, 30, what="the deployments counter in Prometheus") >= 1


def test_an_alert_at_the_platforms_receiver_is_recorded(platform: LocalPlatform) -> None:
    started = datetime.now(UTC).replace(microsecond=0)
    alert = {
        "status": "firing",
        "fingerprint": "e2e0alert",
        "startsAt": started.isoformat().replace("+00:00", "Z"),
        "labels": {"alertname": "BackendTargetDown", "severity": "critical", "service": "backend"},
    }
    url = f"http://127.0.0.1:{platform.config.ports.receiver}/alerts?receiver=pagerduty"
    assert httpx.post(url, json={"alerts": [alert]}, timeout=10).status_code == 200
    store = local_history(platform.context)

    def recorded() -> list[Any]:
        return [e for e in store.read(started) if e.kind == "alert"]

    [entry] = wait_until(recorded, 30, what="the alert in the history")
    assert (entry.reason, entry.severity, entry.at) == ("BackendTargetDown", "critical", started)
