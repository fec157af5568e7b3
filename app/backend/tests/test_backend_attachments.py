"""Attachments on a real FerretDB and a real upload directory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from testsupport.backend import SettingsFactory, serve, wait_for_status

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def new_note(client: httpx.AsyncClient) -> str:
    note_id: str = (await client.post("/api/notes", json={"title": "with files"})).json()["id"]
    return note_id


def stored_files(settings_dir: Path) -> list[str]:
    return sorted(p.name for p in settings_dir.iterdir()) if settings_dir.exists() else []


async def test_upload_download_and_listing(client: httpx.AsyncClient, tmp_path: Path) -> None:
    note_id = await new_note(client)
    content = bytes(range(256)) * 1000
    uploaded = await client.post(
        f"/api/notes/{note_id}/attachments",
        files={"file": ("report 2024.pdf", content, "application/pdf")},
    )
    assert uploaded.status_code == 201, uploaded.text
    attachment = uploaded.json()
    assert attachment["filename"] == "report 2024.pdf"
    assert attachment["content_type"] == "application/pdf"
    assert attachment["size"] == len(content)

    note = (await client.get(f"/api/notes/{note_id}")).json()
    assert [a["id"] for a in note["attachments"]] == [attachment["id"]]

    download = await client.get(f"/api/notes/{note_id}/attachments/{attachment['id']}")
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert "report%202024.pdf" in download.headers["content-disposition"]
    assert download.headers["x-content-type-options"] == "nosniff"
    # On disk the file is named by its generated id only.
    assert stored_files(tmp_path / "uploads") == [attachment["id"]]


def raw_multipart(filename: bytes, content: bytes) -> tuple[bytes, dict[str, str]]:
    """A multipart body written by hand, so no client library cleans the filename first."""
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: text/plain\r\n\r\n'
        + content
        + b"\r\n--XyZ--\r\n"
    )
    return body, {"Content-Type": "multipart/form-data; boundary=XyZ"}


@pytest.mark.parametrize(
    ("client_name", "expected"),
    [
        (b"../../../etc/passwd", "passwd"),
        (b"..\\..\\windows\\win.ini", "win.ini"),
        (b"..", "attachment"),
        (b"/", "attachment"),
        (b"evil\x01\x7f name.txt", "evil name.txt"),
        ("r\u00e9sum\u00e9 \u2603.pdf".encode(), "r\u00e9sum\u00e9 \u2603.pdf"),
    ],
)
async def test_client_filename_is_never_a_path(
    client: httpx.AsyncClient, tmp_path: Path, client_name: bytes, expected: str
) -> None:
    note_id = await new_note(client)
    body, headers = raw_multipart(client_name, b"data")
    uploaded = await client.post(f"/api/notes/{note_id}/attachments", content=body, headers=headers)
    assert uploaded.status_code == 201, uploaded.text
    attachment = uploaded.json()
    assert attachment["filename"] == expected
    assert stored_files(tmp_path / "uploads") == [attachment["id"]]
    assert not (tmp_path / "etc").exists()
    download = await client.get(f"/api/notes/{note_id}/attachments/{attachment['id']}")
    assert download.content == b"data"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert disposition.isascii()
    assert "/" not in disposition
    assert "\\" not in disposition


async def test_malformed_content_type_is_stored_as_octet_stream(client: httpx.AsyncClient) -> None:
    note_id = await new_note(client)
    uploaded = await client.post(
        f"/api/notes/{note_id}/attachments", files={"file": ("a.bin", b"x", "not a type")}
    )
    assert uploaded.json()["content_type"] == "application/octet-stream"


@pytest.fixture
async def small_limit_client(
    make_settings: SettingsFactory,
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(make_settings(max_upload_bytes=1000))) as http:
        assert (await wait_for_status(http, "/health/startup", 200)).status_code == 200
        yield http


async def test_size_limit_413_and_no_partial_file(
    small_limit_client: httpx.AsyncClient, tmp_path: Path
) -> None:
    client = small_limit_client
    note_id = await new_note(client)
    at_limit = await client.post(
        f"/api/notes/{note_id}/attachments", files={"file": ("ok.bin", b"x" * 1000)}
    )
    assert at_limit.status_code == 201
    over = await client.post(
        f"/api/notes/{note_id}/attachments", files={"file": ("big.bin", b"x" * 1001)}
    )
    assert over.status_code == 413
    assert "1000 bytes" in over.json()["detail"]
    assert stored_files(tmp_path / "uploads") == [at_limit.json()["id"]]
    note = (await client.get(f"/api/notes/{note_id}")).json()
    assert len(note["attachments"]) == 1


async def test_size_limit_is_enforced_while_streaming(
    small_limit_client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Without a Content-Length (chunked), the limit still stops the upload mid-stream."""
    note_id = await new_note(small_limit_client)
    boundary = "b0undary"
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        for _ in range(1000):  # 1000 chunks of 500 bytes, far past the limit
            sent.append(500)
            yield b"y" * 500
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await small_limit_client.post(
        f"/api/notes/{note_id}/attachments",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert sum(sent) < 100 * 1000  # the server stopped reading early
    assert stored_files(tmp_path / "uploads") == []


async def test_attachments_are_deleted_with_their_note(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    note_id = await new_note(client)
    other = await new_note(client)
    for name in ("a.txt", "b.txt"):
        response = await client.post(
            f"/api/notes/{note_id}/attachments", files={"file": (name, b"a")}
        )
        assert response.status_code == 201
    kept = (
        await client.post(f"/api/notes/{other}/attachments", files={"file": ("c.txt", b"c")})
    ).json()["id"]
    assert len(stored_files(tmp_path / "uploads")) == 3
    assert (await client.delete(f"/api/notes/{note_id}")).status_code == 204
    assert stored_files(tmp_path / "uploads") == [kept]


async def test_upload_errors_name_the_field(client: httpx.AsyncClient) -> None:
    note_id = await new_note(client)
    url = f"/api/notes/{note_id}/attachments"
    for response in [
        await client.post(url, data={"other": "x"}, files={"notfile": ("a", b"a")}),
        await client.post(url, json={"file": "x"}),
        await client.post(
            url,
            content=b"--zz\r\ngarbage",
            headers={"Content-Type": "multipart/form-data; boundary=zz"},
        ),
    ]:
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", "file"]


async def test_unknown_note_or_attachment_is_404(client: httpx.AsyncClient) -> None:
    missing = "0123456789abcdef01234567"
    upload = await client.post(f"/api/notes/{missing}/attachments", files={"file": ("a.txt", b"a")})
    assert upload.status_code == 404
    note_id = await new_note(client)
    download = await client.get(f"/api/notes/{note_id}/attachments/{missing}")
    assert download.status_code == 404
    assert "attachment_id" in download.json()["detail"]
    malformed = await client.get(f"/api/notes/{note_id}/attachments/../../etc")
    assert malformed.status_code in {404, 422}
    bad = await client.get(f"/api/notes/{note_id}/attachments/zzz")
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["path", "attachment_id"]


async def test_upload_racing_a_delete_of_its_note_leaves_no_file(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    note_id = await new_note(client)
    boundary = "raceboundary"
    deleted: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="r.bin"\r\n\r\n'
        ).encode()
        yield b"z" * 1000
        # The note goes away while its attachment is still arriving.
        deleted.append((await client.delete(f"/api/notes/{note_id}")).status_code)
        yield b"z" * 1000
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await client.post(
        f"/api/notes/{note_id}/attachments",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert deleted == [204]
    assert response.status_code == 404
    assert stored_files(tmp_path / "uploads") == []
