"""The HistoryStore contract on every implementation (a real FerretDB, a JSON-lines file), and the
MongoDB store's promises: a database that is down never fails a rollout, alerts reach the history
through the receiver, and the backups include the history."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from flightdeck.core.errors import PermanentError, RetryableError
from flightdeck.engines.receiver import AlertHistory
from flightdeck.history import (
    HistoryEntry,
    HistoryStore,
    history_store,
    record_incident,
    record_pipeline_run,
)
from flightdeck.history.jsonl import JsonlHistoryStore
from flightdeck.history.mongodb import COLLECTION, MongoHistoryStore
from flightdeck.history.writer import HistoryWriter
from flightdeck.local.receiver import ReceiverServer
from flightdeck.rollout.controller import Controller
from flightdeck.rollout.delivery import DeliveryRecorder
from testsupport.backup import BackupEnv
from testsupport.ferretdb import FerretDB
from testsupport.ports import free_port
from testsupport.rollout_rig import SPEC, make_rig, run_for
from testsupport.waiting import wait_until

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def entry(number: int, minutes: float = 0, kind: str = "rollout.started") -> HistoryEntry:
    return HistoryEntry.model_validate(
        {
            "id": f"rollout:backend@{number}:{kind}",
            "kind": kind,
            "at": T0 + timedelta(minutes=minutes),
            "rollout": f"backend@{number}",
            "version": f"1.{number}.0",
            "reason": "analysis failed at 10%: p95 0.61 s > 0.5 s; é",
            "details": {"weight": 10, "checks": [{"name": "p95", "value": 0.61}]},
        }
    )


def database_name() -> str:
    return f"history_{uuid.uuid4().hex[:10]}"


@pytest.fixture(params=["mongodb", "jsonl"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, ferretdb: FerretDB
) -> Iterator[HistoryStore]:
    if request.param == "jsonl":
        yield history_store("jsonl", tmp_path / "history.jsonl")
        return
    mongo = history_store("mongodb", ferretdb.uri, database_name())
    yield mongo
    assert isinstance(mongo, MongoHistoryStore)
    mongo.close()


def test_an_empty_history_reads_as_nothing(store: HistoryStore) -> None:
    assert store.read() == []


def test_entries_round_trip_oldest_first(store: HistoryStore) -> None:
    later, earlier = entry(2, minutes=5), entry(1, minutes=1)
    store.append(later)
    store.append(earlier)
    assert store.read() == [earlier, later]
    assert store.read()[0].at.tzinfo is not None


def test_appending_an_entry_twice_keeps_one(store: HistoryStore) -> None:
    store.append(entry(1))
    store.append(entry(1))
    changed = entry(1).model_copy(update={"reason": "a retry never rewrites history"})
    store.append(changed)
    assert store.read() == [entry(1)]


def test_reading_since_a_time(store: HistoryStore) -> None:
    for number in range(5):
        store.append(entry(number, minutes=10 * number))
    assert [e.version for e in store.read(T0 + timedelta(minutes=20))] == [
        "1.2.0",
        "1.3.0",
        "1.4.0",
    ]


def test_the_pipeline_and_incident_apis_write_their_entries(store: HistoryStore) -> None:
    record_pipeline_run(
        store,
        "run-41",
        version="1.4.0",
        started_at=T0,
        finished_at=T0 + timedelta(minutes=17),
        outcome="succeeded",
        commit="89abcdef01",
        committed_at=T0 - timedelta(hours=3),
    )
    record_incident(store, "inc-7", title="checkout slow", started_at=T0, severity="warning")
    assert [e.kind for e in store.read()] == ["change", "incident", "pipeline.run"]


def test_an_unknown_store_is_refused_with_the_known_ones() -> None:
    from flightdeck.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown history store 'sqlite' \(known: jsonl, mongo"):
        history_store("sqlite", "x")


def test_a_corrupt_line_names_itself_but_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    store = JsonlHistoryStore(path)
    store.append(entry(1))
    with path.open("a") as handle:
        handle.write('{"id": "rollout:cut-sh')  # a crash in the middle of a write
    assert store.read() == [entry(1)]
    path.write_text(path.read_text() + "\n" + entry(2).model_dump_json() + "\n")
    with pytest.raises(PermanentError, match="line 2"):
        store.read()


def test_a_database_that_is_down_is_a_retryable_error(
    ferretdb_factory: Callable[[], FerretDB],
) -> None:
    server = ferretdb_factory()
    store = MongoHistoryStore(server.uri, database_name(), timeout_ms=500)
    store.append(entry(1))
    server.stop()
    with pytest.raises(RetryableError, match="unreachable"):
        store.append(entry(2))
    with pytest.raises(RetryableError):
        store.read()
    assert "mongodb://" not in repr(store)
    server.start()
    store.append(entry(2))
    assert [e.version for e in store.read()] == ["1.1.0", "1.2.0"]
    store.close()


def test_a_database_down_during_a_rollout_never_fails_it(
    ferretdb_factory: Callable[[], FerretDB], tmp_path: Path
) -> None:
    server = ferretdb_factory()
    store = MongoHistoryStore(server.uri, database_name(), timeout_ms=300)
    controller, *_, clock, _ = make_rig(tmp_path)
    target = dataclasses.replace(controller.target, history=store)
    recorded = Controller(target, clock)
    recorded.history = DeliveryRecorder(store, target.metrics_dir, final_wait=3, first_pause=0.05)

    server.stop()
    recorded.start(SPEC, "2.0.0", {})
    assert run_for(recorded, clock, 60) == "Progressing"
    assert recorded.history.writer is not None
    recorded.history.writer.wait(20)  # the retries gave up (in the background)
    record = recorded.tick("backend")  # the next save reports it
    assert record is not None
    assert any("unreachable" in event.message for event in record.events), record.events

    server.start()
    assert run_for(recorded, clock, 200) == "Succeeded"
    kinds = [e.kind for e in store.read()]
    assert kinds == ["rollout.started", "rollout.traffic", "promotion", "rollout.finished"]
    store.close()


def test_alerts_reaching_the_receiver_are_history_entries(
    ferretdb: FerretDB, tmp_path: Path
) -> None:
    store = MongoHistoryStore(ferretdb.uri, database_name())
    writer = HistoryWriter(store)
    server = ReceiverServer(
        free_port(), tmp_path / "incidents.jsonl", tmp_path / "metrics", tmp_path / "tls",
        AlertHistory(writer),
    )  # fmt: skip
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        alert = {
            "fingerprint": "4fe2a1",
            "startsAt": "2026-03-01T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "status": "firing",
            "labels": {
                "alertname": "BackendTargetDown",
                "severity": "critical",
                "service": "backend",
            },
        }
        url = f"http://127.0.0.1:{server.server_address[1]}/alerts?receiver=webhook"
        response = httpx.post(url, json={"status": "firing", "alerts": [alert]}, timeout=10)
        assert response.status_code == 200
        resolved = {**alert, "status": "resolved", "endsAt": "2026-03-01T10:06:00Z"}
        httpx.post(url, json={"alerts": [resolved]}, timeout=10)
        httpx.post(url, json={"alerts": [resolved]}, timeout=10)  # a repeated notification
        entries = wait_until(lambda: len(store.read()) == 2 and store.read(), 20, what="alerts")
    finally:
        server.shutdown()
        server.server_close()
    firing, ended = entries
    assert (firing.kind, firing.reason, firing.severity) == (
        "alert",
        "BackendTargetDown",
        "critical",
    )
    assert firing.at == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert ended.finished_at == datetime(2026, 3, 1, 10, 6, tzinfo=UTC)
    assert len((tmp_path / "incidents.jsonl").read_text().splitlines()) == 3  # unchanged
    store.close()


def test_a_backup_includes_the_history_and_a_restore_brings_it_back(
    ferretdb: FerretDB, tmp_path: Path
) -> None:
    env = BackupEnv(tmp_path, ferretdb, None, database_name())
    store = MongoHistoryStore(ferretdb.uri, env.db)
    for number in range(3):
        store.append(entry(number, minutes=number))
    backup_id = env.run()
    manifest = json.loads(env.manifest_path(backup_id).read_text())
    assert manifest["collections"][COLLECTION]["count"] == 3
    restored = env.db + "_copy"
    env.cli("restore", backup_id, "--to", restored)
    assert MongoHistoryStore(ferretdb.uri, restored).read() == store.read()
    store.close()
