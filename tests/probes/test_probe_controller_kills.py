"""Probe: a controller killed at any point of a rollout loses nothing.

The controller persists its record after every transition. Here it is killed at every one of
those points, once just before the write and once just after it, in a promotion, a rollback by
analysis and an abort, of a canary and of a blue-green rollout. A new controller then resumes
from the record, and the rollout must end exactly as an uninterrupted one does: the same final
phase, no traffic on a failed version, no new version left running beside the serving one, the
right version serving.

The controller and its file state store are real; the outside world (router, workloads,
metrics) is the rig's in-memory stand-ins, which survive the kill like the real ones would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flightdeck.rollout.controller import Controller
from flightdeck.rollout.spec import RolloutSpec
from flightdeck.routers import Routing
from flightdeck.state.file import FileStateStore
from testsupport.rollout_rig import SPEC, Flow, Rig, make_rig

pytestmark = pytest.mark.unit


class Killed(BaseException):
    """The process died: nothing in the controller may catch this."""


class KillingStore(FileStateStore):
    """A file state store whose process dies at its `kill_at`-th save, before or after writing."""

    def __init__(self, directory: Path, kill_at: int, after_write: bool) -> None:
        super().__init__(directory)
        self.kill_at = kill_at
        self.after_write = after_write
        self.saves = 0

    def save(self, name: str, record: dict[str, Any]) -> None:
        self.saves += 1
        if self.saves == self.kill_at and not self.after_write:
            raise Killed
        super().save(name, record)
        if self.saves == self.kill_at:
            raise Killed


@dataclass(frozen=True)
class Scenario:
    name: str
    stage: Callable[[Rig], None]  # what happens to the world while the rollout runs
    final_phase: str
    serving: Routing  # the routing at the end
    serving_version: str
    spec: RolloutSpec = SPEC


def healthy(rig: Rig) -> None:
    """Nothing goes wrong."""


def errors_after_the_first_step(rig: Rig) -> None:
    _, router, _, metrics, *_ = rig
    if router.routing.canary_weight >= 50 or router.routing.active == "green":
        metrics.canary["error_rate"] = 0.3  # the threshold judge's window
        metrics.flows["candidate"] = Flow(rate=5, error_share=0.3)  # the sequential judge's counts


def aborted_at_the_second_step(rig: Rig) -> None:
    controller, router, *_ = rig
    record = controller.load("backend")
    late = router.routing.canary_weight >= 50 or router.routing.active == "green"
    if late and record and not record.abort_requested and record.phase != "Finalising":
        controller.target.state.request("backend", "abort")


BLUE_GREEN = RolloutSpec.model_validate(
    {
        "strategy": {"type": "bluegreen", "monitor": "60s", "pre_promotion_analysis": "40s"},
        "analysis": {"judge": "threshold", "interval": "20s"},
    }
)
SEQUENTIAL = RolloutSpec.model_validate(
    {**SPEC.model_dump(mode="json"), "analysis": {"judge": "sequential", "interval": "30s"}}
)
SCENARIOS = [
    Scenario("canary promotion", healthy, "Succeeded", Routing("stable"), "2.0.0"),
    Scenario("canary rollback", errors_after_the_first_step, "RolledBack", Routing(), "1.0.0"),
    Scenario("canary abort", aborted_at_the_second_step, "Aborted", Routing(), "1.0.0"),
    Scenario("blue-green promotion", healthy, "Succeeded", Routing("green"), "2.0.0", BLUE_GREEN),
    Scenario(
        "blue-green rollback",
        errors_after_the_first_step,
        "RolledBack",
        Routing(),
        "1.0.0",
        BLUE_GREEN,
    ),
    Scenario(
        "blue-green abort", aborted_at_the_second_step, "Aborted", Routing(), "1.0.0", BLUE_GREEN
    ),
    # The sequential judge's evidence lives in the record too: a resumed controller goes on
    # from the blocks already judged.
    Scenario(
        "canary promotion, sequential judge",
        healthy,
        "Succeeded",
        Routing("stable"),
        "2.0.0",
        SEQUENTIAL,
    ),
    Scenario(
        "canary rollback, sequential judge",
        errors_after_the_first_step,
        "RolledBack",
        Routing(),
        "1.0.0",
        SEQUENTIAL,
    ),
]


def drive(rig: Rig, controller: Controller, stage: Callable[[Rig], None]) -> str:
    """Tick every 10 simulated seconds until the rollout ends (at most an hour)."""
    clock = rig[5]
    for _ in range(360):
        stage(rig)
        record = controller.tick("backend")
        if record.finished:
            return record.phase
        clock.advance(10)
    raise AssertionError("the rollout did not end within an hour")


def saves_of(scenario: Scenario, tmp_path: Path) -> int:
    rig = make_rig(tmp_path)
    counting = KillingStore(tmp_path / "state", kill_at=0, after_write=True)
    rig[0].target.state = counting
    rig[0].start(scenario.spec, "2.0.0", {})
    assert drive(rig, rig[0], scenario.stage) == scenario.final_phase
    return counting.saves


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_controller_killed_at_any_save_resumes_to_the_same_end(
    tmp_path: Path, scenario: Scenario
) -> None:
    total = saves_of(scenario, tmp_path / "uninterrupted")
    assert total >= 8, "the scenario should pass through several transitions"
    for kill_at in range(1, total + 1):
        for after_write in (False, True):
            where = tmp_path / f"kill-{kill_at}-{'after' if after_write else 'before'}"
            rig = make_rig(where)
            controller, router, workloads, *_ = rig
            controller.target.state = KillingStore(where / "state", kill_at, after_write)

            def start_and_drive(rig: Rig = rig) -> None:
                rig[0].start(scenario.spec, "2.0.0", {})
                drive(rig, rig[0], scenario.stage)

            with pytest.raises(Killed):
                start_and_drive()

            controller.target.state = FileStateStore(where / "state")
            successor = Controller(controller.target, controller.clock)
            case = f"killed {'after' if after_write else 'before'} save {kill_at}/{total}"
            if successor.load("backend") is None:
                # Killed before the first record was written: the rollout never began.
                assert (kill_at, after_write) == (1, False), case
                assert workloads.tracks["stable"].version == "1.0.0", case
                continue
            assert drive(rig, successor, scenario.stage) == scenario.final_phase, case
            assert router.routing == scenario.serving, case
            assert set(workloads.tracks) == {scenario.serving.active}, case
            assert workloads.tracks[scenario.serving.active].version == scenario.serving_version
