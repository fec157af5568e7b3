"""The MongoDB side: the dump/restore tools, the server's identity, collection hashes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any

from bson import json_util
from bson.raw_bson import RawBSONDocument
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import ProtocolError, PyMongoError
from pymongo.uri_parser import parse_uri

from flightdeck.backup.archive import CollectionDigest, hash_documents
from flightdeck.core.errors import ConfigError, PermanentError, RetryableError
from flightdeck.core.paths import repo_bin

DbClient = MongoClient[RawBSONDocument]
STDERR_TAIL = 2000
# Reading a collection back: batches bounded in bytes, not only in documents. FerretDB puts a
# whole batch in one reply, even past its own 48 MB message limit (which the driver then
# refuses), so 1000 documents of 50 kB already fail; MongoDB caps a batch at 16 MiB itself.
BATCH_BYTES = 8 * 1024 * 1024
MAX_BATCH_DOCUMENTS = 1000
# MongoDB's rules for database names (on any platform), plus no control characters.
_DATABASE_NAME = re.compile(r'^[^/\\. "$*<>:|?\x00-\x1f\x7f]+$')
DATABASE_NAME_MAX_BYTES = 63


@dataclass(frozen=True)
class ServerInfo:
    version: str
    replica_set: str | None
    ferretdb: bool


def check_database_name(name: str, where: str) -> str:
    """`name` if MongoDB accepts it as a database name, else a ConfigError naming `where`."""
    if not name:
        raise ConfigError(f"{where}: the database name is empty")
    if len(name.encode()) > DATABASE_NAME_MAX_BYTES or not _DATABASE_NAME.fullmatch(name):
        raise ConfigError(
            f"{where}: {name!r} is not a MongoDB database name (at most "
            f'{DATABASE_NAME_MAX_BYTES} bytes, none of / \\ . space " $ * < > : | ? '
            "nor control characters)"
        )
    return name


def resolve_tool(name: str) -> str:
    """`name` as a path, else the repository's bin/ (where setup builds it), else PATH."""
    if os.sep in name:
        if not os.path.isfile(name) or not os.access(name, os.X_OK):
            raise ConfigError(f"{name} is not an executable file")
        return name
    pinned = repo_bin(name)  # the version pinned in tools/go.mod wins over one on PATH
    found = str(pinned) if pinned and pinned.exists() else shutil.which(name)
    if found is None:
        if pinned:
            raise ConfigError(f"{name} not found in {pinned.parent} nor on PATH: run `make setup`")
        raise ConfigError(f"{name} not found on PATH: install MongoDB's database tools")
    return found


def tool_version(path: str) -> str:
    result = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    return (result.stdout.splitlines() or ["unknown"])[0].split(":")[-1].strip()


def client(uri: str) -> DbClient:
    return MongoClient(uri, document_class=RawBSONDocument, serverSelectionTimeoutMS=10_000)


def probe(db_client: MongoClient[Any]) -> ServerInfo:
    """Server version, replica set name (None for a standalone or FerretDB), FerretDB or not."""
    try:
        hello = db_client.admin.command("hello")
        build = db_client.admin.command("buildInfo")
    except PyMongoError as exc:
        raise RetryableError(f"MongoDB is unreachable: {describe_error(exc)}") from None
    return ServerInfo(
        version=str(build.get("version", "unknown")),
        replica_set=hello.get("setName"),
        ferretdb="ferretdbVersion" in build,
    )


def describe_source(uri: str, database: str) -> str:
    """host:port/database, never the credentials in the URI."""
    try:
        nodes = parse_uri(uri)["nodelist"]
    except Exception as exc:  # pymongo raises several types for bad URIs
        raise ConfigError(f"FLIGHTDECK_BACKUP_MONGODB_URI: {exc}") from None
    return ",".join(f"{host}:{port}" for host, port in nodes) + f"/{database}"


def describe_error(exc: PyMongoError) -> str:
    """The driver's message without its topology dump (pages of server descriptions)."""
    return str(exc).split(", Topology Description:", 1)[0]


@dataclass(frozen=True)
class ToolConfig:
    """The tools' config file as an open descriptor; pass `fd` to the child (pass_fds)."""

    fd: int

    @property
    def argument(self) -> str:
        return f"--config=/dev/fd/{self.fd}"


@contextmanager
def tool_config(uri: str) -> Iterator[ToolConfig]:
    """The URI in an anonymous in-memory file, read by mongodump/mongorestore as /dev/fd/N.

    Credentials never appear in `ps` nor on any disk: the file (a memfd) has no name in any
    directory, only its owner's processes can open it, and the kernel frees it when the last
    descriptor closes, which also happens when flightdeck is killed.
    """
    fd = os.memfd_create("flightdeck-mongo-config", os.MFD_CLOEXEC)
    try:
        os.write(fd, f"uri: {json_util.dumps(uri)}\n".encode())
        yield ToolConfig(fd)
    finally:
        os.close(fd)


def stderr_tail(handle: IO[bytes], lines: int = 3) -> str:
    """The last lines a tool wrote (its log ends with the reason it failed)."""
    handle.seek(0)
    text = handle.read().decode(errors="replace").strip()
    return "\n".join(text.splitlines()[-lines:])[-STDERR_TAIL:] or "(no message)"


def _batch_size(collection: Collection[RawBSONDocument]) -> int:
    """Documents per batch so that a batch of average documents stays near BATCH_BYTES."""
    try:
        average = int(collection.database.command("collStats", collection.name)["avgObjSize"])
    except (PyMongoError, KeyError, TypeError, ValueError):
        average = 0
    return max(1, min(MAX_BATCH_DOCUMENTS, BATCH_BYTES // average)) if average > 0 else 100


def hash_collection(collection: Collection[RawBSONDocument]) -> CollectionDigest:
    """Count and content hash of a collection, as the archive reader computes them.

    Read in size-bounded batches; a batch still too large (documents far above the average)
    restarts the collection with batches eight times smaller.
    """
    batch = _batch_size(collection)
    while True:
        try:
            return hash_documents(doc.raw for doc in collection.find({}, batch_size=batch))
        except ProtocolError as exc:
            if batch == 1:
                raise PermanentError(
                    f"cannot read {collection.full_name}: {describe_error(exc)}"
                ) from None
            batch = max(1, batch // 8)


def index_names(db_client: MongoClient[Any], database: str, collection: str) -> list[str]:
    return sorted(ix["name"] for ix in db_client[database][collection].list_indexes())


def replace_collection(
    db_client: MongoClient[Any], database: str, source: str, target: str, server: ServerInfo
) -> None:
    """Rename `source` to `target` in `database`, replacing `target` if it exists.

    MongoDB does it in one step (dropTarget); FerretDB does not implement dropTarget, so there
    the target is dropped first, leaving it absent for the instant between the two commands.
    """
    rename: dict[str, Any] = {
        "renameCollection": f"{database}.{source}",
        "to": f"{database}.{target}",
    }
    if server.ferretdb:
        db_client[database].drop_collection(target)
    else:
        rename["dropTarget"] = True
    db_client.admin.command(rename)


def create_indexes(
    db_client: MongoClient[Any], database: str, indexes: dict[str, list[dict[str, Any]]]
) -> None:
    """Indexes from the manifest, for servers where mongorestore cannot build them (FerretDB)."""
    for collection, specs in indexes.items():
        for spec in specs:
            if spec["name"] == "_id_":
                continue
            options = json_util.loads(json_util.dumps(spec.get("options", {})))
            keys = [(name, direction) for name, direction in spec["key"]]
            try:
                db_client[database][collection].create_index(keys, name=spec["name"], **options)
            except PyMongoError as exc:
                raise PermanentError(
                    f"cannot create index {spec['name']} on {database}.{collection}: {exc}"
                ) from None


def run_mongorestore(
    tool: str,
    uri: str,
    archive: Iterable[bytes],
    source_db: str,
    target: str,
    build_indexes: bool,
) -> None:
    """Pipe the plaintext archive into mongorestore, mapping `source_db.<name>` to
    `<target><name>` (`target` is "database." or "database.prefix")."""
    # Not --quiet: it also hides the line saying why the tool failed; the log goes to a file.
    args = [tool, "--archive", f"--nsInclude={source_db}.*"]
    if target != f"{source_db}.":
        args += [f"--nsFrom={source_db}.*", f"--nsTo={target}*"]
    if not build_indexes:
        args.append("--noIndexRestore")
    with tool_config(uri) as config, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [*args, config.argument], stdin=subprocess.PIPE, stderr=err, pass_fds=(config.fd,)
        )
        assert process.stdin is not None
        try:
            for chunk in archive:
                process.stdin.write(chunk)
            process.stdin.close()
        except BrokenPipeError:
            pass  # mongorestore stopped reading: its exit code and stderr say why
        except BaseException:
            process.kill()
            process.wait()
            raise
        if process.wait() != 0:
            raise PermanentError(f"mongorestore failed: {stderr_tail(err)}")
