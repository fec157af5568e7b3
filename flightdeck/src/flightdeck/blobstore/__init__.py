"""The BlobStore family: where backup objects live (a local directory, Azure Blob Storage).

Every implementation honours one contract (tested by one suite against all of them):

- `open_writer(key)` streams an object in; nothing is visible under `key` until `commit()`
  returns, and `abort()` (or a failure) leaves nothing that looks complete.
- `read_chunks(key)` streams an object out without holding it in memory.
- `list_keys(prefix)` lists committed objects only; a missing key raises `BlobNotFoundError`.
- `list_unfinished()` names what a killed writer (no commit, no abort) left behind in the store,
  and `delete_unfinished(name)` removes it; a store whose service discards such writes itself
  (Azure drops uncommitted blocks after a week) lists nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from flightdeck.core.errors import PermanentError
from flightdeck.core.registry import Registry

DEFAULT_READ_CHUNK = 4 * 1024 * 1024


class BlobNotFoundError(PermanentError):
    """The key does not exist in the store."""


class BlobWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    def commit(self) -> None:
        """Make the object visible under its key; only after every byte is stored."""

    def abort(self) -> None:
        """Throw away whatever was written; safe to call after a failure or twice."""


class BlobStore(Protocol):
    kind: str
    """The registry name ("local", "azure"), shown to users next to each backup."""

    def open_writer(self, key: str) -> BlobWriter: ...

    def read_chunks(self, key: str, chunk_size: int = DEFAULT_READ_CHUNK) -> Iterator[bytes]: ...

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def list_keys(self, prefix: str = "") -> list[str]: ...

    def delete(self, key: str) -> None: ...

    def list_unfinished(self) -> list[str]:
        """Names of writes that never committed nor aborted (a killed run), oldest first."""

    def delete_unfinished(self, name: str) -> None: ...

    def describe(self) -> str:
        """Where the store is, for messages (never includes credentials)."""


blobstores: Registry[BlobStore] = Registry("blob store")


def create_blobstore(name: str, **options: object) -> BlobStore:
    """Build the store registered as `name`; an unknown name is a ConfigError."""
    # Importing the implementations registers them.
    from flightdeck.blobstore import azure, local  # noqa: F401

    return blobstores.create(name, **options)
