"""The manifest: the JSON document written last, whose presence makes a backup complete."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from flightdeck.core.errors import PermanentError

FORMAT = "flightdeck-backup/1"


class CollectionEntry(BaseModel):
    count: int
    content_hash: str
    indexes: list[dict[str, Any]] = []


class Manifest(BaseModel):
    format: str = FORMAT
    id: str
    time: datetime
    source: str  # "host:port/database", never the credentials
    database: str
    server_version: str
    replica_set: str | None
    oplog: bool
    object_key: str
    stored_size: int
    sha256: str
    dump_size: int
    duration_seconds: float
    encryption: str = "chunked AES-256-GCM (docs/backup.md)"
    key_id: str
    compression: str = "zstd"
    collections: dict[str, CollectionEntry]
    tools: dict[str, str]


class VerifyRecord(BaseModel):
    id: str
    time: datetime
    ok: bool
    reason: str = ""
    store: str


def object_key(backup_id: str) -> str:
    return f"{backup_id}.archive.zst.enc"


def manifest_key(backup_id: str) -> str:
    return f"{backup_id}.manifest.json"


def verify_key(backup_id: str) -> str:
    return f"{backup_id}.verify.json"


MANIFEST_SUFFIX = ".manifest.json"


def parse_manifest(data: bytes, where: str) -> Manifest:
    try:
        return Manifest.model_validate_json(data)
    except ValidationError as exc:
        raise PermanentError(f"{where}: not a valid backup manifest: {exc}") from None
