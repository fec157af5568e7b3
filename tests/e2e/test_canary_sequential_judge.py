"""The sequential judge end to end on the local platform: real nginx, Prometheus, backends.

(a) a canary failing 20% of its requests at 10% weight is rolled back within a few scrapes;
(d) good canaries are promoted on evidence, not rolled back.
"""

import itertools
from typing import Any

import pytest

from flightdeck.engines.local import LocalPlatform, local_target
from flightdeck.rollout.controller import Controller
from flightdeck.rollout.record import RolloutRecord
from flightdeck.rollout.spec import RolloutSpec
from flightdeck.routers import Routing
from testsupport.traffic import Traffic

pytestmark = pytest.mark.e2e

VERSIONS = (f"3.{n}.0" for n in itertools.count(1))


def spec(steps: list[dict[str, Any]]) -> RolloutSpec:
    return RolloutSpec.model_validate(
        {
            "strategy": {"steps": steps},
            "analysis": {
                "judge": "sequential",
                "interval": "2s",
                "inconclusive": {"policy": "pause", "limit": 10},
            },
            "smoke_tests": {"enabled": False},
            "timeouts": {"candidate_ready": "30s", "baseline_ready": "60s"},
        }
    )


def drive(platform: LocalPlatform, rollout: RolloutSpec, env: dict[str, str]) -> RolloutRecord:
    config = platform.config.run_dir.parent / "flightdeck.yaml"
    controller = Controller(local_target(config))
    record = controller.start(rollout, next(VERSIONS), env)
    return controller.run(record.name, lambda _: None, poll=0.5)


def seconds_between(record: RolloutRecord, first: str, then: str) -> float:
    def at(prefix: str) -> float:
        return next(e.at.timestamp() for e in record.events if e.message.startswith(prefix))

    return at(then) - at(first)


@pytest.fixture(autouse=True)
def clean_routing(platform: LocalPlatform) -> Any:
    yield
    platform.router.apply(Routing())
    platform.workloads.remove("canary")


def test_a_failing_canary_is_rolled_back_within_a_few_scrapes(platform: LocalPlatform) -> None:
    rollout = spec([{"weight": 10, "hold": "60s"}, {"weight": 50, "hold": "10s"}])
    with (
        Traffic(platform, rate=50),
        Traffic(platform, rate=10, headers={"X-Canary": "never"}) as stable,
    ):
        record = drive(platform, rollout, {"FAULT_ERROR_RATE": "0.2"})
    assert record.phase == "RolledBack", record.events
    assert (record.reason or "").startswith("analysis failed at 10%: error_rate")
    # The platform scrapes every second: a handful of scrapes, far less than the 60 s hold.
    assert seconds_between(record, "step 1/", "weight 0") < 15
    decided = record.analyses[-1]
    assert decided.result == "fail"
    compared = next(c for c in decided.checks if c["name"] == "error_rate_vs_baseline")
    assert compared["counts"]["candidate_errors"] >= 1
    assert compared["counts"]["baseline_requests"] > compared["counts"]["candidate_requests"]
    assert stable.failures() == {}, stable.outcomes
    assert platform.router.current() == Routing()


def test_good_canaries_are_promoted_on_evidence(platform: LocalPlatform) -> None:
    rollout = spec([{"weight": 25, "hold": "5s"}, {"weight": 50, "hold": "5s"}])
    with Traffic(platform, rate=40) as traffic:
        records = [drive(platform, rollout, {}) for _ in range(2)]
    assert [record.phase for record in records] == ["Succeeded", "Succeeded"], [
        record.events for record in records
    ]
    for record in records:
        passes = [run for run in record.analyses if run.result == "pass"]
        assert [run.step for run in passes] == [0, 1]
        for run in passes:  # a pass stands on counts, not on a window that happened to be quiet
            compared = next(c for c in run.checks if c["name"] == "error_rate_vs_baseline")
            assert compared["evidence"]["not_worse"] >= compared["needed"]["not_worse"]
    assert traffic.failures() == {}, traffic.outcomes
