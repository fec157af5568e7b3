"""The MongoDB client: lifecycle, start-up work (ping + indexes), timed operations.

The client connects lazily, so the process starts and serves liveness while the database is
down; readiness and start-up report the outage instead (see app/api/routes/health.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pymongo
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from app.core.config import Settings
from app.metrics import Metrics

NOTES = "notes"

Document = dict[str, Any]

# Newest first with a unique tie-break: the order that list pagination walks.
NOTES_INDEXES = [
    pymongo.IndexModel(
        [("created_at", pymongo.DESCENDING), ("_id", pymongo.DESCENDING)], name="created_desc"
    ),
]


def describe(error: BaseException) -> str:
    """A short one-line reason for health answers and logs (PyMongo's messages run to pages)."""
    text = str(error).split(" (configured timeouts")[0].split(", Timeout:")[0].strip()
    return f"{type(error).__name__}: {text or 'no answer in time'}"[:300]


class Database:
    """One AsyncMongoClient per process, and the collections the API uses."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._metrics = metrics
        self.client: AsyncMongoClient[Document] = AsyncMongoClient(
            settings.mongodb_uri,
            tz_aware=True,
            timeoutMS=settings.mongodb_timeout_ms,
            serverSelectionTimeoutMS=settings.mongodb_timeout_ms,
            appname=f"flightdeck-backend/{settings.app_version}",
        )
        self.notes: AsyncCollection[Document] = self.client[settings.mongodb_database][NOTES]

    @asynccontextmanager
    async def timed(self, operation: str, collection: str = NOTES) -> AsyncIterator[None]:
        """Time the operation in the block into mongodb_operation_duration_seconds."""
        async with self._metrics.time_mongo(operation, collection):
            yield

    async def ping(self, within: float) -> None:
        """Raise a PyMongoError unless the server answers a ping within that many seconds."""
        with pymongo.timeout(within):
            async with self.timed("ping", "admin"):
                await self.client.admin.command("ping")

    async def ensure_indexes(self) -> None:
        """Create the indexes (idempotent: existing identical indexes are kept)."""
        async with self.timed("create_indexes"):
            await self.notes.create_indexes(NOTES_INDEXES)

    async def close(self) -> None:
        await self.client.close()
