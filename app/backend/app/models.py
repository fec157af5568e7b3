"""Request and response bodies of the API (pydantic), and their mapping from MongoDB documents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

TITLE_MAX = 200
BODY_MAX = 20_000

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TITLE_MAX)]
Body = Annotated[str, StringConstraints(max_length=BODY_MAX)]


class NoteCreate(BaseModel):
    """A new note. Unknown fields are refused, so a typo names the field instead of vanishing."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    body: Body = ""


class NoteUpdate(BaseModel):
    """A partial update: only the fields present change; null means "leave unchanged"."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    body: Body | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> NoteUpdate:
        if self.title is None and self.body is None:
            raise ValueError("give at least one of the fields title, body")
        return self

    def changes(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class Attachment(BaseModel):
    id: str
    filename: str
    content_type: str
    size: int
    created_at: datetime


class Note(BaseModel):
    id: str
    title: str
    body: str
    created_at: datetime
    updated_at: datetime
    attachments: list[Attachment]

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Note:
        return cls(
            id=str(doc["_id"]),
            title=doc["title"],
            body=doc["body"],
            created_at=doc["created_at"],
            updated_at=doc["updated_at"],
            attachments=[Attachment(**a) for a in doc.get("attachments", [])],
        )


class NotePage(BaseModel):
    """One page of notes, newest first; pass next_cursor back as ?cursor= for the next page."""

    items: list[Note]
    next_cursor: str | None = Field(
        description="Opaque; null when this is the last page.", examples=[None]
    )


class Version(BaseModel):
    version: str
    track: Literal["stable", "canary", "blue", "green"]
    commit: str


class HealthStatus(BaseModel):
    status: Literal["ok", "ready", "started", "starting", "unavailable"]
    reason: str | None = None
