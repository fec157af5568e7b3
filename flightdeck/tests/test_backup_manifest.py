"""The manifest's MAC, backup ids and database names: the inputs a restore trusts."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from flightdeck.backup.crypto import DecryptError
from flightdeck.backup.manifest import CollectionEntry, Manifest, check_backup_id, parse_manifest
from flightdeck.backup.mongo import check_database_name
from flightdeck.backup.settings import BackupSettings
from flightdeck.core.errors import ConfigError

pytestmark = pytest.mark.unit

KEY = os.urandom(32)


def manifest() -> Manifest:
    return Manifest(
        id="20260501T120000Z-a1b2c3",
        time=dt.datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=dt.UTC),
        source="127.0.0.1:27017/flightdeck",
        database="flightdeck",
        server_version="7.0.42",
        replica_set=None,
        oplog=False,
        object_key="20260501T120000Z-a1b2c3.archive.zst.enc",
        stored_size=123456,
        sha256="ab" * 32,
        dump_size=234567,
        duration_seconds=1.234,
        key_id="00" * 8,
        collections={
            "notes": CollectionEntry(
                count=3,
                content_hash="cd" * 32,
                indexes=[{"name": "t", "key": [["title", 1]], "options": {"unique": True}}],
            ),
            "r\u00e9sum\u00e9s": CollectionEntry(count=0, content_hash="00" * 32),
        },
        tools={"mongodump": "100.13.0", "flightdeck": "0.1.0", "zstandard": "0.23.0"},
    )


def stored(data: bytes) -> Manifest:
    return parse_manifest(data, "test")


def test_a_sealed_manifest_authenticates_after_a_round_trip() -> None:
    stored(manifest().sealed(KEY)).authenticate(KEY, "test")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stored_size", 1000),  # matched to a truncated object
        ("sha256", "ef" * 32),
        ("database", "other"),
        ("collections", {"notes": {"count": 2, "content_hash": "cd" * 32, "indexes": []}}),
    ],
)
def test_an_edited_manifest_fails_authentication(field: str, value: object) -> None:
    data = json.loads(manifest().sealed(KEY))
    data[field] = value
    edited = stored(json.dumps(data).encode())
    with pytest.raises(DecryptError, match="failed authentication"):
        edited.authenticate(KEY, "test")


def test_another_key_fails_and_an_unauthenticated_manifest_is_refused() -> None:
    with pytest.raises(DecryptError, match="failed authentication"):
        stored(manifest().sealed(KEY)).authenticate(os.urandom(32), "test")
    unsigned = manifest().model_dump_json().encode()
    with pytest.raises(DecryptError, match="not authenticated"):
        stored(unsigned).authenticate(KEY, "test")


def test_unknown_manifest_fields_are_refused() -> None:
    data = json.loads(manifest().sealed(KEY))
    data["restore_hook"] = "rm -rf /"
    with pytest.raises(Exception, match="not a valid backup manifest"):
        stored(json.dumps(data).encode())


@pytest.mark.parametrize("good", ["latest", "20260501T120000Z-a1b2c3"])
def test_backup_ids_accepted(good: str) -> None:
    assert check_backup_id(good) == good


@pytest.mark.parametrize(
    "bad", ["", "nonexistent", "../../etc/passwd", "20260501T120000Z-a1b2c3/..", "x\n"]
)
def test_backup_ids_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="expected 'latest' or an id like"):
        check_backup_id(bad)


@pytest.mark.parametrize("good", ["flightdeck", "restored-copy", "bk_1", "[x]", "\u00e9t\u00e9"])
def test_database_names_accepted(good: str) -> None:
    assert check_database_name(good, "--to") == good


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("", "the database name is empty"),
        ("a/b", "not a MongoDB database name"),
        ("a.b", "not a MongoDB database name"),
        ("a b", "not a MongoDB database name"),
        ("$x", "not a MongoDB database name"),
        ("a*", "not a MongoDB database name"),
        ("a\x00b", "not a MongoDB database name"),
        ("a\nb", "not a MongoDB database name"),
        ("x" * 64, "not a MongoDB database name"),
    ],
)
def test_database_names_refused(bad: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"^--to: .*{problem}"):
        check_database_name(bad, "--to")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("database", "a/b"),
        ("local_retention_days", 1e10),
        ("azure_retention_days", float("inf")),
        ("azure_container", "UPPER_case"),
    ],
)
def test_settings_refuse_values_that_would_fail_later(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        BackupSettings(**{field: value})  # type: ignore[arg-type]
