"""Attachments of a note: multipart upload (streamed, size-limited) and download."""

from __future__ import annotations

from fastapi import HTTPException, Request, status
from fastapi.responses import FileResponse

from app.api.deps import AttachmentId, BackendDep, NoteId, api_router
from app.api.routes.notes import note_not_found
from app.core.logging import get_logger
from app.models import Attachment
from app.uploads import FILE_FIELD, receive_upload

router = api_router("/notes/{note_id}/attachments", "attachments")
log = get_logger(__name__)

# The body is parsed by hand (streamed to disk), so its schema is declared for the OpenAPI
# document here rather than inferred from a parameter.
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=UPLOAD_BODY,
    responses={
        status.HTTP_404_NOT_FOUND: {"description": "No note with this id"},
        status.HTTP_413_CONTENT_TOO_LARGE: {"description": "The file is larger than allowed"},
    },
)
async def upload_attachment(note_id: NoteId, request: Request, backend: BackendDep) -> Attachment:
    # Refuse before reading the body when the note does not exist.
    if await backend.notes.get(note_id) is None:
        raise note_not_found()
    stored = await receive_upload(request, backend.uploads, backend.settings.max_upload_bytes)
    try:
        entry = await backend.notes.add_attachment(note_id, stored)
    except BaseException:
        await backend.uploads.delete([stored.id])
        raise
    if entry is None:  # the note was deleted while the file was uploading
        await backend.uploads.delete([stored.id])
        raise note_not_found()
    return Attachment(**entry)


@router.get(
    "/{attachment_id}",
    response_class=FileResponse,
    responses={
        status.HTTP_200_OK: {"content": {"application/octet-stream": {}}},
        status.HTTP_404_NOT_FOUND: {"description": "No such note or attachment"},
    },
)
async def download_attachment(
    note_id: NoteId, attachment_id: AttachmentId, backend: BackendDep
) -> FileResponse:
    doc = await backend.notes.get(note_id)
    if doc is None:
        raise note_not_found()
    entry = next((a for a in doc.get("attachments", []) if a["id"] == attachment_id), None)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "attachment_id: no such attachment")
    path = backend.uploads.path_for(attachment_id)
    if not path.is_file():
        log.error("attachment file missing", note_id=str(note_id), attachment_id=attachment_id)
        raise HTTPException(status.HTTP_404_NOT_FOUND, "attachment_id: the file is missing")
    return FileResponse(
        path,
        media_type=entry["content_type"],
        filename=entry["filename"],
        content_disposition_type="attachment",
        headers={"X-Content-Type-Options": "nosniff"},
    )
