"""Reading mongodump's archive format as it streams past, and content hashes of collections.

The archive (mongo-tools `common/archive/spec.md`) is: a magic number, a header document, one
metadata document per collection, a terminator, then namespace segments (a namespace header
document, BSON documents, a terminator) interleaved between collections. Reading it during the
dump gives per-collection counts and content hashes of exactly what was dumped, even while the
application keeps writing; verify computes the same hashes from a scratch restore.

A collection's content hash is order-independent (the sum, modulo 2^256, of the SHA-256 of each
document's BSON bytes), so it needs no sort and no memory, and the restore may insert documents
in any order.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import bson
from bson import json_util

from flightdeck.core.errors import PermanentError

MAGIC = 0x8199E26D
TERMINATOR = -1
_INT32 = struct.Struct("<i")
_MOD = 1 << 256


class ArchiveFormatError(PermanentError):
    """The byte stream is not a complete mongodump archive."""


@dataclass
class CollectionDigest:
    count: int = 0
    digest: int = 0

    def add(self, document: bytes | memoryview) -> None:
        self.count += 1
        self.digest = (self.digest + int.from_bytes(hashlib.sha256(document).digest())) % _MOD

    @property
    def hexdigest(self) -> str:
        return f"{self.digest:064x}"


def hash_documents(raw_documents: Iterable[bytes | memoryview]) -> CollectionDigest:
    digest = CollectionDigest()
    for raw in raw_documents:
        digest.add(raw)
    return digest


def index_spec(index: dict[str, Any]) -> dict[str, Any]:
    """An index definition as plain JSON: name, key as [field, direction] pairs, options."""
    options = {k: v for k, v in index.items() if k not in ("v", "key", "name", "ns")}
    return {
        "name": index["name"],
        "key": [[name, direction] for name, direction in index["key"].items()],
        "options": json.loads(json_util.dumps(options)),
    }


@dataclass
class ArchiveReader:
    """Incremental parser: feed() the archive's bytes in any chunking, then finish()."""

    header: dict[str, Any] = field(default_factory=dict)
    collections: dict[str, CollectionDigest] = field(default_factory=dict)
    indexes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _buffer: bytearray = field(default_factory=bytearray)
    _state: str = "magic"
    _namespace: str = ""
    _finished_namespaces: set[str] = field(default_factory=set)

    def feed(self, data: bytes) -> None:
        self._buffer += data
        view = memoryview(self._buffer)
        offset = 0
        try:
            while True:
                if self._state == "magic":
                    if len(view) - offset < 4:
                        break
                    if struct.unpack_from("<I", view, offset)[0] != MAGIC:
                        raise ArchiveFormatError("not a mongodump archive (bad magic number)")
                    offset += 4
                    self._state = "header"
                    continue
                if len(view) - offset < 4:
                    break
                size = _INT32.unpack_from(view, offset)[0]
                if size == TERMINATOR:
                    offset += 4
                    self._on_terminator()
                    continue
                if size < 5:
                    raise ArchiveFormatError(f"corrupt archive: document size {size}")
                if len(view) - offset < size:
                    break
                self._on_document(view[offset : offset + size])
                offset += size
        finally:
            view.release()
        del self._buffer[:offset]

    def _on_terminator(self) -> None:
        if self._state == "prelude" or self._state == "namespace-data":
            self._state = "namespace-header"
        else:
            raise ArchiveFormatError(f"corrupt archive: unexpected terminator ({self._state})")

    def _on_document(self, raw: memoryview) -> None:
        if self._state == "namespace-data":
            self.collections[self._namespace].add(raw)
            return
        document = bson.decode(raw)
        if self._state == "header":
            self.header = document
            self._state = "prelude"
        elif self._state == "prelude":
            self._on_metadata(document)
        elif self._state == "namespace-header":
            namespace = f"{document['db']}.{document['collection']}"
            self.collections.setdefault(namespace, CollectionDigest())
            if document.get("EOF"):
                self._finished_namespaces.add(namespace)
            self._namespace = namespace
            self._state = "namespace-data"

    def _on_metadata(self, document: dict[str, Any]) -> None:
        if document.get("type") in ("view", "timeseries"):  # no plain documents to hash
            return
        namespace = f"{document['db']}.{document['collection']}"
        self.collections.setdefault(namespace, CollectionDigest())
        metadata = json_util.loads(document.get("metadata") or "{}")
        self.indexes[namespace] = [index_spec(index) for index in metadata.get("indexes", [])]

    def finish(self) -> None:
        """Raise unless the archive ended cleanly with every collection's EOF marker."""
        if self._buffer or self._state not in ("namespace-header",):
            raise ArchiveFormatError("the mongodump archive is incomplete (truncated stream)")
        missing = set(self.collections) - self._finished_namespaces
        if missing:
            raise ArchiveFormatError(f"the mongodump archive lacks the end of {sorted(missing)}")
