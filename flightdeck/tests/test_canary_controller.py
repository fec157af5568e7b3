"""The rollout state machine, driven tick by tick with a controllable clock.

The controller is real, and so are its state store (files) and incident sink (JSON lines); the
routing, workloads and metrics are small in-memory stand-ins so that each decision can be staged.
"""

import json
from pathlib import Path

import pytest

from flightdeck.core.errors import ConfigError, PermanentError, RetryableError
from flightdeck.notify import Notifications
from flightdeck.rollout.controller import Controller
from flightdeck.rollout.spec import RolloutSpec
from flightdeck.routers import Routing
from flightdeck.state import LockedError
from flightdeck.workloads import TrackSpec
from testsupport.rollout_rig import SPEC, Rig, make_rig, run_for

pytestmark = pytest.mark.unit


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return make_rig(tmp_path)


def test_a_healthy_canary_goes_through_every_step_and_is_promoted(rig) -> None:
    controller, router, workloads, _, notifier, clock, _ = rig
    controller.start(SPEC, "2.0.0", {"FEATURE": "on"})
    assert run_for(controller, clock, 200) == "Succeeded"
    weights = [routing.canary_weight for routing in router.history]
    assert weights == [0, 10, 50, 100, 0]
    assert router.routing == Routing()
    assert workloads.tracks == {"stable": TrackSpec("stable", "2.0.0", 2, {"FEATURE": "on"})}
    assert notifier.sent == [("info", "Rollout of 2.0.0 promoted")]
    metrics_text = (Path(controller.target.metrics_dir or "") / "rollout-backend.prom").read_text()
    assert 'flightdeck_rollout_phase{phase="Succeeded",rollout="backend"} 1.0' in metrics_text


def test_a_step_is_not_left_before_its_hold_and_a_passing_window(rig) -> None:
    controller, router, *_, clock, _ = rig
    controller.start(SPEC, "2.0.0", {})
    run_for(controller, clock, 50)
    assert router.routing.canary_weight == 10  # 50 s into a 60 s hold


def test_a_failing_window_rolls_back_with_weight_zero_first(rig) -> None:
    controller, router, workloads, metrics, notifier, clock, incidents = rig
    controller.start(SPEC, "2.0.0", {})
    controller.tick("backend")
    metrics.canary["error_rate"] = 0.2
    assert run_for(controller, clock, 40) == "RolledBack"
    record = controller.load("backend")
    assert record is not None
    assert "error_rate 20.00%" in (record.reason or "")
    assert router.history[-1] == Routing()
    assert "canary" not in workloads.tracks
    assert workloads.tracks["stable"].version == "1.0.0"
    assert notifier.sent[-1][0] == "critical"
    metrics_text = (Path(controller.target.metrics_dir or "") / "rollout-backend.prom").read_text()
    assert "flightdeck_rollout_rollbacks_total" in metrics_text
    assert "flightdeck_rollout_check_result{" not in metrics_text  # nothing checked any more
    incident = json.loads(incidents.read_text().splitlines()[-1])
    assert incident["title"] == "Rollout of 2.0.0 rolled back"
    assert incident["details"]["stable_version"] == "1.0.0"


def test_zero_traffic_is_inconclusive_pauses_and_never_promotes(rig) -> None:
    controller, router, _, metrics, _, clock, _ = rig
    metrics.canary["requests"] = None
    controller.start(SPEC, "2.0.0", {})
    assert run_for(controller, clock, 600) == "Paused"
    assert max(routing.canary_weight for routing in router.history) == 10
    record = controller.load("backend")
    assert record is not None
    assert {run.result for run in record.analyses} == {"inconclusive"}

    metrics.canary["requests"] = 100
    controller.request("backend", "resume")
    assert run_for(controller, clock, 200) == "Succeeded"


def test_inconclusive_windows_roll_back_when_the_policy_says_so(rig) -> None:
    controller, _, _, metrics, _, clock, _ = rig
    metrics.canary["requests"] = 2
    data = SPEC.model_dump()
    data["analysis"]["inconclusive"] = {"policy": "rollback", "limit": 2}
    spec = RolloutSpec.model_validate(data)
    controller.start(spec, "2.0.0", {})
    assert run_for(controller, clock, 200) == "RolledBack"


def test_a_crashed_canary_is_rolled_back(rig) -> None:
    controller, _, workloads, _, _, clock, _ = rig
    controller.start(SPEC, "2.0.0", {})
    controller.tick("backend")
    workloads.crashed = True
    assert run_for(controller, clock, 10) == "RolledBack"
    record = controller.load("backend")
    assert record is not None
    assert "crashed" in (record.reason or "")


def test_abort_and_promote_requests(rig) -> None:
    controller, router, workloads, *_ = rig
    controller.start(SPEC, "2.0.0", {})
    controller.tick("backend")
    controller.request("backend", "abort")
    assert controller.tick("backend").phase == "Aborted"
    assert router.routing == Routing()

    controller.start(SPEC, "3.0.0", {})
    controller.tick("backend")
    controller.request("backend", "promote")
    assert controller.tick("backend").phase == "Succeeded"
    assert workloads.tracks["stable"].version == "3.0.0"


def test_a_second_controller_is_refused_and_a_second_rollout_too(rig) -> None:
    controller, *_ = rig
    controller.start(SPEC, "2.0.0", {})
    with (
        controller.target.state.lock("backend"),
        pytest.raises(LockedError, match="another controller"),
    ):
        controller.tick("backend")
    with pytest.raises(ConfigError, match="already Initializing"):
        controller.start(SPEC, "2.1.0", {})
    with pytest.raises(ConfigError, match="already the serving version"):
        Controller(controller.target).start(SPEC.model_copy(update={"name": "other"}), "1.0.0", {})


def test_a_new_controller_resumes_from_the_record(rig) -> None:
    controller, router, _, _, _, clock, _ = rig
    controller.start(SPEC, "2.0.0", {})
    run_for(controller, clock, 70)
    assert router.routing.canary_weight == 50
    successor = Controller(controller.target, clock)  # the first one "died" between ticks
    assert run_for(successor, clock, 200) == "Succeeded"


def test_a_promotion_under_way_cannot_be_aborted(rig) -> None:
    controller, _, workloads, *_ = rig
    controller.start(SPEC, "2.0.0", {})
    controller.tick("backend")
    workloads.stable_not_ready_yet = True  # the promotion stops while replacing stable
    controller.request("backend", "promote")
    record = controller.tick("backend")
    assert record.phase == "Promoting"
    assert record.promotion_stage == "replace-stable"
    with pytest.raises(ConfigError, match="can't be aborted"):
        controller.request("backend", "abort")
    controller.target.state.request("backend", "abort")  # e.g. left by an older client
    assert controller.tick("backend").phase == "Succeeded"
    assert workloads.tracks["stable"].version == "2.0.0"


def test_a_tick_uses_the_spec_stored_in_the_record(rig: Rig) -> None:
    """`start --detach`, then a scheduler's `tick` that knows no spec: the rollout's own
    notifications are used, never defaults."""
    controller, _, _, metrics, notifier, clock, _ = rig
    spec = SPEC.model_copy(
        update={"notifications": Notifications(urls=["json://hooks.example/rollouts"])}
    )
    controller.start(spec, "2.0.0", {})
    scheduler = Controller(controller.target, clock)  # a fresh process, no spec in hand
    metrics.canary["error_rate"] = 0.5
    assert run_for(scheduler, clock, 120) == "RolledBack"
    assert notifier.sent
    assert {tuple(n.urls) for n in notifier.configured} == {("json://hooks.example/rollouts",)}


@pytest.mark.parametrize(("policy", "phase"), [("rollback", "RolledBack"), ("pause", "Paused")])
def test_a_permanent_error_follows_the_declared_policy(rig: Rig, policy: str, phase: str) -> None:
    controller, router, _, _, _, clock, _ = rig
    spec = SPEC.model_copy(update={"on_error": policy})
    controller.start(spec, "2.0.0", {})
    controller.tick("backend")  # at 10%
    router.fail_with = PermanentError("the canary Ingress was deleted")
    clock.advance(70)
    record = controller.tick("backend")
    if policy == "rollback":
        router.fail_with = None  # the rollback itself needs the router
        record = controller.tick("backend")
    assert record.phase == phase
    assert "the canary Ingress was deleted" in (record.reason or record.events[-1].message)


def test_the_record_stays_bounded_during_a_long_outage(rig: Rig) -> None:
    controller, _, _, metrics, _, clock, _ = rig
    controller.start(SPEC, "2.0.0", {})
    controller.tick("backend")
    metrics.fail_with = RetryableError("prometheus: connection refused")
    for _ in range(2000):
        clock.advance(31)
        controller.tick("backend")
    record = controller.load("backend")
    assert record is not None
    retries = [e for e in record.events if "connection refused" in e.message]
    assert len(retries) == 1
    assert retries[0].count == 2000
    assert len(json.dumps(record.model_dump(mode="json"))) < 64 * 1024


def test_promotion_never_routes_everything_to_one_canary_replica(rig: Rig) -> None:
    controller, router, _, _, _, clock, _ = rig
    controller.start(SPEC, "2.0.0", {})
    assert run_for(controller, clock, 300) == "Succeeded"
    at_100 = [
        replicas
        for routing, replicas in zip(router.history, router.canary_replicas_seen, strict=False)
        if routing.canary_weight == 100
    ]
    assert at_100 == [2]  # stable's replica count


def test_a_canary_that_fails_its_smoke_tests_never_takes_weighted_traffic(rig) -> None:
    controller, router, workloads, _, _, clock, _ = rig
    workloads.smoke_ok = False
    data = SPEC.model_dump()
    data["smoke_tests"]["enabled"] = True
    controller.start(RolloutSpec.model_validate(data), "2.0.0", {})
    assert run_for(controller, clock, 60) == "RolledBack"
    assert all(routing.canary_weight == 0 for routing in router.history)
    assert "canary" not in workloads.tracks
    final = controller.load("backend")
    assert final is not None
    assert final.reason == "smoke test test 0 failed: ok"
    assert sum("FAILED" in event.message for event in final.events) == 5
