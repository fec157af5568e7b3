"""Typed dependencies: the per-app components, parsed ids, fault injection."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Annotated

from bson import ObjectId
from bson.errors import InvalidId
from fastapi import APIRouter, Depends, HTTPException, Path, Request, status
from fastapi.exceptions import RequestValidationError

from app.core.config import Settings
from app.crud import NoteRepository
from app.db import Database
from app.metrics import Metrics
from app.uploads import UploadStore

OBJECT_ID_PATTERN = r"^[0-9a-fA-F]{24}$"


@dataclass
class StartupState:
    """Start-up work (database reachable, indexes created) and why it is not done yet."""

    done: bool = False
    reason: str = "start-up has not run yet"


@dataclass
class Backend:
    """Everything one app instance owns; kept in app.state.backend."""

    settings: Settings
    metrics: Metrics
    db: Database
    notes: NoteRepository
    uploads: UploadStore
    startup: StartupState


def get_backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


BackendDep = Annotated[Backend, Depends(get_backend)]


def _object_id(value: str, field: str) -> ObjectId:
    try:
        return ObjectId(value)
    except InvalidId as error:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("path", field), "msg": "not an id", "input": value}]
        ) from error


def note_id(
    note_id: Annotated[str, Path(pattern=OBJECT_ID_PATTERN, description="24 hex digits")],
) -> ObjectId:
    return _object_id(note_id, "note_id")


def attachment_id(
    attachment_id: Annotated[str, Path(pattern=OBJECT_ID_PATTERN, description="24 hex digits")],
) -> str:
    return str(_object_id(attachment_id, "attachment_id"))


NoteId = Annotated[ObjectId, Depends(note_id)]
AttachmentId = Annotated[str, Depends(attachment_id)]


async def inject_faults(backend: BackendDep) -> None:
    """FAULT_LATENCY_MS delays and FAULT_ERROR_RATE fails that share of /api/* requests.

    A router dependency rather than middleware, so the failed requests still carry their
    route template in the metrics that the canary analysis reads.
    """
    settings = backend.settings
    if settings.fault_latency_ms:
        await asyncio.sleep(settings.fault_latency_ms / 1000)
    if settings.fault_error_rate and random.random() < settings.fault_error_rate:  # noqa: S311
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "injected fault")


API_PREFIX = "/api"


def api_router(prefix: str, tag: str) -> APIRouter:
    """A router under /api with fault injection.

    The full prefix is given here, not at include time, so that each route's own path is the
    complete template that the metrics label `route` carries.
    """
    return APIRouter(prefix=API_PREFIX + prefix, tags=[tag], dependencies=[Depends(inject_faults)])
