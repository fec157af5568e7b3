"""The controller's delivery history hook, on the rollout rig: the entries each rollout writes, at
the right transitions and times, never twice, and never at the cost of the rollout."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path

import pytest

from flightdeck.core.errors import RetryableError
from flightdeck.history import HistoryEntry
from flightdeck.history.jsonl import JsonlHistoryStore
from flightdeck.history.kpis import delivery_figures
from flightdeck.rollout.controller import Controller
from flightdeck.rollout.delivery import DeliveryRecorder
from flightdeck.rollout.smoke import SmokeResult
from testsupport.rollout_rig import SPEC, Rig, make_rig, run_for

pytestmark = pytest.mark.unit


class FlakyStore(JsonlHistoryStore):
    """A real JSON-lines history that refuses writes while `down` (a database that is down)."""

    down = False

    def append(self, entry: HistoryEntry) -> None:
        if self.down:
            raise RetryableError("connection refused")
        super().append(entry)


@pytest.fixture
def rig(tmp_path: Path) -> tuple[Rig, FlakyStore]:
    controller, *rest = make_rig(tmp_path)
    store = FlakyStore(tmp_path / "history.jsonl")
    target = dataclasses.replace(controller.target, history=store)
    recorded = Controller(target, controller.clock)
    # Short pauses between attempts, so that a failing store costs the test little time.
    recorded.history = DeliveryRecorder(
        store, target.metrics_dir, final_wait=2, attempts=2, first_pause=0.01
    )
    return (recorded, *rest), store  # type: ignore[return-value]


def kinds(store: JsonlHistoryStore) -> list[str]:
    return [entry.kind for entry in store.read()]


def test_a_promotion_writes_its_start_first_traffic_promotion_and_end(rig) -> None:
    (controller, _, _, _, _, clock, _), store = rig
    started = clock.now
    controller.start(SPEC, "2.0.0", {})
    assert run_for(controller, clock, 200) == "Succeeded"
    record = controller.load("backend")
    assert record is not None
    entries = store.read()
    assert [e.kind for e in entries] == [
        "rollout.started",
        "rollout.traffic",
        "promotion",
        "rollout.finished",
    ]
    assert entries[0].at == started
    assert entries[1].at == started  # the first tick takes the canary to 10%
    assert entries[2].at == entries[3].at == record.finished_at
    assert {e.rollout for e in entries} == {f"backend@{started:%Y%m%dT%H%M%S.%fZ}"}
    assert all(e.version == "2.0.0" and e.baseline_version == "1.0.0" for e in entries)
    assert entries[3].outcome == "Succeeded"
    assert entries[3].decision == "promote"
    assert entries[3].reason == "every step passed its analysis"
    assert sorted(record.history.written) == sorted(e.kind for e in entries)
    lines = (store.path.read_text()).splitlines()
    assert len(lines) == len(entries), "every entry written once"
    metrics = (Path(controller.target.metrics_dir or "") / "delivery.prom").read_text()
    assert "flightdeck_delivery_deployments_total 1.0" in metrics


def test_a_rollback_by_analysis_writes_the_decision_with_its_reason_and_the_restore(rig) -> None:
    (controller, _, _, metrics, _, clock, _), store = rig
    controller.start(SPEC, "2.0.0", {})
    controller.tick("backend")
    exposed = clock.now
    metrics.canary["error_rate"] = 0.2
    assert run_for(controller, clock, 40) == "RolledBack"
    entries = {entry.kind: entry for entry in store.read()}
    assert list(entries) == [
        "rollout.started",
        "rollout.traffic",
        "rollback.decided",
        "rollback.restored",
        "rollout.finished",
    ]
    decided = entries["rollback.decided"]
    assert decided.decision == "rollback"
    assert "error_rate 20.00%" in (decided.reason or "")
    assert decided.details == {"weight": 10}
    assert entries["rollout.traffic"].at == exposed
    assert entries["rollback.restored"].at == decided.at  # weight 0 in the same tick
    assert entries["rollout.finished"].outcome == "RolledBack"
    figures = delivery_figures(store.read(), exposed, clock.now)
    assert figures.change_failure_rate == 1.0
    assert figures.mttd == (decided.at - exposed).total_seconds()
    assert figures.rollback_time == 0


def test_a_smoke_test_failure_is_a_rollback_before_any_traffic(rig) -> None:
    (controller, _, _, _, _, clock, _), store = rig
    controller.target.smoke = lambda track, version, timeout: [
        SmokeResult("create a note", False, "500")
    ]
    controller.start(SPEC, "2.0.0", {})
    assert controller.tick("backend").phase == "RolledBack"
    assert "rollout.traffic" not in kinds(store)
    hour = timedelta(hours=1)
    figures = delivery_figures(store.read(), clock.now - hour, clock.now + hour)
    assert figures.changes == []
    assert len(figures.rollbacks_before_traffic) == 1


def test_an_abort_is_recorded_as_a_decision_of_a_person(rig) -> None:
    (controller, *_), store = rig
    controller.start(SPEC, "2.0.0", {})
    controller.tick("backend")
    controller.request("backend", "abort")
    assert controller.tick("backend").phase == "Aborted"
    decided = next(e for e in store.read() if e.kind == "rollback.decided")
    assert (decided.decision, decided.reason) == ("abort", "aborted by request")


def test_a_history_that_is_down_never_fails_the_rollout_and_is_caught_up_later(rig) -> None:
    (controller, _, _, _, _, clock, _), store = rig
    store.down = True
    controller.start(SPEC, "2.0.0", {})
    run_for(controller, clock, 60)
    record = controller.load("backend")
    assert record is not None
    assert record.phase == "Progressing"
    assert record.history.written == []
    failures = [e.message for e in record.events if e.message.startswith("history:")]
    assert failures, record.events
    assert "connection refused" in failures[0]
    assert store.read() == []

    store.down = False  # the database is back: the next saves write what is missing
    assert run_for(controller, clock, 200) == "Succeeded"
    assert kinds(store) == ["rollout.started", "rollout.traffic", "promotion", "rollout.finished"]


def test_a_history_down_until_the_end_is_reported_in_the_record(rig) -> None:
    (controller, _, _, _, _, clock, _), store = rig
    store.down = True
    controller.start(SPEC, "2.0.0", {})
    assert run_for(controller, clock, 200) == "Succeeded"
    record = controller.load("backend")
    assert record is not None
    assert record.events[-1].message.startswith("history: not written when the rollout ended")
    assert "rollout.finished" in record.events[-1].message
    assert store.read() == []


def test_a_resumed_controller_writes_nothing_twice(rig, tmp_path: Path) -> None:
    (controller, _, _, _, _, clock, _), store = rig
    controller.start(SPEC, "2.0.0", {})
    run_for(controller, clock, 70)
    controller.history.writer.wait(5)  # type: ignore[union-attr]
    # A new controller (a new process) with no memory of what the first one wrote.
    resumed = Controller(controller.target, clock)
    resumed.history = DeliveryRecorder(store, None, final_wait=2)
    assert run_for(resumed, clock, 200) == "Succeeded"
    lines = [json.loads(line)["id"] for line in store.path.read_text().splitlines()]
    assert len(lines) == len(set(lines)) == 4
