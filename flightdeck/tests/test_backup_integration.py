"""Backups end to end with real FerretDB, Azurite, mongodump and mongorestore, via the CLI."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from flightdeck.backup import engine
from flightdeck.backup.lock import backup_lock
from testsupport.azurite import Azurite, start_azurite
from testsupport.backup import BackupEnv, digests, indexes, seed
from testsupport.ferretdb import FerretDB

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    yield server
    server.stop()


@pytest.fixture
def env(
    request: pytest.FixtureRequest, tmp_path: Path, ferretdb: FerretDB, azurite: Azurite
) -> BackupEnv:
    name = "bk_" + request.node.name.replace("test_", "")[:30].replace("[", "_").strip("]")
    return BackupEnv(tmp_path, ferretdb, azurite, name)


def test_round_trip_through_azure_gives_identical_content(env: BackupEnv) -> None:
    seed(env.uri, env.db)
    backup_id = env.cli("run").stdout.strip()
    listed = json.loads(env.cli("list", "--json").stdout)
    assert [e["id"] for e in listed] == [backup_id]
    [entry] = env.listed()
    assert entry["id"] == backup_id
    assert entry["stores"] == ["local", "azure"]
    manifest = json.loads((env.local / f"{backup_id}.manifest.json").read_text())
    assert manifest["collections"]["notes"]["count"] == 200
    assert manifest["collections"]["files"]["count"] == 20
    assert manifest["collections"]["empty"]["count"] == 0
    assert manifest["oplog"] is False  # FerretDB is not a replica set
    assert "mongodump" in manifest["tools"]
    assert manifest["stored_size"] == env.object_path(backup_id).stat().st_size

    env.cli("verify", backup_id, "--from", "azure")
    assert env.listed()[0]["verified"] is True
    restored = env.db + "_copy"
    result = env.cli("restore", backup_id, "--to", restored, "--from", "azure")
    assert "(RTO)" in result.stderr
    assert digests(env.uri, restored) == digests(env.uri, env.db)
    assert indexes(env.uri, restored) == indexes(env.uri, env.db)
    assert digests(env.uri, env.db)["notes"][1] == manifest["collections"]["notes"]["content_hash"]

    prom = (env.metrics / "backup.prom").read_text()
    assert f"flightdeck_backup_last_size_bytes {float(manifest['stored_size'])}" in prom
    assert "flightdeck_backup_last_verify_success 1.0" in prom
    assert "flightdeck_backup_failures_total 0.0" in prom


def test_restore_refuses_a_non_empty_target_without_drop(env: BackupEnv) -> None:
    seed(env.uri, env.db, docs=20)
    env.run()
    with MongoClient(env.uri) as client:
        client[env.db].notes.insert_one({"_id": "added later"})
    refused = env.cli("restore", "latest", ok=False)
    assert refused.returncode == 2
    assert "not empty" in refused.stderr
    assert "--drop" in refused.stderr
    with MongoClient(env.uri) as client:
        assert client[env.db].notes.count_documents({}) == 21
    env.cli("restore", "latest", "--drop")
    with MongoClient(env.uri) as client:
        assert client[env.db].notes.count_documents({}) == 20
        assert client[env.db].notes.count_documents({"_id": "added later"}) == 0


def test_tampered_and_truncated_objects_fail_verify(env: BackupEnv) -> None:
    seed(env.uri, env.db, docs=20)
    backup_id = env.run()
    path = env.object_path(backup_id)
    original = path.read_bytes()

    tampered = bytearray(original)
    tampered[len(tampered) // 2] ^= 0x01
    path.write_bytes(bytes(tampered))
    failed = env.cli("verify", backup_id, "--from", "local", ok=False)
    assert failed.returncode == 1
    assert "SHA-256 mismatch" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert "flightdeck_backup_last_verify_success 0.0" in (env.metrics / "backup.prom").read_text()

    path.write_bytes(original[: len(original) - 1000])
    failed = env.cli("verify", backup_id, "--from", "local", ok=False)
    assert failed.returncode == 1
    assert "truncated" in failed.stderr
    assert env.listed()[0]["verified"] is False

    path.write_bytes(original)  # the Azure copy and the restored local copy still verify
    engine.verify_backup(env.settings(), backup_id, "azure")
    engine.verify_backup(env.settings(), backup_id, "local")


def test_wrong_key_gives_a_clear_error(env: BackupEnv) -> None:
    seed(env.uri, env.db, docs=10)
    env.run()
    other = base64.b64encode(os.urandom(32)).decode()
    for command in (["verify"], ["restore", "--to", env.db + "_x"]):
        failed = env.cli(*command, ok=False, FLIGHTDECK_BACKUP_KEY=other)
        assert failed.returncode == 1
        assert "cannot decrypt: wrong key or corrupted backup" in failed.stderr
        assert "Traceback" not in failed.stderr
        assert other not in failed.stderr + failed.stdout
    with MongoClient(env.uri) as client:
        assert env.db + "_x" not in client.list_database_names()


def test_a_second_run_is_refused_while_one_holds_the_lock(env: BackupEnv) -> None:
    seed(env.uri, env.db, docs=10)
    with backup_lock(env.local / ".backup.lock"):
        refused = env.cli("run", ok=False)
    assert refused.returncode == 1
    assert f"another backup is running (pid {os.getpid()})" in refused.stderr
    assert env.listed() == []
    env.run()
    assert len(env.listed()) == 1


def test_prune_keeps_the_newest_verified_backup(env: BackupEnv) -> None:
    seed(env.uri, env.db, docs=10)
    day0, day5, day10 = (f"2026-03-{d:02d}T00:00:00+00:00" for d in (1, 6, 11))
    old, middle, new = env.run(day0), env.run(day5), env.run(day10)
    engine.verify_backup(
        env.settings(), old
    )  # the only verified backup: it must survive any retention

    dry = env.cli("prune", "--dry-run", "--now", "2026-03-13T12:00:00+00:00").stdout
    assert f"would delete local:{middle}.manifest.json" in dry
    assert f"local:{middle}.archive.zst.enc" in dry
    assert old not in dry
    assert new not in dry
    assert "azure:" not in dry  # 30 days in Azure
    assert {e["id"] for e in env.listed()} == {old, middle, new}

    env.cli("prune", "--now", "2026-03-13T12:00:00+00:00")
    listed = {e["id"]: e["stores"] for e in env.listed()}
    assert listed == {old: ["local", "azure"], middle: ["azure"], new: ["local", "azure"]}

    engine.prune(env.settings(), now=dt.datetime.fromisoformat("2026-04-20T00:00:00+00:00"))
    listed = {e["id"]: e["stores"] for e in env.listed()}
    assert listed == {old: ["local", "azure"], new: ["local", "azure"]}


def test_azurite_stopped_during_upload_fails_the_run(tmp_path: Path, ferretdb: FerretDB) -> None:
    azurite = start_azurite(tmp_path / "azurite")
    try:
        env = BackupEnv(tmp_path, ferretdb, azurite, "bk_azure_outage")
        seed(env.uri, env.db, binary_kb=1024, docs=10)  # ~20 MB of incompressible data
        process = env.popen(
            "run",
            FLIGHTDECK_BACKUP_AZURE_BLOCK_SIZE=str(64 * 1024),
            FLIGHTDECK_BACKUP_AZURE_CONCURRENCY="1",
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            partial = [p for p in env.local.glob(".partial-*") if p.stat().st_size > 2_000_000]
            if partial or process.poll() is not None:
                break
            time.sleep(0.02)
        azurite.stop()
        _out, err = process.communicate(timeout=120)
        assert process.returncode != 0, "the run finished before Azurite was stopped"
        assert "Azure Blob Storage" in err
        assert "Traceback" not in err
        assert list(env.local.glob("*.enc")) == []
        assert list(env.local.glob(".partial-*")) == []
        env.vars.pop("FLIGHTDECK_BACKUP_AZURE_CONNECTION_STRING")
        assert env.listed() == []
        assert "flightdeck_backup_failures_total 1.0" in (env.metrics / "backup.prom").read_text()
        azurite.start()  # same port, same data: the uncommitted blocks are not listed
        env.vars["FLIGHTDECK_BACKUP_AZURE_CONNECTION_STRING"] = azurite.connection_string
        assert env.listed() == []
    finally:
        azurite.stop()
