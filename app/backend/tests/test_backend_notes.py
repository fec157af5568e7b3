"""The notes API on a real FerretDB: CRUD, pagination, validation that names the field."""

from __future__ import annotations

import httpx
import pytest
from pymongo import MongoClient

from app.core.config import Settings
from testsupport.ferretdb import FerretDB

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

MISSING_ID = "0123456789abcdef01234567"


def error_locations(response: httpx.Response) -> list[list[str | int]]:
    return [error["loc"] for error in response.json()["detail"]]


async def test_create_get_update_delete(client: httpx.AsyncClient) -> None:
    created = await client.post("/api/notes", json={"title": "  First  ", "body": "hello"})
    assert created.status_code == 201, created.text
    note = created.json()
    assert note["title"] == "First"
    assert note["body"] == "hello"
    assert note["attachments"] == []
    assert note["created_at"] == note["updated_at"]

    fetched = await client.get(f"/api/notes/{note['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == note

    updated = await client.patch(f"/api/notes/{note['id']}", json={"body": "changed"})
    assert updated.status_code == 200, updated.text
    assert updated.json()["body"] == "changed"
    assert updated.json()["title"] == "First"
    assert updated.json()["updated_at"] >= note["updated_at"]

    deleted = await client.delete(f"/api/notes/{note['id']}")
    assert deleted.status_code == 204
    assert (await client.get(f"/api/notes/{note['id']}")).status_code == 404
    assert (await client.delete(f"/api/notes/{note['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "ok", "body": 5}, "body"),
        ({"title": "ok", "colour": "red"}, "colour"),
    ],
)
async def test_create_validation_names_the_field(
    client: httpx.AsyncClient, payload: dict[str, object], field: str
) -> None:
    response = await client.post("/api/notes", json=payload)
    assert response.status_code == 422
    assert ["body", field] in error_locations(response)


async def test_update_needs_a_field(client: httpx.AsyncClient) -> None:
    note = (await client.post("/api/notes", json={"title": "t"})).json()
    response = await client.patch(f"/api/notes/{note['id']}", json={})
    assert response.status_code == 422
    assert "at least one" in response.text


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_unknown_id_is_404_malformed_is_422(client: httpx.AsyncClient, method: str) -> None:
    body = {"title": "x"} if method == "PATCH" else None
    unknown = await client.request(method, f"/api/notes/{MISSING_ID}", json=body)
    assert unknown.status_code == 404
    assert "note_id" in unknown.json()["detail"]
    for bad in ["nope", "0123456789abcdef0123456z", "0" * 25]:
        malformed = await client.request(method, f"/api/notes/{bad}", json=body)
        assert malformed.status_code == 422, (bad, malformed.text)
        assert ["path", "note_id"] in error_locations(malformed)


async def test_list_is_newest_first_and_pages_with_a_cursor(client: httpx.AsyncClient) -> None:
    created = [
        (await client.post("/api/notes", json={"title": f"note {i}"})).json()["id"]
        for i in range(7)
    ]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/notes", params=params)).json()
        pages += 1
        assert len(page["items"]) <= 3
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(created))
    default = (await client.get("/api/notes")).json()
    assert [n["id"] for n in default["items"]] == list(reversed(created))
    assert default["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "MTIzOnh5eg"}, "cursor"),
    ],
)
async def test_list_rejects_bad_parameters(
    client: httpx.AsyncClient, params: dict[str, object], field: str
) -> None:
    response = await client.get("/api/notes", params=params)
    assert response.status_code == 422
    assert ["query", field] in error_locations(response)


async def test_indexes_are_created_at_start_up(
    client: httpx.AsyncClient, ferretdb: FerretDB, settings: Settings
) -> None:
    assert (await client.get("/health/startup")).status_code == 200
    with MongoClient(ferretdb.uri) as mongo:
        indexes = mongo[settings.mongodb_database]["notes"].index_information()
    assert indexes["created_desc"]["key"] == [("created_at", -1), ("_id", -1)]
