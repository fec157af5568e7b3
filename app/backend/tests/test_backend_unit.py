"""Unit tests: no servers (settings, filenames, media types, cursors, request ids)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from bson import ObjectId
from pydantic import ValidationError
from pymongo.errors import ServerSelectionTimeoutError
from starlette.datastructures import Headers

from app.core.config import Settings
from app.crud import InvalidCursorError, decode_cursor, encode_cursor
from app.db import describe
from app.metrics import HTTP_BUCKETS
from app.middleware import request_id_from
from app.uploads import UploadStore, media_type, safe_filename

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("APP_TRACK", "purple"),
        ("FAULT_ERROR_RATE", "1.5"),
        ("FAULT_ERROR_RATE", "-0.1"),
        ("FAULT_LATENCY_MS", "-1"),
        ("MAX_UPLOAD_BYTES", "0"),
        ("MAX_UPLOAD_BYTES", "lots"),
    ],
)
def test_settings_reject_bad_environment_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert variable.lower() in str(caught.value)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, value in {
        "MONGODB_URI": "mongodb://db.example:27017/",
        "MONGODB_DATABASE": "notes",
        "UPLOAD_DIR": "/data/uploads",
        "APP_VERSION": "2.0.0",
        "APP_TRACK": "green",
        "APP_COMMIT": "deadbee",
        "FAULT_ERROR_RATE": "0.25",
        "FAULT_LATENCY_MS": "150",
        "MAX_UPLOAD_BYTES": "2048",
    }.items():
        monkeypatch.setenv(variable, value)
    settings = Settings()
    assert settings.mongodb_uri == "mongodb://db.example:27017/"
    assert settings.mongodb_database == "notes"
    assert str(settings.upload_dir) == "/data/uploads"
    assert (settings.app_version, settings.app_track, settings.app_commit) == (
        "2.0.0",
        "green",
        "deadbee",
    )
    assert settings.fault_error_rate == 0.25
    assert settings.fault_latency_ms == 150
    assert settings.max_upload_bytes == 2048


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("notes.txt", "notes.txt"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
        ("..", "attachment"),
        ("", "attachment"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("x" * 300, "x" * 255),
    ],
)
def test_safe_filename(raw: str, expected: str) -> None:
    assert safe_filename(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("image/PNG", "image/png"),
        ("text/plain; charset=utf-8", "text/plain"),
        (None, "application/octet-stream"),
        ("text", "application/octet-stream"),
        ("text/html\r\nX: y", "application/octet-stream"),
        ("a/b/c", "application/octet-stream"),
    ],
)
def test_media_type(raw: str | None, expected: str) -> None:
    assert media_type(raw) == expected


def test_store_paths_are_ids_only() -> None:
    store = UploadStore(Path("/uploads"))
    attachment_id = str(ObjectId())
    assert str(store.path_for(attachment_id)) == f"/uploads/{attachment_id}"
    for bad in ["../etc/passwd", "a" * 24 + "/..", "ABCDEF0123456789ABCDEF01"]:
        with pytest.raises(ValueError, match="not an attachment id"):
            store.path_for(bad)


def test_cursor_round_trip() -> None:
    created = datetime(2025, 5, 17, 10, 30, 0, 123000, tzinfo=UTC)
    oid = ObjectId()
    cursor = encode_cursor({"created_at": created, "_id": oid})
    assert "=" not in cursor
    assert decode_cursor(cursor) == (created, oid)


@pytest.mark.parametrize(
    "cursor", ["", "!!!", "bm9wZQ", "MTIzOnh5eg", "OTk5OTk5OTk5OTk5OTk5OTk5OTk5"]
)
def test_bad_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(cursor)


def test_request_id() -> None:
    assert request_id_from(Headers({"x-request-id": "trace-1:abc"})) == "trace-1:abc"
    generated = request_id_from(Headers({}))
    assert len(generated) == 32
    assert generated != request_id_from(Headers({}))
    assert request_id_from(Headers({"x-request-id": "has space"})) != "has space"


def test_http_buckets_cover_5ms_to_10s() -> None:
    assert HTTP_BUCKETS[0] == 0.005
    assert HTTP_BUCKETS[-1] == 10.0
    assert list(HTTP_BUCKETS) == sorted(HTTP_BUCKETS)
    assert {1.5, 2.0} <= set(HTTP_BUCKETS)  # the canary analysis thresholds


def test_describe_shortens_pymongo_errors() -> None:
    error = ServerSelectionTimeoutError(
        "db:27017: [Errno 111] refused (configured timeouts: socketTimeoutMS: 20000.0ms), "
        "Timeout: 2.0s, Topology Description: <a very long description>"
    )
    assert describe(error) == "ServerSelectionTimeoutError: db:27017: [Errno 111] refused"
    assert describe(TimeoutError()) == "TimeoutError: no answer in time"
