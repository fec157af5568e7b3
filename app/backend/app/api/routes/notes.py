"""The notes resource: create, list (newest first, cursor pagination), get, update, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import HTTPException, Query, Response, status
from fastapi.exceptions import RequestValidationError

from app.api.deps import BackendDep, NoteId, api_router
from app.crud import InvalidCursorError
from app.models import Note, NoteCreate, NotePage, NoteUpdate

router = api_router("/notes", "notes")

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: {"description": "No note with this id"}
}


def note_not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, "note_id: no note with this id")


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_note(payload: NoteCreate, backend: BackendDep) -> Note:
    return Note.from_document(await backend.notes.create(payload.title, payload.body))


@router.get("")
async def list_notes(
    backend: BackendDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
) -> NotePage:
    try:
        docs, next_cursor = await backend.notes.page(limit, cursor)
    except InvalidCursorError as error:
        raise RequestValidationError(
            [{"type": "value_error", "loc": ("query", "cursor"), "msg": str(error)}]
        ) from error
    return NotePage(items=[Note.from_document(d) for d in docs], next_cursor=next_cursor)


@router.get("/{note_id}", responses=NOT_FOUND)
async def get_note(note_id: NoteId, backend: BackendDep) -> Note:
    doc = await backend.notes.get(note_id)
    if doc is None:
        raise note_not_found()
    return Note.from_document(doc)


@router.patch("/{note_id}", responses=NOT_FOUND)
async def update_note(note_id: NoteId, payload: NoteUpdate, backend: BackendDep) -> Note:
    doc = await backend.notes.update(note_id, payload.changes())
    if doc is None:
        raise note_not_found()
    return Note.from_document(doc)


@router.delete("/{note_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def delete_note(note_id: NoteId, backend: BackendDep) -> Response:
    doc = await backend.notes.delete(note_id)
    if doc is None:
        raise note_not_found()
    await backend.uploads.delete([a["id"] for a in doc.get("attachments", [])])
    return Response(status_code=status.HTTP_204_NO_CONTENT)
