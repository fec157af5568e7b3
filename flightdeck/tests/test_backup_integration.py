"""Backups end to end with real FerretDB, Azurite, mongodump and mongorestore, via the CLI."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import bson
import pytest
from bson.raw_bson import RawBSONDocument
from pymongo import ASCENDING, DESCENDING, MongoClient

from flightdeck.backup import engine
from flightdeck.backup.archive import hash_documents
from flightdeck.backup.lock import backup_lock
from flightdeck.backup.settings import BackupSettings
from testsupport import BIN_DIR
from testsupport.azurite import Azurite, start_azurite
from testsupport.ferretdb import FerretDB

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    yield server
    server.stop()


class Env:
    def __init__(self, tmp: Path, ferretdb: FerretDB, azurite: Azurite | None, db: str) -> None:
        self.db = db
        self.uri = ferretdb.uri
        self.key = base64.b64encode(os.urandom(32)).decode()
        self.local = tmp / "backups"
        self.metrics = tmp / "metrics"
        self.vars = {
            "FLIGHTDECK_BACKUP_MONGODB_URI": ferretdb.uri,
            "FLIGHTDECK_BACKUP_DATABASE": db,
            "FLIGHTDECK_BACKUP_LOCAL_DIR": str(self.local),
            "FLIGHTDECK_BACKUP_METRICS_DIR": str(self.metrics),
            "FLIGHTDECK_BACKUP_KEY": self.key,
            "FLIGHTDECK_BACKUP_MONGODUMP": str(BIN_DIR / "mongodump"),
            "FLIGHTDECK_BACKUP_MONGORESTORE": str(BIN_DIR / "mongorestore"),
            "FLIGHTDECK_BACKUP_AZURE_CONTAINER": "bk" + hashlib.sha256(db.encode()).hexdigest()[:9],
            "FLIGHTDECK_BACKUP_AZURE_RETRIES": "0",
            "FLIGHTDECK_BACKUP_AZURE_TIMEOUT_SECONDS": "5",
        }
        if azurite is not None:
            self.vars["FLIGHTDECK_BACKUP_AZURE_CONNECTION_STRING"] = azurite.connection_string

    def popen(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLIGHTDECK_BACKUP_")}
        return subprocess.Popen(
            [sys.executable, "-m", "flightdeck", "backup", *args],
            env={**env, **self.vars, **extra},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def cli(self, *args: str, ok: bool = True, **extra: str) -> subprocess.CompletedProcess[str]:
        process = self.popen(*args, **extra)
        out, err = process.communicate(timeout=120)
        result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
        if ok:
            assert result.returncode == 0, result.stderr
        return result

    def settings(self) -> BackupSettings:
        """The same settings in this process, for set-up steps (saves a CLI start-up each)."""
        values = {k.removeprefix("FLIGHTDECK_BACKUP_").lower(): v for k, v in self.vars.items()}
        return BackupSettings(**values)  # type: ignore[arg-type]

    def run(self, now: str | None = None) -> str:
        when = dt.datetime.fromisoformat(now) if now else None
        return engine.run_backup(self.settings(), now=when).id

    def listed(self) -> list[dict[str, object]]:
        return [
            {"id": e.manifest.id, "stores": e.stores, "verified": e.verified}
            for e in engine.list_backups(self.settings()).backups
        ]


@pytest.fixture
def env(
    request: pytest.FixtureRequest, tmp_path: Path, ferretdb: FerretDB, azurite: Azurite
) -> Env:
    name = "bk_" + request.node.name.replace("test_", "")[:30].replace("[", "_").strip("]")
    return Env(tmp_path, ferretdb, azurite, name)


def seed(uri: str, db_name: str, binary_kb: int = 4, docs: int = 200) -> None:
    with MongoClient(uri) as client:
        db = client[db_name]
        db.notes.insert_many(
            [
                {
                    "_id": i,
                    "title": f"note {i}",
                    "tags": ["a", "b"][: i % 3],
                    "meta": {"n": i, "ratio": i / 7, "ok": i % 2 == 0, "none": None},
                    "at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i),
                }
                for i in range(docs)
            ]
        )
        db.notes.create_index([("title", ASCENDING)], unique=True, name="title_unique")
        db.notes.create_index([("meta.n", DESCENDING), ("at", ASCENDING)], name="n_at")
        db.files.insert_many(
            [
                {"name": f"f{i}", "data": bson.Binary(os.urandom(binary_kb * 1024))}
                for i in range(20)
            ]
        )
        db.files.create_index("name")
        db.empty.insert_one({"x": 1})
        db.empty.delete_many({})


def digests(uri: str, db_name: str) -> dict[str, tuple[int, str]]:
    with MongoClient(uri, document_class=RawBSONDocument) as client:
        db = client[db_name]
        return {
            name: (d.count, d.hexdigest)
            for name in db.list_collection_names()
            for d in [hash_documents(doc.raw for doc in db[name].find())]
        }


def indexes(uri: str, db_name: str) -> dict[str, list[tuple[str, object]]]:
    with MongoClient(uri) as client:
        db = client[db_name]
        return {
            name: sorted((ix["name"], dict(ix["key"])) for ix in db[name].list_indexes())  # type: ignore[misc]
            for name in db.list_collection_names()
        }


def stored_object(env: Env, backup_id: str) -> Path:
    return env.local / f"{backup_id}.archive.zst.enc"


def test_round_trip_through_azure_gives_identical_content(env: Env) -> None:
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
    assert manifest["stored_size"] == stored_object(env, backup_id).stat().st_size

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


def test_restore_refuses_a_non_empty_target_without_drop(env: Env) -> None:
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


def test_tampered_and_truncated_objects_fail_verify(env: Env) -> None:
    seed(env.uri, env.db, docs=20)
    backup_id = env.run()
    path = stored_object(env, backup_id)
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


def test_wrong_key_gives_a_clear_error(env: Env) -> None:
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


def test_a_second_run_is_refused_while_one_holds_the_lock(env: Env) -> None:
    seed(env.uri, env.db, docs=10)
    with backup_lock(env.local / ".backup.lock"):
        refused = env.cli("run", ok=False)
    assert refused.returncode == 1
    assert f"another backup is running (pid {os.getpid()})" in refused.stderr
    assert env.listed() == []
    env.run()
    assert len(env.listed()) == 1


def test_prune_keeps_the_newest_verified_backup(env: Env) -> None:
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
        env = Env(tmp_path, ferretdb, azurite, "bk_azure_outage")
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
