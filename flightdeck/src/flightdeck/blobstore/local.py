"""A BlobStore in a local directory: objects are files, committed by an atomic rename."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from flightdeck.blobstore import DEFAULT_READ_CHUNK, BlobNotFoundError, blobstores
from flightdeck.core.errors import ConfigError
from flightdeck.core.files import write_atomically

TEMP_PREFIX = ".partial-"


class LocalBlobWriter:
    def __init__(self, final: Path) -> None:
        self._final = final
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f"{TEMP_PREFIX}{final.name}.")
        self._tmp = Path(tmp)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        if self._file is None:
            raise RuntimeError("write after commit or abort")
        self._file.write(data)

    def commit(self) -> None:
        if self._file is None:
            raise RuntimeError("commit after commit or abort")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.replace(self._tmp, self._final)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._tmp.unlink(missing_ok=True)


@blobstores.register("local")
class LocalBlobStore:
    kind = "local"

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        parts = Path(key).parts
        if not key or Path(key).is_absolute() or ".." in parts or parts[-1].startswith(TEMP_PREFIX):
            raise ConfigError(f"blob key {key!r} is not a plain relative name")
        return self.root / key

    def open_writer(self, key: str) -> LocalBlobWriter:
        return LocalBlobWriter(self._path(key))

    def read_chunks(self, key: str, chunk_size: int = DEFAULT_READ_CHUNK) -> Iterator[bytes]:
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise BlobNotFoundError(f"{key} not found in {self.describe()}") from None
        with handle:
            while chunk := handle.read(chunk_size):
                yield chunk

    def put(self, key: str, data: bytes) -> None:
        write_atomically(self._path(key), data)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFoundError(f"{key} not found in {self.describe()}") from None

    def list_keys(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        keys = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith((TEMP_PREFIX, ".")):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            raise BlobNotFoundError(f"{key} not found in {self.describe()}") from None

    def describe(self) -> str:
        return f"local directory {self.root}"
