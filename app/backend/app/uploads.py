"""Attachment files: a multipart body streamed to disk under UPLOAD_DIR, with a size limit.

Starlette's form parser would spool the whole upload before the handler runs; here the request
stream is fed to python-multipart chunk by chunk, the file part goes straight to a partial file,
and the upload is refused (413) as soon as it passes the limit, with the partial file removed.
Files are named by a generated id only; the client's filename is kept as metadata for the
download's Content-Disposition and never touches the file system. Files are created 0640 in a
0750 directory (never world-readable) and synced before they are renamed into place; a full
volume answers 507 and leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

import anyio
from bson import ObjectId
from fastapi import HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

if TYPE_CHECKING:
    from collections.abc import Callable

    from python_multipart.multipart import MultipartCallbacks

FILE_FIELD = "file"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# Room for the multipart framing and small extra fields around the file itself.
MULTIPART_OVERHEAD = 64 * 1024
_MAX_HEADER_BYTES = 8 * 1024
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_ATTACHMENT_ID = re.compile(r"^[0-9a-f]{24}$")
FILE_MODE = 0o640
DIRECTORY_MODE = 0o750
# The volume cannot take the file: full, over quota, or past a file size limit.
_STORAGE_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


@dataclass(frozen=True)
class StoredFile:
    id: str
    filename: str
    content_type: str
    size: int


class UploadStore:
    """The directory shared by every replica; files are named by attachment id, nothing else."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, attachment_id: str) -> Path:
        if not _ATTACHMENT_ID.fullmatch(attachment_id):
            raise ValueError(f"not an attachment id: {attachment_id!r}")
        return self.root / attachment_id

    async def delete(self, attachment_ids: list[str]) -> None:
        def remove() -> None:
            for attachment_id in attachment_ids:
                self.path_for(attachment_id).unlink(missing_ok=True)

        await anyio.to_thread.run_sync(remove)


def invalid(message: str) -> RequestValidationError:
    """A 422 in FastAPI's usual shape, naming the multipart field `file`."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", FILE_FIELD), "msg": message, "input": None}]
    )


def too_large(limit: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, f"file: the upload is larger than {limit} bytes"
    )


def storage_full() -> HTTPException:
    return HTTPException(
        status.HTTP_507_INSUFFICIENT_STORAGE,
        "file: the attachment storage is full; nothing was stored, retry later",
    )


def make_upload_dir(root: Path) -> None:
    root.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)


def safe_filename(raw: str) -> str:
    """The last path component, without control characters, at most 255 characters."""
    name = re.split(r"[\\/]", raw)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    if name in {"", ".", ".."}:
        return "attachment"
    return name[:255]


def media_type(raw: str | None) -> str:
    """The part's declared media type (without parameters) if well-formed, else octet-stream."""
    if not raw:
        return DEFAULT_CONTENT_TYPE
    value = raw.split(";", 1)[0].strip().lower()
    return value if _MEDIA_TYPE.fullmatch(value) else DEFAULT_CONTENT_TYPE


@dataclass
class _Receiver:
    """State fed by python-multipart's callbacks; events are handled between two writes."""

    store: UploadStore
    limit: int
    events: list[tuple[str, bytes]] = field(default_factory=list)
    header_field: bytes = b""
    header_value: bytes = b""
    headers: dict[bytes, bytes] = field(default_factory=dict)
    writing: IO[bytes] | None = None
    partial: Path | None = None
    size: int = 0
    result: StoredFile | None = None
    pending: StoredFile | None = None

    def callbacks(self) -> MultipartCallbacks:
        def event(name: str) -> Callable[[], None]:
            return lambda: self.events.append((name, b""))

        def data_event(name: str) -> Callable[[bytes, int, int], None]:
            return lambda data, start, end: self.events.append((name, bytes(data[start:end])))

        return {
            "on_part_begin": event("part_begin"),
            "on_header_field": data_event("header_field"),
            "on_header_value": data_event("header_value"),
            "on_header_end": event("header_end"),
            "on_headers_finished": event("headers_finished"),
            "on_part_data": data_event("part_data"),
            "on_part_end": event("part_end"),
        }

    async def handle_events(self) -> None:
        events, self.events = self.events, []
        for name, data in events:
            await self._handle(name, data)

    async def _handle(self, name: str, data: bytes) -> None:
        if name == "part_begin":
            self.headers = {}
        elif name == "header_field":
            self.header_field += data
        elif name == "header_value":
            self.header_value += data
            if len(self.header_field) + len(self.header_value) > _MAX_HEADER_BYTES:
                raise invalid("a multipart header is too long")
        elif name == "header_end":
            self.headers[self.header_field.lower()] = self.header_value
            self.header_field = self.header_value = b""
        elif name == "headers_finished":
            await self._begin_part()
        elif name == "part_data" and self.writing is not None:
            self.size += len(data)
            if self.size > self.limit:
                raise too_large(self.limit)
            await anyio.to_thread.run_sync(self.writing.write, data)
        elif name == "part_end" and self.writing is not None:
            await self._finish_file()

    async def _begin_part(self) -> None:
        disposition = self.headers.get(b"content-disposition", b"")
        _, options = parse_options_header(disposition)
        if options.get(b"name") != FILE_FIELD.encode() or b"filename" not in options:
            return  # another field: its bytes count against the body limit, nothing more
        if self.result is not None:
            raise invalid("send exactly one file")
        filename = options[b"filename"].decode("utf-8", errors="replace")
        attachment_id = str(ObjectId())
        self.partial = self.store.path_for(attachment_id).with_suffix(".part")
        content_type = self.headers.get(b"content-type", b"").decode("latin-1")
        self.pending = StoredFile(
            id=attachment_id,
            filename=safe_filename(filename),
            content_type=media_type(content_type),
            size=0,
        )

        def open_partial(path: Path) -> IO[bytes]:
            make_upload_dir(path.parent)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
            return os.fdopen(fd, "wb")

        self.writing = await anyio.to_thread.run_sync(open_partial, self.partial)

    async def _finish_file(self) -> None:
        assert self.writing is not None
        assert self.partial is not None
        assert self.pending is not None
        await anyio.to_thread.run_sync(_sync_and_close, self.writing)
        self.writing = None
        final = self.store.path_for(self.pending.id)
        await anyio.to_thread.run_sync(os.replace, self.partial, final)
        self.partial = None
        self.result = StoredFile(
            id=self.pending.id,
            filename=self.pending.filename,
            content_type=self.pending.content_type,
            size=self.size,
        )

    async def discard(self) -> None:
        """Remove whatever was written: the partial file and a completed one alike."""

        def remove(paths: list[Path]) -> None:
            for path in paths:
                path.unlink(missing_ok=True)

        if self.writing is not None:
            with contextlib.suppress(OSError):
                await anyio.to_thread.run_sync(self.writing.close)
            self.writing = None
        paths = [p for p in (self.partial,) if p is not None]
        if self.result is not None:
            paths.append(self.store.path_for(self.result.id))
        await anyio.to_thread.run_sync(remove, paths)


def _sync_and_close(handle: IO[bytes]) -> None:
    """Flush and fsync before the rename: a full disk shows up here, not after the 201."""
    try:
        handle.flush()
        os.fsync(handle.fileno())
    finally:
        handle.close()


async def receive_upload(request: Request, store: UploadStore, limit: int) -> StoredFile:
    """Stream the multipart field `file` of the request to disk; 413 past limit bytes."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise invalid("expected a multipart/form-data body with a field named file")
    body_limit = limit + MULTIPART_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > body_limit:
        raise too_large(limit)
    receiver = _Receiver(store=store, limit=limit)
    try:
        parser = MultipartParser(boundary, receiver.callbacks())
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > body_limit:
                raise too_large(limit)
            parser.write(chunk)
            await receiver.handle_events()
        parser.finalize()
        await receiver.handle_events()
    except MultipartParseError as error:
        await receiver.discard()
        raise invalid(f"malformed multipart body: {error}") from error
    except OSError as error:
        await receiver.discard()
        if error.errno in _STORAGE_FULL:
            raise storage_full() from error
        raise
    except BaseException:
        await receiver.discard()
        raise
    if receiver.writing is not None:
        await receiver.discard()
        raise invalid("the multipart body ended inside the file")
    if receiver.result is None:
        raise invalid("field required")
    return receiver.result
