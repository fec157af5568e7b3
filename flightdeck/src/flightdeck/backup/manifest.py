"""The manifest: the JSON document written last, whose presence makes a backup complete.

It is authenticated with the backup key: `mac` is HMAC-SHA256, under a key derived from the
master key with HKDF, of the manifest's canonical JSON (every other field, keys sorted, no
spaces). Whoever can write to a store but lacks the key cannot make a manifest match an edited
object: verify and restore check the MAC before anything reaches a database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ConfigDict, ValidationError

from flightdeck.backup.crypto import DecryptError
from flightdeck.core.errors import ConfigError, PermanentError

FORMAT = "flightdeck-backup/2"  # 2: the manifest carries a MAC
BACKUP_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


class CollectionEntry(BaseModel):
    count: int
    content_hash: str
    indexes: list[dict[str, Any]] = []


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
    mac: str = ""  # empty: not authenticated (never written so; refused by verify and restore)

    def canonical(self) -> bytes:
        """The bytes the MAC covers: every field but `mac`, as sorted, compact JSON."""
        fields = self.model_dump(mode="json", exclude={"mac"})
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    def sealed(self, key: bytes) -> bytes:
        """The manifest as stored: JSON with its MAC under the backup key."""
        signed = self.model_copy(update={"mac": _mac(key, self.canonical())})
        return signed.model_dump_json(indent=2).encode()

    def authenticate(self, key: bytes, where: str) -> None:
        """Raise unless the MAC proves this manifest was written with `key`, unchanged."""
        if self.format != FORMAT or not self.mac:
            raise DecryptError(
                f"{where}: the manifest of backup {self.id} is not authenticated (format "
                f"{self.format!r}, expected {FORMAT!r}): it cannot be trusted; take a new backup"
            )
        if not hmac.compare_digest(self.mac, _mac(key, self.canonical())):
            raise DecryptError(
                f"{where}: the manifest of backup {self.id} failed authentication: it was "
                "modified, or written with another key; nothing was restored"
            )


def _mac(key: bytes, data: bytes) -> str:
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"flightdeck-backup manifest mac"
    )
    return hmac.new(hkdf.derive(key), data, hashlib.sha256).hexdigest()


class VerifyRecord(BaseModel):
    id: str
    time: datetime
    ok: bool
    reason: str = ""
    store: str


def check_backup_id(backup_id: str) -> str:
    """'latest' or an id as `run` makes them, else a ConfigError (ids end up in file names)."""
    if backup_id != "latest" and not BACKUP_ID.fullmatch(backup_id):
        raise ConfigError(
            f"backup id {backup_id!r}: expected 'latest' or an id like 20260501T120000Z-a1b2c3 "
            "(see `flightdeck backup list`)"
        )
    return backup_id


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
