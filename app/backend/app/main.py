"""The FastAPI application: `create_app(settings)`, and `app` for `uvicorn app.main:app`.

Run one worker per process (`--workers 1`); scale with processes or pods. Each process is its
own Prometheus target, so the metrics need no multiprocess mode.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import anyio
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure, PyMongoError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from app.api.deps import Backend, StartupState
from app.api.routes import attachments, health, notes, version
from app.core.config import Settings
from app.core.logging import configure_logging, get_logger
from app.crud import NoteRepository
from app.db import Database, describe
from app.metrics import Metrics
from app.middleware import RequestContextMiddleware
from app.uploads import UploadStore, make_upload_dir

log = get_logger(__name__)


async def run_startup(backend: Backend) -> None:
    """Wait for MongoDB and create the indexes, retrying with back-off until it works.

    It runs in the background so that the process serves liveness (and a 503 startup and
    readiness with the reason) while the database is down, instead of failing to start.
    """
    settings = backend.settings

    def record_failure(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        backend.startup.reason = describe(error) if error else "unknown"
        log.warning(
            "start-up attempt failed",
            attempt=state.attempt_number,
            reason=backend.startup.reason,
        )

    async for attempt in AsyncRetrying(
        wait=wait_exponential(multiplier=0.1, max=settings.startup_retry_max_seconds),
        retry=retry_if_exception_type((PyMongoError, OSError, TimeoutError)),
        before_sleep=record_failure,
    ):
        with attempt:
            await backend.db.ping(settings.readiness_timeout_seconds)
            await backend.db.ensure_indexes()
            await anyio.to_thread.run_sync(make_upload_dir, settings.upload_dir)
    backend.startup.done = True
    backend.startup.reason = ""
    log.info("start-up finished")


def _database_unavailable(request: Request, error: Exception) -> Response:
    """A database outage or timeout is a 503 the client may retry; other errors stay 500."""
    if isinstance(error, ConnectionFailure) or (isinstance(error, PyMongoError) and error.timeout):
        log.warning("database unavailable", reason=describe(error), path=request.url.path)
        return JSONResponse(
            {"detail": "database unavailable, retry later"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    raise error


# A 422 names each field and says what is wrong; it never echoes the input (which may be
# megabytes, or text that cannot even be encoded, such as a lone surrogate).
MAX_REPORTED_ERRORS = 20
MAX_LOC_PART = 64
MAX_MESSAGE = 300


def _printable(text: str, limit: int) -> str:
    """At most `limit` characters, encodable as UTF-8 (lone surrogates become \\udXXX)."""
    if len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _validation_failed(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = [
        {
            "type": _printable(str(problem.get("type", "value_error")), MAX_LOC_PART),
            "loc": [
                part if isinstance(part, int) else _printable(str(part), MAX_LOC_PART)
                for part in problem.get("loc", ())
            ],
            "msg": _printable(str(problem.get("msg", "")), MAX_MESSAGE),
        }
        for problem in error.errors()[:MAX_REPORTED_ERRORS]
    ]
    return JSONResponse({"detail": problems}, status_code=422)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)
    metrics = Metrics(settings.app_version, settings.app_track, settings.app_commit)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings, metrics)
        backend = Backend(
            settings=settings,
            metrics=metrics,
            db=db,
            notes=NoteRepository(db),
            uploads=UploadStore(settings.upload_dir),
            startup=StartupState(),
        )
        app.state.backend = backend
        log.info("starting", version=settings.app_version, track=settings.app_track)
        task = asyncio.create_task(run_startup(backend))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await db.close()
            log.info("stopped")

    app = FastAPI(
        title="Flightdeck notes",
        version=settings.app_version,
        lifespan=lifespan,
        description="The reference application that Flightdeck deploys. See docs/backend.md.",
        # operationId = the route function's name (`list_notes`), so that generated clients
        # (the frontend's) get readable names instead of `list_notes_api_notes_get`.
        generate_unique_id_function=lambda route: route.name,
    )
    for module in (notes, attachments, version, health):
        app.include_router(module.router)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    app.add_exception_handler(PyMongoError, _database_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_failed)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app


app = create_app()
