"""The blue-green strategy, tick by tick on the rig (real controller, stand-in world)."""

from pathlib import Path
from typing import Any

import pytest

from flightdeck.core.tracks import TrackSpec
from flightdeck.rollout.controller import Controller
from flightdeck.rollout.spec import RolloutSpec
from flightdeck.routers import Routing
from testsupport.rollout_rig import Rig, make_rig, run_for

pytestmark = pytest.mark.unit


def bluegreen(**strategy: Any) -> RolloutSpec:
    return RolloutSpec.model_validate(
        {
            "strategy": {"type": "bluegreen", "monitor": "60s", **strategy},
            "analysis": {
                "judge": "threshold",
                "interval": "20s",
                "inconclusive": {"policy": "pause", "limit": 2},
            },
        }
    )


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return make_rig(tmp_path)


def test_a_good_green_is_switched_to_after_its_checks_and_blue_stays_up_for_the_monitor(
    rig: Rig,
) -> None:
    controller, router, workloads, _, notifier, clock, _ = rig
    record = controller.start(bluegreen(), "2.0.0", {"FEATURE": "on"})
    assert (record.candidate_track, record.baseline_track) == ("green", "stable")

    record = controller.tick("backend")
    assert record.phase == "Monitoring", record.events
    assert workloads.tracks["green"] == TrackSpec("green", "2.0.0", 2, {"FEATURE": "on"})
    assert router.history[0] == Routing("stable", preview="green")  # checks before traffic
    assert router.routing == Routing("green")  # the switch: everything at once
    assert record.baseline_figures == {"error_rate": 0.0, "p95_seconds": 0.05}

    assert run_for(controller, clock, 50) == "Monitoring"
    assert "stable" in workloads.tracks  # the old colour stands by for the whole window
    assert run_for(controller, clock, 30) == "Succeeded"
    assert "stable" not in workloads.tracks
    assert router.routing == Routing("green")
    assert notifier.sent == [("info", "Blue-green rollout of 2.0.0 promoted")]


def test_a_bad_green_is_switched_back_in_the_tick_of_the_decision(rig: Rig) -> None:
    controller, router, workloads, metrics, _, clock, incidents = rig
    controller.start(bluegreen(), "2.0.0", {})
    controller.tick("backend")
    assert router.routing == Routing("green")
    metrics.canary["error_rate"] = 0.2
    clock.advance(20)
    record = controller.tick("backend")
    assert record.phase == "RolledBack"
    assert "the monitor failed" in (record.reason or "")
    # The switch back came right after the switch, with nothing in between.
    assert router.history[-2:] == [Routing("green"), Routing("stable")]
    assert "green" not in workloads.tracks
    assert workloads.tracks["stable"].version == "1.0.0"
    assert incidents.read_text().count("Blue-green rollout of 2.0.0 rolled back") == 1


def test_a_green_that_fails_its_smoke_tests_never_takes_traffic(rig: Rig) -> None:
    controller, router, workloads, *_ = rig
    workloads.smoke_ok = False
    controller.start(bluegreen(), "2.0.0", {})
    assert controller.tick("backend").phase == "RolledBack"
    assert all(routing.active == "stable" for routing in router.history)
    assert "green" not in workloads.tracks


def test_the_manual_gate_holds_until_promote(rig: Rig) -> None:
    controller, router, _, _, _, clock, _ = rig
    controller.start(bluegreen(auto_promotion=False), "2.0.0", {})
    assert run_for(controller, clock, 3600, step=60) == "Paused"
    assert router.routing == Routing("stable", preview="green")
    controller.request("backend", "promote")
    assert controller.tick("backend").phase == "Monitoring"
    assert router.routing == Routing("green")


def test_the_gate_opens_itself_after_auto_promotion_seconds(rig: Rig) -> None:
    controller, router, _, _, _, clock, _ = rig
    controller.start(bluegreen(auto_promotion=False, auto_promotion_seconds="5m"), "2.0.0", {})
    assert run_for(controller, clock, 240, step=60) == "Paused"
    assert run_for(controller, clock, 60, step=60) == "Monitoring"
    assert router.routing == Routing("green")


def test_a_pre_promotion_analysis_loads_the_preview_and_compares_with_the_serving_track(
    rig: Rig,
) -> None:
    controller, router, workloads, metrics, _, clock, _ = rig
    controller.start(bluegreen(pre_promotion_analysis="40s"), "2.0.0", {})
    assert controller.tick("backend").phase == "Progressing"
    assert workloads.preview_loads == [("green", 20.0)]
    metrics.canary["p95_seconds"] = 0.9  # 18x the serving track's P95
    clock.advance(20)
    record = controller.tick("backend")
    assert record.phase == "RolledBack"
    assert "p95_vs_baseline" in (record.reason or "")
    assert all(routing.active == "stable" for routing in router.history)


def test_abort_before_the_switch_removes_green_and_keeps_stable(rig: Rig) -> None:
    controller, router, workloads, *_ = rig
    controller.start(bluegreen(auto_promotion=False), "2.0.0", {})
    controller.tick("backend")
    controller.request("backend", "abort")
    assert controller.tick("backend").phase == "Aborted"
    assert router.routing == Routing("stable")
    assert "green" not in workloads.tracks


def test_after_a_blue_green_rollout_the_next_one_uses_the_other_colour(rig: Rig) -> None:
    controller, _, workloads, _, _, clock, _ = rig
    controller.start(bluegreen(), "2.0.0", {})
    assert run_for(controller, clock, 120) == "Succeeded"
    workloads.tracks["green"] = TrackSpec("green", "2.0.0", 2)
    record = Controller(controller.target, clock).start(
        bluegreen().model_copy(update={"name": "backend"}), "3.0.0", {}
    )
    assert (record.candidate_track, record.baseline_track) == ("blue", "green")
    assert record.baseline_version == "2.0.0"
