"""The backup engine: run, verify, restore, prune. The CLI and the scheduler call these."""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import zstandard
from pymongo.errors import PyMongoError

from flightdeck.backup import metrics, mongo
from flightdeck.backup.archive import ArchiveReader
from flightdeck.backup.crypto import DecryptError, Decryptor, Encryptor, key_id, load_key
from flightdeck.backup.lock import BackupLockedError, backup_lock
from flightdeck.backup.manifest import (
    CollectionEntry,
    Manifest,
    VerifyRecord,
    check_backup_id,
    manifest_key,
    object_key,
    verify_key,
)
from flightdeck.backup.progress import StreamProgress
from flightdeck.backup.settings import BackupSettings
from flightdeck.backup.stores import Catalog, find_manifest, open_stores
from flightdeck.blobstore import BlobStore, BlobWriter
from flightdeck.core import terminal
from flightdeck.core.errors import ConfigError, FlightdeckError, PermanentError

READ_SIZE = 1024 * 1024
ID_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
# Scratch names: a restore writes `<database>.fdrestore_<random>_<collection>` and renames them
# over the real collections once complete; verify restores into a database `fdverify_<random>`.
RESTORE_SCRATCH_PREFIX = "fdrestore_"
VERIFY_SCRATCH_PREFIX = "fdverify_"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _key(settings: BackupSettings) -> bytes:
    secret = settings.key.get_secret_value() if settings.key else None
    return load_key(secret, settings.key_file)


def describe_failure(exc: BaseException) -> str:
    """One line saying why an operation failed, whatever raised it; never a traceback."""
    if isinstance(exc, FlightdeckError):
        return str(exc)
    if isinstance(exc, PyMongoError):
        return f"MongoDB: {mongo.describe_error(exc)}"
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    return f"{type(exc).__name__}: {exc}"


# --- run -----------------------------------------------------------------------------------


def run_backup(settings: BackupSettings, now: datetime | None = None) -> Manifest:
    """Dump, compress, encrypt and store one backup; the manifest is written last.

    Failures count in the metrics, a missing key as much as a failed dump; the lock refusal
    does not (another run is under way).
    """
    try:
        with backup_lock(settings.local_dir / ".backup.lock"):
            manifest = _run(settings, _key(settings), open_stores(settings), now or utcnow())
    except BackupLockedError:
        raise
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
    # Not --quiet: it also hides the line saying why mongodump failed; the log goes to a file.
    args = [mongodump, "--archive"]
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
            [*args, config.argument], stdout=subprocess.PIPE, stderr=err, pass_fds=(config.fd,)
        )
        assert process.stdout is not None
        progress = stack.enter_context(StreamProgress(f"backup {backup_id}"))
        try:
            for store in stores:
                writers.append(store.open_writer(object_key(backup_id)))
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
    data = manifest.sealed(key)
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
    """Restore a backup into its database or `target`, whole or not at all.

    The manifest is authenticated first. mongorestore then writes into scratch collections of
    the target database (`fdrestore_<random>_<name>`); only once it succeeded and every count
    and index matches the manifest are they renamed over the real collections. A restore that
    fails before the swap leaves the target as it was, and its scratch collections are dropped
    (those of a killed restore go at the start of the next one). The time taken is the RTO.
    """
    started = time.monotonic()
    check_backup_id(backup_id)
    if target is not None:
        mongo.check_database_name(target, "--to")
    key = _key(settings)
    store, manifest = find_manifest(open_stores(settings), backup_id, store_name)
    _authenticate(manifest, key, store)
    database = target if target is not None else manifest.database
    mongo.check_database_name(database, f"backup {manifest.id}: database")
    with mongo.client(settings.mongodb_uri.get_secret_value()) as db_client:
        server = mongo.probe(db_client)
        _drop_scratch(db_client, database, RESTORE_SCRATCH_PREFIX)
        if not drop and _non_empty(db_client, database):
            raise ConfigError(
                f"--to {database}: the target database is not empty; "
                "pass --drop to replace its collections"
            )
        prefix = f"{RESTORE_SCRATCH_PREFIX}{secrets.token_hex(6)}_"
        try:
            _restore_to(settings, store, manifest, key, f"{database}.{prefix}", server, db_client)
            problems = _differences(db_client, database, prefix, manifest, content=False)
            if problems:
                raise PermanentError(
                    f"backup {manifest.id}: the restored data does not match the manifest ("
                    + "; ".join(problems)
                    + f"); {database} was left as it was"
                )
            _swap(db_client, database, prefix, manifest, drop, server)
        finally:
            _drop_scratch(db_client, database, prefix)
    return RestoreResult(manifest, store.kind, database, round(time.monotonic() - started, 3))


def _authenticate(manifest: Manifest, key: bytes, store: BlobStore) -> None:
    """Refuse a backup made with another key, or whose manifest is not exactly as written."""
    if key_id(key).hex() != manifest.key_id:
        raise DecryptError(
            f"cannot decrypt: wrong key or corrupted backup (backup {manifest.id} was encrypted "
            f"with key id {manifest.key_id}, the configured key has id {key_id(key).hex()})"
        )
    manifest.authenticate(key, store.describe())


def _non_empty(db_client: mongo.DbClient, database: str) -> bool:
    db = db_client[database]
    return any(db[name].estimated_document_count() for name in db.list_collection_names())


def _drop_scratch(db_client: mongo.DbClient, database: str, prefix: str) -> None:
    """Drop the collections named `prefix*`; a failure here only leaves them for next time."""
    db = db_client[database]
    try:
        for name in db.list_collection_names():
            if name.startswith(prefix):
                db.drop_collection(name)
    except PyMongoError as exc:
        terminal.warning(
            f"could not drop the scratch collections {database}.{prefix}* "
            f"({mongo.describe_error(exc)}); the next restore drops them"
        )


def _swap(
    db_client: mongo.DbClient,
    database: str,
    prefix: str,
    manifest: Manifest,
    drop: bool,
    server: mongo.ServerInfo,
) -> None:
    """Rename each complete scratch collection over its real one (a few seconds at most)."""
    db = db_client[database]
    swapped: list[str] = []
    try:
        for name in sorted(manifest.collections):
            if not drop and db[name].estimated_document_count():
                raise ConfigError(
                    f"--to {database}: collection {name} received documents during the "
                    "restore; pass --drop to replace it"
                )
            mongo.replace_collection(db_client, database, prefix + name, name, server)
            swapped.append(name)
    except (FlightdeckError, PyMongoError) as exc:
        if not swapped:
            raise
        raise PermanentError(
            f"restore of backup {manifest.id} into {database} stopped while renaming the "
            f"restored collections into place ({describe_failure(exc)}): replaced "
            f"{', '.join(swapped)}, not the others; run the restore again with --drop"
        ) from None


def _restore_to(
    settings: BackupSettings,
    store: BlobStore,
    manifest: Manifest,
    key: bytes,
    target: str,
    server: mongo.ServerInfo,
    db_client: mongo.DbClient,
) -> None:
    """mongorestore the backup's collections as `<target><name>` ("db." or "db.prefix")."""
    with checked_object(store, manifest, settings.local_dir / ".restore") as sealed:
        # mongorestore cannot build indexes on FerretDB (it sends the `ns` index option, which
        # FerretDB rejects); there the manifest's index definitions are applied afterwards.
        mongo.run_mongorestore(
            mongo.resolve_tool(settings.mongorestore),
            settings.mongodb_uri.get_secret_value(),
            plaintext(sealed, key),
            manifest.database,
            target,
            build_indexes=not server.ferretdb,
        )
    if server.ferretdb:
        database, prefix = target.split(".", 1)
        mongo.create_indexes(
            db_client,
            database,
            {prefix + name: entry.indexes for name, entry in manifest.collections.items()},
        )


def _differences(
    db_client: mongo.DbClient, database: str, prefix: str, manifest: Manifest, content: bool
) -> list[str]:
    """How the restored collections `<database>.<prefix><name>` differ from the manifest:
    counts and indexes, and with `content` the content hashes too (a full read)."""
    db = db_client[database]
    present = {
        name.removeprefix(prefix)
        for name in db.list_collection_names()
        if name.startswith(prefix) and not name.startswith("system.")
    }
    problems = []
    for name, entry in sorted(manifest.collections.items()):
        if name not in present:
            problems.append(f"collection {name} is missing after restore")
            continue
        collection = db.get_collection(prefix + name)
        if content:
            digest = mongo.hash_collection(collection)
            count, content_hash = digest.count, digest.hexdigest
        else:
            count, content_hash = collection.count_documents({}), entry.content_hash
        expected = sorted(ix["name"] for ix in entry.indexes)
        actual = mongo.index_names(db_client, database, prefix + name)
        if count != entry.count:
            problems.append(f"{name}: {count} documents, manifest says {entry.count}")
        elif content_hash != entry.content_hash:
            problems.append(f"{name}: content hash differs from the manifest")
        elif entry.indexes and actual != expected:
            problems.append(f"{name}: indexes {actual}, manifest says {expected}")
    problems += [
        f"unexpected collection {name}" for name in sorted(present - manifest.collections.keys())
    ]
    return problems


# --- verify ------------------------------------------------------------------------------------


def verify_backup(
    settings: BackupSettings, backup_id: str = "latest", store_name: str | None = None
) -> VerifyRecord:
    """Authenticate, check the SHA-256, decrypt, restore into a scratch database and compare
    counts, content hashes and indexes with the manifest.

    The result is recorded beside the backup (prune keeps the newest verified backup) and in
    the metrics, whatever made the verify fail; a failure raises a FlightdeckError with the
    reason.
    """
    check_backup_id(backup_id)
    key = _key(settings)
    store, manifest = find_manifest(open_stores(settings), backup_id, store_name)
    try:
        _verify(settings, store, manifest, key)
    except Exception as exc:
        reason = describe_failure(exc)
        _record_verify(settings, store, manifest, ok=False, reason=reason)
        if isinstance(exc, FlightdeckError):
            raise
        raise PermanentError(f"backup {manifest.id} failed verification: {reason}") from exc
    return _record_verify(settings, store, manifest, ok=True)


def _verify(settings: BackupSettings, store: BlobStore, manifest: Manifest, key: bytes) -> None:
    _authenticate(manifest, key, store)
    scratch = f"{VERIFY_SCRATCH_PREFIX}{secrets.token_hex(6)}"
    with mongo.client(settings.mongodb_uri.get_secret_value()) as db_client:
        server = mongo.probe(db_client)
        try:
            _restore_to(settings, store, manifest, key, f"{scratch}.", server, db_client)
            problems = _differences(db_client, scratch, "", manifest, content=True)
            if problems:
                raise PermanentError(
                    f"backup {manifest.id} failed verification: " + "; ".join(problems)
                )
        finally:
            try:
                db_client.drop_database(scratch)
            except PyMongoError as exc:
                terminal.warning(f"could not drop {scratch}: {mongo.describe_error(exc)}")


def _record_verify(
    settings: BackupSettings, store: BlobStore, manifest: Manifest, ok: bool, reason: str = ""
) -> VerifyRecord:
    """The metric first (so that BackupVerifyFailed can fire even when the store is down), then
    the record beside the backup."""
    metrics.record_verify(settings.metrics_dir, ok)
    record = VerifyRecord(id=manifest.id, time=utcnow(), ok=ok, reason=reason, store=store.kind)
    try:
        store.put(verify_key(manifest.id), record.model_dump_json(indent=2).encode())
    except FlightdeckError as exc:
        if ok:
            raise
        terminal.warning(f"could not record the failed verify in {store.describe()}: {exc}")
    return record


# --- list and prune ----------------------------------------------------------------------------


@dataclass
class Listed:
    manifest: Manifest
    stores: list[str]
    verified: bool | None  # None: never verified


@dataclass
class Listing:
    """Complete backups newest first, stores that could not be read (kind -> reason), and
    problems found in the stores that could (unreadable manifests or verify records)."""

    backups: list[Listed]
    unavailable: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _combine(catalogs: list[Catalog]) -> list[Listed]:
    found: dict[str, Listed] = {}
    for catalog in catalogs:
        for manifest in catalog.manifests.values():
            entry = found.setdefault(manifest.id, Listed(manifest, [], None))
            entry.stores.append(catalog.store.kind)
            record = catalog.verified.get(manifest.id)
            if record is not None and (entry.verified is None or record.ok):
                entry.verified = record.ok
    return sorted(found.values(), key=lambda e: e.manifest.time, reverse=True)


def list_backups(settings: BackupSettings) -> Listing:
    """Complete backups across the stores that answer; a store that does not is named."""
    catalogs: list[Catalog] = []
    unavailable: dict[str, str] = {}
    for store in open_stores(settings):
        try:
            catalogs.append(Catalog.load(store))
        except FlightdeckError as exc:
            unavailable[store.kind] = str(exc)
    problems = [problem for catalog in catalogs for problem in catalog.problems]
    return Listing(_combine(catalogs), unavailable, problems)


@dataclass
class Deletion:
    store: str
    key: str
    reason: str


def prune(
    settings: BackupSettings, now: datetime | None = None, dry_run: bool = False
) -> list[Deletion]:
    """Delete backups older than each store's retention, never the newest verified one, and
    what killed runs left behind (`.partial-*` files).

    The newest complete backup is kept too, so that retention never empties a store while
    backups are failing. Objects left without a manifest (failed runs) go after the same age.
    Every store must answer: deciding what to keep from part of the picture could delete the
    only verified copy. The result is published in the metrics (except for a dry run).
    """
    try:
        deletions = _prune(settings, now or utcnow(), dry_run)
    except BaseException:
        if not dry_run:
            metrics.record_prune(settings.metrics_dir, ok=False)
        raise
    if not dry_run:
        metrics.record_prune(settings.metrics_dir, ok=True)
    return deletions


def _prune(settings: BackupSettings, now: datetime, dry_run: bool) -> list[Deletion]:
    stores = open_stores(settings)
    catalogs = [Catalog.load(store) for store in stores]
    listed = _combine(catalogs)
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
        expired: list[Deletion] = []
        for key in catalog.keys:
            backup_id = key.split(".", 1)[0]
            when = _id_time(backup_id)
            if when is None or when >= cutoff or backup_id in keep:
                continue
            complete = backup_id in catalog.manifests
            reason = f"older than {days:g} days" + ("" if complete else " (incomplete)")
            expired.append(Deletion(catalog.store.kind, key, reason))
        if not dry_run:
            # Manifests first: a backup stops being listed before its object disappears.
            for deletion in sorted(expired, key=lambda d: not d.key.endswith(".manifest.json")):
                catalog.store.delete(deletion.key)
        deletions += expired
    return deletions + _unfinished_writes(settings, stores, dry_run)


def _unfinished_writes(
    settings: BackupSettings, stores: list[BlobStore], dry_run: bool
) -> list[Deletion]:
    """What killed runs left in the stores, removed only while no backup runs (under the
    backup lock), so never the file a running backup is writing."""
    try:
        with backup_lock(settings.local_dir / ".backup.lock"):
            deletions = []
            for store in stores:
                for name in store.list_unfinished():
                    if not dry_run:
                        store.delete_unfinished(name)
                    deletions.append(Deletion(store.kind, name, "unfinished write of a killed run"))
            return deletions
    except BackupLockedError as exc:
        terminal.info(f"unfinished writes left alone: {exc}")
        return []


def _id_time(backup_id: str) -> datetime | None:
    try:
        return datetime.strptime(backup_id.split("-", 1)[0], ID_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
