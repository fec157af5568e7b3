"""The MongoDB side: the dump/restore tools, the server's identity, collection hashes."""

from __future__ import annotations

import os
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
from pymongo.errors import PyMongoError
from pymongo.uri_parser import parse_uri

from flightdeck.backup.archive import CollectionDigest, hash_documents
from flightdeck.errors import ConfigError, PermanentError, RetryableError
from flightdeck.paths import repo_bin

DbClient = MongoClient[RawBSONDocument]
STDERR_TAIL = 2000


@dataclass(frozen=True)
class ServerInfo:
    version: str
    replica_set: str | None
    ferretdb: bool


def resolve_tool(name: str) -> str:
    """`name` as a path, else the repository's bin/ (where setup builds it), else PATH."""
    if os.sep in name:
        if not os.access(name, os.X_OK):
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
        raise RetryableError(f"MongoDB is unreachable: {exc}") from None
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


@contextmanager
def tool_config(uri: str) -> Iterator[str]:
    """A 0600 config file holding the URI, so credentials never appear in `ps`."""
    fd, path = tempfile.mkstemp(prefix="flightdeck-mongo-", suffix=".yaml")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(f"uri: {json_util.dumps(uri)}\n")
        yield path
    finally:
        os.unlink(path)


def stderr_tail(handle: IO[bytes]) -> str:
    handle.seek(0)
    text = handle.read().decode(errors="replace").strip()
    return text[-STDERR_TAIL:]


def collection_digests(db_client: MongoClient[Any], database: str) -> dict[str, CollectionDigest]:
    """Count and content hash of every collection of `database`, as the archive reader does."""
    db = db_client.get_database(database)
    return {
        f"{database}.{name}": hash_documents(
            doc.raw for doc in db.get_collection(name).find({}, batch_size=1000)
        )
        for name in db.list_collection_names()
        if not name.startswith("system.")
    }


def index_names(db_client: MongoClient[Any], database: str, collection: str) -> list[str]:
    return sorted(ix["name"] for ix in db_client[database][collection].list_indexes())


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
    target_db: str,
    drop: bool,
    build_indexes: bool,
) -> None:
    """Pipe the plaintext archive into mongorestore, mapping source_db.* to target_db.*."""
    args = [tool, "--archive", f"--nsInclude={source_db}.*", "--quiet"]
    if target_db != source_db:
        args += [f"--nsFrom={source_db}.*", f"--nsTo={target_db}.*"]
    if drop:
        args.append("--drop")
    if not build_indexes:
        args.append("--noIndexRestore")
    with tool_config(uri) as config, tempfile.TemporaryFile() as err:
        process = subprocess.Popen([*args, f"--config={config}"], stdin=subprocess.PIPE, stderr=err)
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
