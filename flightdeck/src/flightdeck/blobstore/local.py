"""A BlobStore in a local directory: objects are files, committed by an atomic rename.

A writer streams into `.partial-<key>.<random>` beside the final file (mode 0600) and renames
it on commit; `put` goes through the same writer. A killed run leaves its `.partial-*` file,
which `list_unfinished` names. File system errors (a full disk, a path that is a file) become
PermanentError naming the path, never a bare OSError.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from flightdeck.blobstore import DEFAULT_READ_CHUNK, BlobNotFoundError, blobstores
from flightdeck.core.errors import ConfigError, PermanentError

TEMP_PREFIX = ".partial-"


@contextlib.contextmanager
def _file_errors(where: str) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError:
        raise
    except OSError as exc:
        path = f" {exc.filename}" if exc.filename else ""
        raise PermanentError(f"{where}:{path}: {exc.strerror or exc}") from None


class LocalBlobWriter:
    def __init__(self, final: Path, where: str) -> None:
        self._final = final
        self._where = where
        with _file_errors(where):
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f"{TEMP_PREFIX}{final.name}.")
        self._tmp = Path(tmp)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        if self._file is None:
            raise RuntimeError("write after commit or abort")
        with _file_errors(self._where):
            self._file.write(data)

    def commit(self) -> None:
        if self._file is None:
            raise RuntimeError("commit after commit or abort")
        with _file_errors(self._where):
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
            os.replace(self._tmp, self._final)

    def abort(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):  # a failed flush of what is thrown away anyway
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
        return LocalBlobWriter(self._path(key), self.describe())

    def read_chunks(self, key: str, chunk_size: int = DEFAULT_READ_CHUNK) -> Iterator[bytes]:
        with _file_errors(self.describe()):
            try:
                handle = self._path(key).open("rb")
            except FileNotFoundError:
                raise BlobNotFoundError(f"{key} not found in {self.describe()}") from None
            with handle:
                while chunk := handle.read(chunk_size):
                    yield chunk

    def put(self, key: str, data: bytes) -> None:
        writer = self.open_writer(key)
        try:
            writer.write(data)
            writer.commit()
        except BaseException:
            writer.abort()
            raise

    def get(self, key: str) -> bytes:
        with _file_errors(self.describe()):
            try:
                return self._path(key).read_bytes()
            except FileNotFoundError:
                raise BlobNotFoundError(f"{key} not found in {self.describe()}") from None

    def _files(self) -> Iterator[Path]:
        if not self.root.exists():
            return
        if not self.root.is_dir():
            raise PermanentError(f"{self.describe()}: not a directory")
        with _file_errors(self.describe()):
            yield from (path for path in self.root.rglob("*") if path.is_file())

    def list_keys(self, prefix: str = "") -> list[str]:
        keys = []
        for path in self._files():
            if not path.name.startswith((TEMP_PREFIX, ".")):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> None:
        with _file_errors(self.describe()):
            try:
                self._path(key).unlink()
            except FileNotFoundError:
                raise BlobNotFoundError(f"{key} not found in {self.describe()}") from None

    def list_unfinished(self) -> list[str]:
        partial = [path for path in self._files() if path.name.startswith(TEMP_PREFIX)]
        with _file_errors(self.describe()):
            partial.sort(key=lambda path: path.stat().st_mtime)
        return [path.relative_to(self.root).as_posix() for path in partial]

    def delete_unfinished(self, name: str) -> None:
        parts = Path(name).parts
        if not name or Path(name).is_absolute() or ".." in parts:
            raise ConfigError(f"{name!r} is not a plain relative name")
        if not parts[-1].startswith(TEMP_PREFIX):
            raise ConfigError(f"{name!r} is not an unfinished write in {self.describe()}")
        with _file_errors(self.describe()):
            (self.root / name).unlink(missing_ok=True)

    def describe(self) -> str:
        return f"local directory {self.root}"
