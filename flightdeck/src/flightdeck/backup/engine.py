"""The backup engine: run, verify, restore, prune. The CLI and the scheduler call these."""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import zstandard

from flightdeck.backup import metrics, mongo
from flightdeck.backup.archive import ArchiveReader
from flightdeck.backup.crypto import DecryptError, Decryptor, Encryptor, key_id, load_key
from flightdeck.backup.lock import backup_lock
from flightdeck.backup.manifest import (
    CollectionEntry,
    Manifest,
    VerifyRecord,
    manifest_key,
    object_key,
    verify_key,
)
from flightdeck.backup.progress import StreamProgress
from flightdeck.backup.settings import BackupSettings
from flightdeck.backup.stores import Catalog, find_manifest, open_stores
from flightdeck.blobstore import BlobStore, BlobWriter
from flightdeck.core import terminal
from flightdeck.core.errors import ConfigError, PermanentError

READ_SIZE = 1024 * 1024
ID_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _key(settings: BackupSettings) -> bytes:
    secret = settings.key.get_secret_value() if settings.key else None
    return load_key(secret, settings.key_file)


# --- run -----------------------------------------------------------------------------------


def run_backup(settings: BackupSettings, now: datetime | None = None) -> Manifest:
    """Dump, compress, encrypt and store one backup; the manifest is written last.

    Failures count in the metrics; the lock refusal does not (nothing was attempted).
    """
    key = _key(settings)
    stores = open_stores(settings)
    with backup_lock(settings.local_dir / ".backup.lock"):
        try:
            manifest = _run(settings, key, stores, now or utcnow())
        except BaseException:
            metrics.record_failure(settings.metrics_dir)
            raise
    metrics.update(
        settings.metrics_dir,
        last_success_timestamp_seconds=time.time(),
        last_duration_seconds=manifest.duration_seconds,
        last_size_bytes=manifest.stored_size,
    )
    return manifest


def _run(settings: BackupSettings, key: bytes, stores: list[BlobStore], now: datetime) -> Manifest:
    started = time.monotonic()
    uri = settings.mongodb_uri.get_secret_value()
    source = mongo.describe_source(uri, settings.database)
    mongodump = mongo.resolve_tool(settings.mongodump)
    with mongo.client(uri) as db_client:
        server = mongo.probe(db_client)
    backup_id = f"{now.astimezone(UTC).strftime(ID_TIME_FORMAT)}-{secrets.token_hex(3)}"
    # mongodump takes --oplog only for a whole-instance dump: on a replica set the dump covers
    # every database, consistent at one point in time; restore picks the database out of it.
    oplog = server.replica_set is not None
    args = [mongodump, "--archive", "--quiet"]
    args += ["--oplog"] if oplog else [f"--db={settings.database}"]
    terminal.info(f"backup {backup_id}: dumping {source} (server {server.version})")

    writers: list[BlobWriter] = []
    reader = ArchiveReader()
    sha = hashlib.sha256()
    stored = 0
    with ExitStack() as stack:
        config = stack.enter_context(mongo.tool_config(uri))
        err = stack.enter_context(tempfile.TemporaryFile())
        process = subprocess.Popen(
            [*args, f"--config={config}"], stdout=subprocess.PIPE, stderr=err
        )
        assert process.stdout is not None
        progress = stack.enter_context(StreamProgress(f"backup {backup_id}"))
        try:
            writers = [store.open_writer(object_key(backup_id)) for store in stores]
            encryptor = Encryptor(key)
            compressor = zstandard.ZstdCompressor(
                level=settings.compression_level, threads=-1
            ).compressobj()

            def emit(pieces: list[bytes]) -> None:
                nonlocal stored
                for piece in pieces:
                    sha.update(piece)
                    stored += len(piece)
                    for writer in writers:
                        writer.write(piece)

            while chunk := process.stdout.read(READ_SIZE):
                reader.feed(chunk)
                progress.advance(len(chunk))
                emit(encryptor.update(compressor.compress(chunk)))
            if process.wait() != 0:
                raise PermanentError(f"mongodump failed: {mongo.stderr_tail(err)}")
            reader.finish()
            emit(encryptor.update(compressor.flush()))
            emit(encryptor.finish())
            for writer in writers:
                writer.commit()
        except BaseException:
            process.kill()
            process.wait()
            for writer in writers:
                writer.abort()
            raise

    collections = {
        namespace.split(".", 1)[1]: CollectionEntry(
            count=digest.count,
            content_hash=digest.hexdigest,
            indexes=reader.indexes.get(namespace, []),
        )
        for namespace, digest in sorted(reader.collections.items())
        if namespace.split(".", 1)[0] == settings.database
    }
    manifest = Manifest(
        id=backup_id,
        time=now,
        source=source,
        database=settings.database,
        server_version=server.version,
        replica_set=server.replica_set,
        oplog=oplog,
        object_key=object_key(backup_id),
        stored_size=stored,
        sha256=sha.hexdigest(),
        dump_size=progress.done,
        duration_seconds=round(time.monotonic() - started, 3),
        key_id=key_id(key).hex(),
        collections=collections,
        tools={
            "mongodump": mongo.tool_version(mongodump),
            "flightdeck": _flightdeck_version(),
            "zstandard": zstandard.__version__,
        },
    )
    data = manifest.model_dump_json(indent=2).encode()
    for store in stores:
        store.put(manifest_key(backup_id), data)
    return manifest


def _flightdeck_version() -> str:
    from flightdeck import __version__

    return __version__


# --- reading a stored backup -----------------------------------------------------------------


@contextmanager
def checked_object(
    store: BlobStore, manifest: Manifest, scratch_dir: Path
) -> Iterator[Iterable[bytes]]:
    """The stored object's bytes after its SHA-256 matched the manifest.

    A local object is hashed in place then re-read; a remote one is downloaded once into
    `scratch_dir` while hashing. Either way nothing reaches a database before the check.
    """
    sha = hashlib.sha256()
    size = 0
    with ExitStack() as stack:
        if store.kind == "local":
            for chunk in store.read_chunks(manifest.object_key):
                sha.update(chunk)
                size += len(chunk)
            source: Iterable[bytes] = store.read_chunks(manifest.object_key)
        else:
            scratch_dir.mkdir(parents=True, exist_ok=True)
            handle = stack.enter_context(tempfile.TemporaryFile(dir=scratch_dir))
            with StreamProgress(f"download {manifest.id}", manifest.stored_size) as progress:
                for chunk in store.read_chunks(manifest.object_key):
                    sha.update(chunk)
                    size += len(chunk)
                    handle.write(chunk)
                    progress.advance(len(chunk))
            handle.seek(0)
            source = iter(lambda: handle.read(READ_SIZE), b"")
        if sha.hexdigest() != manifest.sha256:
            raise PermanentError(
                f"backup {manifest.id} in {store.describe()}: SHA-256 mismatch "
                f"(stored object has {size} bytes and hash {sha.hexdigest()[:16]}..., the "
                f"manifest says {manifest.stored_size} bytes and {manifest.sha256[:16]}...): "
                "the object is corrupted, truncated or was tampered with"
            )
        yield source


def plaintext(sealed: Iterable[bytes], key: bytes) -> Iterator[bytes]:
    """Decrypt and decompress the stored object back into mongodump's archive."""
    decryptor = Decryptor(key)
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    try:
        for chunk in sealed:
            for piece in decryptor.update(chunk):
                if out := decompressor.decompress(piece):
                    yield out
        for piece in decryptor.finish():
            if out := decompressor.decompress(piece):
                yield out
    except zstandard.ZstdError as exc:
        raise DecryptError(f"cannot decompress the backup: {exc}") from None
    if not decompressor.eof:
        raise DecryptError("the backup's compressed stream is incomplete")


# --- restore -----------------------------------------------------------------------------------


@dataclass
class RestoreResult:
    manifest: Manifest
    store: str
    database: str
    seconds: float


def restore_backup(
    settings: BackupSettings,
    backup_id: str = "latest",
    target: str | None = None,
    drop: bool = False,
    store_name: str | None = None,
) -> RestoreResult:
    """Restore a backup into its database or `target`; the time it took is the RTO."""
    started = time.monotonic()
    key = _key(settings)
    store, manifest = find_manifest(open_stores(settings), backup_id, store_name)
    database = target or manifest.database
    uri = settings.mongodb_uri.get_secret_value()
    with mongo.client(uri) as db_client:
        server = mongo.probe(db_client)
        if not drop and _non_empty(db_client, database):
            raise ConfigError(
                f"--to {database}: the target database is not empty; "
                "pass --drop to replace its collections"
            )
        _restore_into(settings, store, manifest, key, database, drop, server, db_client)
    return RestoreResult(manifest, store.kind, database, round(time.monotonic() - started, 3))


def _non_empty(db_client: mongo.DbClient, database: str) -> bool:
    db = db_client[database]
    return any(db[name].estimated_document_count() for name in db.list_collection_names())


def _restore_into(
    settings: BackupSettings,
    store: BlobStore,
    manifest: Manifest,
    key: bytes,
    database: str,
    drop: bool,
    server: mongo.ServerInfo,
    db_client: mongo.DbClient,
) -> None:
    if key_id(key).hex() != manifest.key_id:
        raise DecryptError(
            f"cannot decrypt: wrong key or corrupted backup (backup {manifest.id} was encrypted "
            f"with key id {manifest.key_id}, the configured key has id {key_id(key).hex()})"
        )
    with checked_object(store, manifest, settings.local_dir / ".restore") as sealed:
        # mongorestore cannot build indexes on FerretDB (it sends the `ns` index option, which
        # FerretDB rejects); there the manifest's index definitions are applied afterwards.
        mongo.run_mongorestore(
            mongo.resolve_tool(settings.mongorestore),
            settings.mongodb_uri.get_secret_value(),
            plaintext(sealed, key),
            manifest.database,
            database,
            drop,
            build_indexes=not server.ferretdb,
        )
    if server.ferretdb:
        mongo.create_indexes(
            db_client,
            database,
            {name: entry.indexes for name, entry in manifest.collections.items()},
        )


# --- verify ------------------------------------------------------------------------------------


def verify_backup(
    settings: BackupSettings, backup_id: str = "latest", store_name: str | None = None
) -> VerifyRecord:
    """Check the SHA-256, decrypt, restore into a scratch database, compare with the manifest.

    The result is recorded beside the backup (prune keeps the newest verified backup) and in
    the metrics; a failure raises PermanentError with the reason.
    """
    key = _key(settings)
    store, manifest = find_manifest(open_stores(settings), backup_id, store_name)
    try:
        _verify(settings, store, manifest, key)
    except PermanentError as exc:
        _record_verify(settings, store, manifest, ok=False, reason=str(exc))
        raise
    return _record_verify(settings, store, manifest, ok=True)


def _verify(settings: BackupSettings, store: BlobStore, manifest: Manifest, key: bytes) -> None:
    scratch = f"fdverify_{secrets.token_hex(6)}"
    uri = settings.mongodb_uri.get_secret_value()
    with mongo.client(uri) as db_client:
        server = mongo.probe(db_client)
        try:
            _restore_into(settings, store, manifest, key, scratch, False, server, db_client)
            digests = mongo.collection_digests(db_client, scratch)
            problems = []
            for name, entry in manifest.collections.items():
                got = digests.pop(f"{scratch}.{name}", None)
                if got is None:
                    problems.append(f"collection {name} is missing after restore")
                elif got.count != entry.count:
                    problems.append(f"{name}: {got.count} documents, manifest says {entry.count}")
                elif got.hexdigest != entry.content_hash:
                    problems.append(f"{name}: content hash differs from the manifest")
                else:
                    expected = sorted(ix["name"] for ix in entry.indexes)
                    actual = mongo.index_names(db_client, scratch, name)
                    if entry.indexes and actual != expected:
                        problems.append(f"{name}: indexes {actual}, manifest says {expected}")
            problems += [f"unexpected collection {ns.split('.', 1)[1]}" for ns in digests]
            if problems:
                raise PermanentError(
                    f"backup {manifest.id} failed verification: " + "; ".join(problems)
                )
        finally:
            db_client.drop_database(scratch)


def _record_verify(
    settings: BackupSettings, store: BlobStore, manifest: Manifest, ok: bool, reason: str = ""
) -> VerifyRecord:
    record = VerifyRecord(id=manifest.id, time=utcnow(), ok=ok, reason=reason, store=store.kind)
    store.put(verify_key(manifest.id), record.model_dump_json(indent=2).encode())
    metrics.update(
        settings.metrics_dir,
        last_verify_success=1.0 if ok else 0.0,
        last_verify_timestamp_seconds=time.time(),
    )
    return record


# --- list and prune ----------------------------------------------------------------------------


@dataclass
class Listed:
    manifest: Manifest
    stores: list[str]
    verified: bool | None  # None: never verified


def list_backups(settings: BackupSettings) -> list[Listed]:
    """Complete backups across stores, newest first."""
    found: dict[str, Listed] = {}
    for store in open_stores(settings):
        catalog = Catalog.load(store)
        for manifest in catalog.manifests.values():
            entry = found.setdefault(manifest.id, Listed(manifest, [], None))
            entry.stores.append(store.kind)
            record = catalog.verified.get(manifest.id)
            if record is not None and (entry.verified is None or record.ok):
                entry.verified = record.ok
    return sorted(found.values(), key=lambda e: e.manifest.time, reverse=True)


@dataclass
class Deletion:
    store: str
    key: str
    reason: str


def prune(
    settings: BackupSettings, now: datetime | None = None, dry_run: bool = False
) -> list[Deletion]:
    """Delete backups older than each store's retention, never the newest verified one.

    The newest complete backup is kept too, so that retention never empties a store while
    backups are failing. Objects left without a manifest (failed runs) go after the same age.
    """
    now = now or utcnow()
    stores = open_stores(settings)
    catalogs = [Catalog.load(store) for store in stores]
    listed = list_backups(settings)
    newest_verified = next((e.manifest.id for e in listed if e.verified), None)
    keep = {newest_verified} if newest_verified else set()
    if listed:
        keep.add(listed[0].manifest.id)
    deletions: list[Deletion] = []
    for catalog in catalogs:
        days = (
            settings.local_retention_days
            if catalog.store.kind == "local"
            else settings.azure_retention_days
        )
        cutoff = now - timedelta(days=days)
        for key in catalog.keys:
            backup_id = key.split(".", 1)[0]
            when = _id_time(backup_id)
            if when is None or when >= cutoff or backup_id in keep:
                continue
            complete = backup_id in catalog.manifests
            reason = f"older than {days:g} days" + ("" if complete else " (incomplete)")
            deletions.append(Deletion(catalog.store.kind, key, reason))
        if not dry_run:
            # Manifests first: a backup stops being listed before its object disappears.
            for deletion in sorted(
                (d for d in deletions if d.store == catalog.store.kind),
                key=lambda d: not d.key.endswith(".manifest.json"),
            ):
                catalog.store.delete(deletion.key)
    return deletions


def _id_time(backup_id: str) -> datetime | None:
    try:
        return datetime.strptime(backup_id.split("-", 1)[0], ID_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
