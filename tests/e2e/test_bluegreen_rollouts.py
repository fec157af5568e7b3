"""Blue-green rollouts end to end on a local platform of their own, under continuous load.

Every request of the load is counted: the switch and the switch back must lose none at 200
requests per second. The platform is this module's own, since a blue-green rollout changes which
track serves (the session platform's other tests expect `stable`).
"""

from __future__ import annotations

import itertools
import signal
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from flightdeck.core.loadgen import LoadGenerator
from flightdeck.engines.local import LocalPlatform, local_target
from flightdeck.rollout.controller import Controller
from flightdeck.rollout.record import RolloutRecord
from flightdeck.rollout.spec import RolloutSpec
from testsupport.platform import running_platform
from testsupport.processes import flightdeck_process
from testsupport.traffic import Traffic
from testsupport.waiting import wait_until

pytestmark = pytest.mark.e2e

VERSIONS = (f"4.{n}.0" for n in itertools.count(1))
FAST: dict[str, Any] = {
    "strategy": {"type": "bluegreen", "monitor": "8s"},
    "analysis": {
        "judge": "threshold",  # steps of a few seconds: a pass after a fixed time
        "interval": "2s",
        "window": "4s",
        "min_requests": 5,
        "inconclusive": {"policy": "pause", "limit": 3},
        # Two cores shared with the other tests: P95s of tens of ms jump; judge ratios only
        # above 250 ms (the bad version below adds 300 ms).
        "thresholds": {"p95_ratio_floor_seconds": 0.25},
    },
    "timeouts": {"candidate_ready": "60s", "baseline_ready": "60s"},
}


def spec(**strategy: Any) -> RolloutSpec:
    return RolloutSpec.model_validate({**FAST, "strategy": {**FAST["strategy"], **strategy}})


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    with running_platform(
        tmp_path_factory.mktemp("bluegreen"),
        rate_limit={"requests_per_second": 5000, "burst": 5000},
        backup={"enabled": False},
    ) as started:
        yield started


def config_path(platform: LocalPlatform) -> Path:
    return platform.config.run_dir.parent / "flightdeck.yaml"


def load(platform: LocalPlatform, rate: float = 200, clients: int = 4) -> list[LoadGenerator]:
    """`rate` requests per second from several clients (one thread each cannot keep up)."""
    return [Traffic(platform, rate=rate / clients) for _ in range(clients)]


def drive(
    platform: LocalPlatform, rollout: RolloutSpec, env: dict[str, str] | None = None
) -> RolloutRecord:
    controller = Controller(local_target(config_path(platform)))
    record = controller.start(rollout, next(VERSIONS), env or {})
    return controller.run(record.name, lambda _: None, poll=0.2)


def outcomes(generators: list[LoadGenerator]) -> dict[str, int]:
    total: dict[str, int] = {}
    for generator in generators:
        for outcome, count in generator.outcomes.items():
            total[outcome] = total.get(outcome, 0) + count
    return total


def failures(generators: list[LoadGenerator]) -> dict[str, int]:
    return {k: v for k, v in outcomes(generators).items() if not k.startswith("200 ")}


def test_a_good_version_is_switched_to_without_losing_a_request(platform: LocalPlatform) -> None:
    before = platform.router.current().active
    with ExitStack() as stack:
        traffic = [stack.enter_context(generator) for generator in load(platform)]
        record = drive(platform, spec())
    assert record.phase == "Succeeded", (record.reason, record.events[-8:])
    new = record.candidate_track
    assert failures(traffic) == {}, outcomes(traffic)
    seen = outcomes(traffic)
    assert seen.get(f"200 {before}", 0) > 100, seen
    assert seen.get(f"200 {new}", 0) > 100, seen
    assert platform.router.current().active == new
    assert platform.workloads.get(before) is None  # the old colour is gone after the window
    assert platform.workloads.get(new).version == record.version  # type: ignore[union-attr]


def test_a_bad_version_is_switched_back_within_two_analysis_intervals(
    platform: LocalPlatform,
) -> None:
    serving = platform.router.current().active
    with ExitStack() as stack:
        traffic = [stack.enter_context(generator) for generator in load(platform)]
        record = drive(platform, spec(), {"FAULT_LATENCY_MS": "300"})
    assert record.phase == "RolledBack", record.events[-8:]
    assert "p95" in (record.reason or ""), record.reason
    assert record.switched_at is not None
    back = next(e.at for e in record.events if e.message.startswith("switched back"))
    interval = record.spec.analysis.interval
    assert back - record.switched_at <= 2 * interval + interval / 2, record.events
    assert failures(traffic) == {}, outcomes(traffic)
    assert platform.router.current().active == serving
    assert platform.workloads.get(record.candidate_track) is None


def test_a_version_failing_its_smoke_tests_never_takes_traffic(platform: LocalPlatform) -> None:
    serving = platform.router.current().active
    with Traffic(platform, rate=50) as traffic:
        record = drive(platform, spec(), {"FAULT_ERROR_RATE": "1"})
    assert record.phase == "RolledBack", record.events
    assert "smoke test" in (record.reason or "")
    assert record.switched_at is None
    assert set(traffic.outcomes) == {f"200 {serving}"}, traffic.outcomes


def flightdeck(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return flightdeck_process("bluegreen", *args, **kwargs)


def test_the_manual_gate_holds_until_promote_and_a_killed_controller_resumes(
    platform: LocalPlatform, tmp_path: Path
) -> None:
    spec_file = tmp_path / "bluegreen.yaml"
    gated = {**FAST, "strategy": {**FAST["strategy"], "auto_promotion": False, "monitor": "20s"}}
    spec_file.write_text(yaml.safe_dump(gated))
    common = ["--config", str(config_path(platform))]
    serving = platform.router.current().active
    controller = Controller(local_target(config_path(platform)))
    with Traffic(platform, rate=50) as traffic:
        created = flightdeck("start", "--version", next(VERSIONS), "--spec", str(spec_file),
                             "--detach", *common)  # fmt: skip
        assert created.wait(60) == 0, created.communicate()
        for _ in range(3):
            ticked = flightdeck("tick", *common)
            assert ticked.wait(120) == 0, ticked.communicate()
        record = controller.load("backend")
        assert record is not None
        assert record.phase == "Paused", record.events
        assert "manual approval" in record.events[-1].message
        assert set(traffic.outcomes) == {f"200 {serving}"}, traffic.outcomes

        promoted = flightdeck("promote", "--yes", *common)
        promoted.communicate(timeout=120)
        record = controller.load("backend")
        assert record is not None
        assert record.phase == "Monitoring", record.events

        watcher = flightdeck("watch", *common)
        wait_until(
            lambda: (r := controller.load("backend")) and r.step_passes >= 1,
            timeout=60,
            what="a clean window after the switch",
        )
        watcher.send_signal(signal.SIGKILL)
        watcher.wait(10)
        resumed = flightdeck("watch", *common)
        _, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err
    final = controller.load("backend")
    assert final is not None
    assert final.phase == "Succeeded", final.events
    assert traffic.failures() == {}, traffic.outcomes
    assert platform.router.current().active == final.candidate_track
