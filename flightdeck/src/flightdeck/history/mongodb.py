"""HistoryStore in a MongoDB collection (`delivery_history`) of the platform's own database.

The collection lives beside the application's data, so every backup (a mongodump of the whole
database) includes it, and a restore brings it back with the rest. Each entry is one document
whose `_id` is the entry's id: inserting an id that exists fails with a duplicate key, which
means the entry is already there (an earlier attempt reached the server), so appending is
idempotent.

The client is created on first use with short timeouts: a database that is down makes `append`
raise RetryableError within seconds instead of blocking its caller for pymongo's default 30 s.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError, PyMongoError

from flightdeck.core.errors import RetryableError
from flightdeck.history import HistoryEntry, history_stores

COLLECTION = "delivery_history"


def _describe(error: PyMongoError) -> str:
    """The error's first clause: pymongo's messages list every server tried, with details."""
    return str(error).split(",")[0][:300]


@history_stores.register("mongodb")
class MongoHistoryStore:
    def __init__(
        self, uri: str, database: str, collection: str = COLLECTION, timeout_ms: int = 2000
    ) -> None:
        self._uri = uri
        self.database = database
        self.collection_name = collection
        self.timeout_ms = timeout_ms
        self._client: MongoClient[dict[str, Any]] | None = None
        self._indexed = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the URI: it may hold a password
        return f"MongoHistoryStore({self.database}.{self.collection_name})"

    def _collection(self) -> Collection[dict[str, Any]]:
        with self._lock:
            if self._client is None:
                self._client = MongoClient(
                    self._uri,
                    tz_aware=True,
                    serverSelectionTimeoutMS=self.timeout_ms,
                    connectTimeoutMS=self.timeout_ms,
                    socketTimeoutMS=self.timeout_ms * 3,
                    appname="flightdeck-history",
                )
            collection = self._client[self.database][self.collection_name]
            if not self._indexed:
                collection.create_index([("at", ASCENDING)], name="at")
                self._indexed = True
            return collection

    def append(self, entry: HistoryEntry) -> None:
        document = entry.model_dump(mode="python")
        document["_id"] = document.pop("id")
        try:
            self._collection().insert_one(document)
        except DuplicateKeyError:
            return  # written by an earlier attempt
        except PyMongoError as exc:
            raise RetryableError(
                f"the history ({self.database}.{self.collection_name}) is unreachable: "
                f"{_describe(exc)}"
            ) from exc

    def read(self, since: datetime | None = None) -> list[HistoryEntry]:
        query: dict[str, Any] = {"at": {"$gte": since}} if since is not None else {}
        try:
            documents = list(self._collection().find(query).sort([("at", ASCENDING)]))
        except PyMongoError as exc:
            raise RetryableError(
                f"the history ({self.database}.{self.collection_name}) is unreachable: "
                f"{_describe(exc)}"
            ) from exc
        entries = []
        for document in documents:
            document["id"] = document.pop("_id")
            entries.append(HistoryEntry.model_validate(document))
        return sorted(entries, key=lambda entry: (entry.at, entry.id))

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
                self._indexed = False
