"""A BlobStore in Azure Blob Storage (or Azurite, its emulator).

Objects are block blobs uploaded block by block (`stage_block`, several in flight) and made
visible by one `commit_block_list` at the end: a run that dies half-way leaves only uncommitted
blocks, which Azure never lists and discards after a week.
"""

from __future__ import annotations

import base64
import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from azure.core.exceptions import (
    AzureError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobBlock, BlobServiceClient, ContainerClient

from flightdeck.blobstore import DEFAULT_READ_CHUNK, BlobNotFoundError, blobstores
from flightdeck.core.errors import ConfigError, FlightdeckError, PermanentError, RetryableError

DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024
T = TypeVar("T")


@blobstores.register("azure")
class AzureBlobStore:
    kind = "azure"

    def __init__(
        self,
        connection_string: str,
        container: str,
        block_size: int = DEFAULT_BLOCK_SIZE,
        concurrency: int = 4,
        retries: int = 3,
        timeout: float = 30.0,
    ) -> None:
        if block_size <= 0 or concurrency <= 0:
            raise ConfigError("azure block_size and concurrency must be positive")
        try:
            service = BlobServiceClient.from_connection_string(
                connection_string,
                retry_total=retries,
                connection_timeout=timeout,
                read_timeout=timeout,
            )
        except ValueError as exc:
            raise ConfigError(f"azure connection string: {exc}") from None
        self._container: ContainerClient = service.get_container_client(container)
        self._endpoint = f"{service.url.rstrip('/')}/{container}"
        self.block_size = block_size
        self.concurrency = concurrency
        self._container_ready = False

    def _call(self, what: str, action: Callable[[], T]) -> T:
        """Run one SDK call, turning Azure's exceptions into flightdeck's error types."""
        try:
            return action()
        except ResourceNotFoundError:
            raise BlobNotFoundError(f"{what}: not found in {self.describe()}") from None
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise RetryableError(
                f"{what}: Azure Blob Storage at {self._endpoint} is unreachable: {exc}"
            ) from None
        except AzureError as exc:
            reason = (getattr(exc, "message", None) or str(exc)).splitlines()[0]
            raise PermanentError(f"{what}: Azure Blob Storage refused: {reason}") from None

    def _ensure_container(self) -> None:
        if self._container_ready:
            return

        def create() -> None:
            with contextlib.suppress(ResourceExistsError):
                self._container.create_container()

        self._call("create container", create)
        self._container_ready = True

    def open_writer(self, key: str) -> AzureBlobWriter:
        self._ensure_container()
        return AzureBlobWriter(self, key)

    def read_chunks(self, key: str, chunk_size: int = DEFAULT_READ_CHUNK) -> Iterator[bytes]:
        blob = self._container.get_blob_client(key)
        downloader = self._call(
            f"read {key}", lambda: blob.download_blob(max_concurrency=self.concurrency)
        )
        chunks = iter(downloader.chunks())
        while True:
            chunk = self._call(f"read {key}", lambda: next(chunks, None))
            if chunk is None:
                return
            yield chunk

    def put(self, key: str, data: bytes) -> None:
        self._ensure_container()
        blob = self._container.get_blob_client(key)
        self._call(f"upload {key}", lambda: blob.upload_blob(data, overwrite=True))

    def get(self, key: str) -> bytes:
        blob = self._container.get_blob_client(key)
        data: bytes = self._call(f"read {key}", lambda: blob.download_blob().readall())
        return data

    def list_keys(self, prefix: str = "") -> list[str]:
        def names() -> list[str]:
            try:
                return [b.name for b in self._container.list_blobs(name_starts_with=prefix)]
            except ResourceNotFoundError:  # no container yet: nothing stored
                return []

        return sorted(self._call("list blobs", names))

    def delete(self, key: str) -> None:
        blob = self._container.get_blob_client(key)
        self._call(f"delete {key}", blob.delete_blob)

    def list_unfinished(self) -> list[str]:
        return []  # uncommitted blocks are never listed; Azure discards them after a week

    def delete_unfinished(self, name: str) -> None:
        raise BlobNotFoundError(f"{name}: Azure keeps no unfinished writes")

    def describe(self) -> str:
        return f"Azure container {self._endpoint}"

    def stage_block(self, key: str, block_id: str, data: bytes) -> None:
        blob = self._container.get_blob_client(key)
        self._call(f"upload {key}", lambda: blob.stage_block(block_id, data, length=len(data)))

    def commit_blocks(self, key: str, block_ids: list[str]) -> None:
        blob = self._container.get_blob_client(key)
        blocks = [BlobBlock(block_id=block_id) for block_id in block_ids]
        self._call(f"commit {key}", lambda: blob.commit_block_list(blocks))


class AzureBlobWriter:
    """Buffers up to one block, stages blocks on a thread pool, commits the list at the end."""

    def __init__(self, store: AzureBlobStore, key: str) -> None:
        self._store = store
        self._key = key
        self._buffer = bytearray()
        self._block_ids: list[str] = []
        self._pending: deque[Future[None]] = deque()
        self._pool: ThreadPoolExecutor | None = ThreadPoolExecutor(
            max_workers=store.concurrency, thread_name_prefix="blob-upload"
        )

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= self._store.block_size:
            self._stage(bytes(self._buffer[: self._store.block_size]))
            del self._buffer[: self._store.block_size]

    def _stage(self, block: bytes) -> None:
        if self._pool is None:
            raise RuntimeError("write after commit or abort")
        block_id = base64.b64encode(f"{len(self._block_ids):012d}".encode()).decode()
        self._block_ids.append(block_id)
        self._pending.append(self._pool.submit(self._store.stage_block, self._key, block_id, block))
        # Bounded memory: at most two blocks per worker are queued or in flight.
        while len(self._pending) >= 2 * self._store.concurrency:
            self._wait(self._pending.popleft())

    def _wait(self, future: Future[Any]) -> None:
        try:
            future.result()
        except FlightdeckError:
            self.abort()
            raise

    def commit(self) -> None:
        if self._buffer or not self._block_ids:
            self._stage(bytes(self._buffer))
            self._buffer.clear()
        while self._pending:
            self._wait(self._pending.popleft())
        self._store.commit_blocks(self._key, self._block_ids)
        self.abort()

    def abort(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            for future in self._pending:
                future.cancel()
            self._pending.clear()
            pool.shutdown(wait=True)
