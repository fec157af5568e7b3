"""Backups for tests: the `flightdeck backup` CLI and engine on a real FerretDB (and Azurite),
with a private key, local directory and metrics directory per test."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import bson
from bson.raw_bson import RawBSONDocument
from pymongo import ASCENDING, DESCENDING, MongoClient

from flightdeck.backup import engine
from flightdeck.backup.archive import hash_documents
from flightdeck.backup.settings import BackupSettings
from testsupport import BIN_DIR
from testsupport.azurite import Azurite
from testsupport.ferretdb import FerretDB


class BackupEnv:
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
            env={**env, "FLIGHTDECK_BACKUP_ENV_FILE": "", **self.vars, **extra},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # os.killpg ends the command and its tools together
        )

    def cli(self, *args: str, ok: bool = True, **extra: str) -> subprocess.CompletedProcess[str]:
        process = self.popen(*args, **extra)
        out, err = process.communicate(timeout=180)
        result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
        if ok:
            assert result.returncode == 0, result.stderr
        return result

    def settings(self, **overrides: object) -> BackupSettings:
        """The same settings in this process, for set-up steps (saves a CLI start-up each)."""
        values = {k.removeprefix("FLIGHTDECK_BACKUP_").lower(): v for k, v in self.vars.items()}
        return BackupSettings(**{**values, **overrides})  # type: ignore[arg-type]

    def run(self, now: str | None = None) -> str:
        when = dt.datetime.fromisoformat(now) if now else None
        return engine.run_backup(self.settings(), now=when).id

    def listed(self) -> list[dict[str, object]]:
        return [
            {"id": e.manifest.id, "stores": e.stores, "verified": e.verified}
            for e in engine.list_backups(self.settings()).backups
        ]

    def object_path(self, backup_id: str) -> Path:
        return self.local / f"{backup_id}.archive.zst.enc"

    def manifest_path(self, backup_id: str) -> Path:
        return self.local / f"{backup_id}.manifest.json"


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
    """Count and content hash of each collection."""
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
