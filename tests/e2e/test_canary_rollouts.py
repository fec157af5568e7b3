"""Canary rollouts end to end on the local platform: real nginx, Prometheus, FerretDB, backends."""

import itertools
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from flightdeck.engines.local import LocalPlatform, local_target
from flightdeck.rollout.controller import Controller
from flightdeck.rollout.record import RolloutRecord
from flightdeck.rollout.spec import RolloutSpec
from flightdeck.routers import Routing
from testsupport.platform import https_client
from testsupport.processes import flightdeck_process
from testsupport.traffic import Traffic

VERSIONS = (f"2.{n}.0" for n in itertools.count(1))
FAST: dict[str, Any] = {
    "strategy": {"steps": [{"weight": 20, "hold": "4s"}, {"weight": 50, "hold": "4s"}]},
    "analysis": {
        "judge": "threshold",  # steps of a few seconds: a pass after a fixed time
        "interval": "2s",
        "window": "4s",
        "min_requests": 5,
        "inconclusive": {"policy": "pause", "limit": 3},
    },
    "timeouts": {"candidate_ready": "30s", "baseline_ready": "60s"},
}


def spec(**changes: Any) -> RolloutSpec:
    data = {**FAST, **changes}
    return RolloutSpec.model_validate(data)


def config_path(platform: LocalPlatform) -> Path:
    return platform.config.run_dir.parent / "flightdeck.yaml"


def controller(platform: LocalPlatform, rollout: RolloutSpec) -> Controller:
    return Controller(local_target(config_path(platform)))


def drive(
    platform: LocalPlatform,
    rollout: RolloutSpec,
    env: dict[str, str] | None = None,
    on_tick: Any = None,
) -> RolloutRecord:
    control = controller(platform, rollout)
    record = control.start(rollout, next(VERSIONS), env or {})
    return control.run(record.name, on_tick or (lambda _: None), poll=0.5)


@pytest.fixture(autouse=True)
def clean_routing(platform: LocalPlatform) -> Any:
    yield
    platform.router.apply(Routing())
    platform.workloads.remove("canary")


def test_a_good_canary_is_promoted_without_a_failed_stable_request(platform: LocalPlatform) -> None:
    routed: dict[str, str] = {}

    def check_routing(record: RolloutRecord) -> None:
        if record.phase == "Progressing" and not routed:
            with https_client(platform, headers={"X-Canary": "always"}) as client:
                routed["header"] = client.get("/api/version").json()["version"]
            with https_client(platform, cookies={"canary": "always"}) as client:
                routed["cookie"] = client.get("/api/version").json()["version"]

    with (
        Traffic(platform, rate=30) as mixed,
        Traffic(platform, rate=10, headers={"X-Canary": "never"}) as stable,
    ):
        record = drive(platform, spec(), on_tick=check_routing)
    assert record.phase == "Succeeded", record.events
    assert routed == {"header": record.version, "cookie": record.version}
    assert stable.failures() == {}, stable.outcomes
    assert stable.total() > 50
    assert mixed.failures() == {}, mixed.outcomes
    assert mixed.outcomes["200 canary"] > 0
    assert [run.result for run in record.analyses].count("pass") >= 2
    assert platform.workloads.get("stable").version == record.version  # type: ignore[union-attr]
    assert platform.workloads.get("canary") is None
    assert platform.router.current() == Routing()
    with https_client(platform) as client:
        assert client.get("/api/version").json() == {
            "version": record.version,
            "track": "stable",
            "commit": "unknown",
        }


def test_an_error_rate_fault_is_rolled_back(platform: LocalPlatform) -> None:
    before = platform.workloads.get("stable")
    with (
        Traffic(platform, rate=30),
        Traffic(platform, rate=10, headers={"X-Canary": "never"}) as stable,
    ):
        record = drive(
            platform, spec(smoke_tests={"enabled": False}), env={"FAULT_ERROR_RATE": "0.3"}
        )
    assert record.phase == "RolledBack", record.events
    assert "error_rate" in (record.reason or "")
    assert stable.failures() == {}, stable.outcomes
    assert platform.workloads.get("stable") == before
    assert platform.router.current() == Routing()
    incidents = platform.run_dir.incidents.read_text()
    assert f"Rollout of {record.version} rolled back" in incidents


def test_a_latency_fault_is_rolled_back(platform: LocalPlatform) -> None:
    with Traffic(platform, rate=30), Traffic(platform, rate=30):
        record = drive(platform, spec(), env={"FAULT_LATENCY_MS": "400"})
    assert record.phase == "RolledBack", record.events
    assert "p95" in (record.reason or "")


def test_a_canary_that_crashes_is_rolled_back(platform: LocalPlatform) -> None:
    killed: list[int] = []

    def crash(record: RolloutRecord) -> None:
        if record.phase == "Progressing" and not killed:
            info = platform.supervisor.process("backend-canary-0", "backend-canary-0")
            assert info is not None
            os.kill(info["pid"], signal.SIGKILL)
            killed.append(info["pid"])

    with Traffic(platform, rate=30):
        record = drive(platform, spec(), on_tick=crash)
    assert killed
    assert record.phase == "RolledBack", record.events
    assert "crashed" in (record.reason or "")


def test_a_smoke_test_failure_rolls_back_before_any_traffic(platform: LocalPlatform) -> None:
    record = drive(platform, spec(), env={"FAULT_ERROR_RATE": "1"})
    assert record.phase == "RolledBack"
    assert (record.reason or "").startswith("smoke test")
    assert record.analyses == []
    assert max(record.weight, 0) == 0


def test_zero_canary_traffic_is_inconclusive_and_never_promoted(platform: LocalPlatform) -> None:
    rollout = spec(smoke_tests={"enabled": False})
    control = controller(platform, rollout)
    record = control.start(rollout, next(VERSIONS), {})
    deadline = time.monotonic() + 60
    while record.phase != "Paused" and time.monotonic() < deadline:
        record = control.tick(record.name)
        time.sleep(0.5)
    assert record.phase == "Paused", record.events
    assert {run.result for run in record.analyses} == {"inconclusive"}
    assert record.weight == 20  # never beyond the first step
    control.request(record.name, "abort")
    assert control.tick(record.name).phase == "Aborted"


def flightdeck(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return flightdeck_process("canary", *args, **kwargs)


def test_a_killed_controller_resumes_and_a_second_one_is_refused(
    platform: LocalPlatform, tmp_path: Path
) -> None:
    spec_file = tmp_path / "rollout.yaml"
    slow = {
        **FAST,
        "strategy": {"steps": [{"weight": 20, "hold": "8s"}, {"weight": 50, "hold": "4s"}]},
    }
    spec_file.write_text(yaml.safe_dump(slow))
    common = ["--config", str(config_path(platform))]
    version = next(VERSIONS)
    with (
        Traffic(platform, rate=30),
        Traffic(platform, rate=10, headers={"X-Canary": "never"}) as stable,
    ):
        created = flightdeck(
            "start", "--version", version, "--spec", str(spec_file), "--detach", *common
        )
        assert created.wait(60) == 0, created.communicate()
        first = flightdeck("watch", *common)
        control = controller(platform, RolloutSpec.model_validate(slow))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            record = control.load("backend")
            if record and record.phase == "Progressing" and record.analyses:
                break
            time.sleep(0.2)
        second = flightdeck("tick", *common)
        assert second.wait(60) == 3
        assert "driven by another controller" in second.communicate()[1]

        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = control.load("backend")
        assert killed_at is not None
        assert killed_at.phase == "Progressing"

        resumed = flightdeck("watch", *common)
        _, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err
    final = control.load("backend")
    assert final is not None
    assert final.phase == "Succeeded"
    assert final.version == version
    assert stable.failures() == {}, stable.outcomes
