"""Notes in MongoDB: every operation the API needs, each timed into the MongoDB histogram."""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import DESCENDING, ReturnDocument

from app.db import Database, Document
from app.uploads import StoredFile

NEWEST_FIRST = [("created_at", DESCENDING), ("_id", DESCENDING)]


class InvalidCursorError(ValueError):
    """The cursor was not produced by this API."""


def _now() -> datetime:
    # MongoDB stores milliseconds; truncating here keeps the cursor and the stored value equal.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def encode_cursor(doc: Document) -> str:
    """An opaque cursor pointing just after doc in newest-first order."""
    created: datetime = doc["created_at"]
    raw = f"{int(created.timestamp() * 1000)}:{doc['_id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, ObjectId]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        millis, oid = raw.split(":")
        created = datetime.fromtimestamp(int(millis) / 1000, UTC)
        return created, ObjectId(oid)
    except (binascii.Error, UnicodeDecodeError, ValueError, InvalidId, OverflowError) as error:
        raise InvalidCursorError("not a cursor returned by this API") from error


class NoteRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._notes = db.notes

    async def create(self, title: str, body: str) -> Document:
        now = _now()
        doc: Document = {
            "title": title,
            "body": body,
            "created_at": now,
            "updated_at": now,
            "attachments": [],
        }
        async with self._db.timed("insert_one"):
            result = await self._notes.insert_one(doc)
        doc["_id"] = result.inserted_id
        return doc

    async def page(self, limit: int, cursor: str | None) -> tuple[list[Document], str | None]:
        """Up to limit notes, newest first, after cursor; and the cursor of the next page."""
        query: dict[str, Any] = {}
        if cursor is not None:
            created, oid = decode_cursor(cursor)
            query = {
                "$or": [
                    {"created_at": {"$lt": created}},
                    {"created_at": created, "_id": {"$lt": oid}},
                ]
            }
        async with self._db.timed("find"):
            docs = await self._notes.find(query).sort(NEWEST_FIRST).limit(limit + 1).to_list()
        next_cursor = encode_cursor(docs[limit - 1]) if len(docs) > limit else None
        return docs[:limit], next_cursor

    async def get(self, note_id: ObjectId) -> Document | None:
        async with self._db.timed("find_one"):
            return await self._notes.find_one({"_id": note_id})

    async def update(self, note_id: ObjectId, changes: dict[str, str]) -> Document | None:
        async with self._db.timed("find_one_and_update"):
            return await self._notes.find_one_and_update(
                {"_id": note_id},
                {"$set": {**changes, "updated_at": _now()}},
                return_document=ReturnDocument.AFTER,
            )

    async def delete(self, note_id: ObjectId) -> Document | None:
        """Delete the note and return it (its attachments say which files to remove)."""
        async with self._db.timed("find_one_and_delete"):
            return await self._notes.find_one_and_delete({"_id": note_id})

    async def add_attachment(self, note_id: ObjectId, stored: StoredFile) -> Document | None:
        """Record the attachment in its note; None if the note is gone (e.g. deleted meanwhile)."""
        entry = {**asdict(stored), "created_at": _now()}
        async with self._db.timed("update_one"):
            result = await self._notes.update_one(
                {"_id": note_id},
                {"$push": {"attachments": entry}, "$set": {"updated_at": entry["created_at"]}},
            )
        return entry if result.matched_count else None
