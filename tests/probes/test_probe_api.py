"""Probes of the notes API with hostile bodies and a full disk (issue 10, points 3 and 6).

The app runs on a real FerretDB: in-process for the bodies, as a real uvicorn process for the
full disk, which is real too: a 1 MiB tmpfs mounted in the server's own mount namespace
(ENOSPC), and a file size limit on the server process (EFBIG), never a mocked write.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from testsupport.backend import BackendProcess, serve, wait_for_status
from testsupport.ferretdb import FerretDB

pytestmark = pytest.mark.integration

STORAGE_FULL = {"detail": "file: the attachment storage is full; nothing was stored, retry later"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def api_probe_client(ferretdb: FerretDB, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        mongodb_uri=ferretdb.uri,
        mongodb_database=f"probe_{uuid.uuid4().hex[:12]}",
        upload_dir=tmp_path / "uploads",
        startup_retry_max_seconds=0.5,
    )
    async with serve(create_app(settings)) as client:
        assert (await wait_for_status(client, "/health/startup", 200)).status_code == 200
        yield client


def post_raw(body: bytes) -> dict[str, object]:
    return {"content": body, "headers": {"Content-Type": "application/json"}}


# --- 422: name the field, never echo the input ------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (b'{"title": "\\ud800"}', ["body", "title"]),
        (b'{"title": "ok", "body": "a\\udfff b"}', ["body", "body"]),
        (b'{"title": "ok", "\\ud800": 1}', ["body"]),  # a field name that is no text
    ],
)
async def test_a_lone_surrogate_answers_422_naming_the_field(
    api_probe_client: httpx.AsyncClient, body: bytes, loc: list[str]
) -> None:
    response = await api_probe_client.post("/api/notes", **post_raw(body))  # type: ignore[arg-type]
    assert response.status_code == 422, response.text
    detail = json.loads(response.content.decode("utf-8"))["detail"]
    assert [problem["loc"] for problem in detail] == [loc]
    assert "input" not in detail[0]


@pytest.mark.anyio
async def test_a_lone_surrogate_in_an_update_answers_422(
    api_probe_client: httpx.AsyncClient,
) -> None:
    note = (await api_probe_client.post("/api/notes", json={"title": "t"})).json()["id"]
    response = await api_probe_client.patch(
        f"/api/notes/{note}",
        **post_raw(b'{"title": "\\ud800"}'),  # type: ignore[arg-type]
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "title"]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "first_loc"),
    [
        (b'{"title": "t", "body": "' + b"y" * 5_000_000 + b'"}', ["body", "body"]),
        (b'{"title": "' + b"t" * 5_000_000 + b'"}', ["body", "title"]),
        (b'{"title": "t", "' + b"k" * 5_000_000 + b'": 1}', ["body", "k" * 63 + "\u2026"]),
        (
            b"{" + b", ".join(b'"f%d": 1' % i for i in range(100_000)) + b', "title": "t"}',
            ["body", "f0"],
        ),
    ],
    ids=["5 MB value", "5 MB title", "5 MB field name", "100000 unknown fields"],
)
async def test_422_does_not_echo_large_input(
    api_probe_client: httpx.AsyncClient, body: bytes, first_loc: list[str]
) -> None:
    response = await api_probe_client.post("/api/notes", **post_raw(body))  # type: ignore[arg-type]
    assert response.status_code == 422
    assert len(response.content) < 8_000
    detail = response.json()["detail"]
    assert detail[0]["loc"] == first_loc
    assert all(set(problem) == {"type", "loc", "msg"} for problem in detail)


# --- a full uploads volume: 507, nothing kept ---------------------------------------------------


@dataclass
class FullVolume:
    backend: BackendProcess
    uploads: Path  # where the test sees the server's upload directory

    def stored(self) -> list[str]:
        return sorted(path.name for path in self.uploads.iterdir())


def _tmpfs_launcher(upload_dir: Path) -> list[str]:
    """Run the server in its own mount namespace with a 1 MiB tmpfs on its upload directory;
    as a non-root user, inside a user namespace as well."""
    user = [] if os.geteuid() == 0 else ["--map-root-user"]
    mount = 'mount -t tmpfs -o size=1m tmpfs "$0" && exec "$@"'
    return ["unshare", *user, "--mount", "--propagation", "private", "sh", "-c", mount,
            str(upload_dir)]  # fmt: skip


@pytest.fixture(params=["tmpfs", "file-size-limit"])
def api_probe_full_volume(
    request: pytest.FixtureRequest, ferretdb: FerretDB, tmp_path: Path
) -> Iterator[FullVolume]:
    upload_dir = tmp_path / "uploads"
    upload_dir.mkdir()
    if request.param == "tmpfs":
        launcher = _tmpfs_launcher(upload_dir)
        probe = subprocess.run([*launcher, "true"], capture_output=True, text=True, check=False)
        if probe.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({probe.stderr.strip()}); see file-size-limit")
    else:
        launcher = ["prlimit", f"--fsize={512 * 1024}", "--"]  # writes past 512 KiB: EFBIG
    backend = BackendProcess(
        env={
            "MONGODB_URI": ferretdb.uri,
            "MONGODB_DATABASE": f"probe_{uuid.uuid4().hex[:12]}",
            "UPLOAD_DIR": str(upload_dir),
            "STARTUP_RETRY_MAX_SECONDS": "0.5",
        },
        log_path=tmp_path / "backend.log",
        launcher=launcher,
    )
    backend.start(wait_for="/health/startup")
    assert backend.process is not None
    seen = Path(f"/proc/{backend.process.pid}/root{upload_dir}")
    try:
        yield FullVolume(backend, seen if request.param == "tmpfs" else upload_dir)
    finally:
        backend.stop()


def test_a_full_uploads_volume_answers_507_and_keeps_nothing(
    api_probe_full_volume: FullVolume,
) -> None:
    volume = api_probe_full_volume
    with httpx.Client(base_url=volume.backend.url, timeout=30) as client:
        note = client.post("/api/notes", json={"title": "full disk"}).json()["id"]
        url = f"/api/notes/{note}/attachments"
        too_big = client.post(url, files={"file": ("big.bin", os.urandom(2 * 1024 * 1024))})
        assert too_big.status_code == 507, too_big.text
        assert too_big.json() == STORAGE_FULL
        assert volume.stored() == []
        assert client.get(f"/api/notes/{note}").json()["attachments"] == []
        # The space of the partial file was given back: a file that fits is stored.
        fits = client.post(url, files={"file": ("small.bin", os.urandom(300 * 1024))})
        assert fits.status_code == 201, fits.text
        assert volume.stored() == [fits.json()["id"]]


# --- attachment files are not world-readable ------------------------------------------------------


@pytest.mark.anyio
async def test_attachment_files_are_not_world_readable(
    api_probe_client: httpx.AsyncClient, tmp_path: Path
) -> None:
    note = (await api_probe_client.post("/api/notes", json={"title": "private"})).json()["id"]
    uploaded = await api_probe_client.post(
        f"/api/notes/{note}/attachments", files={"file": ("secret.txt", b"secret")}
    )
    assert uploaded.status_code == 201
    stored = tmp_path / "uploads" / uploaded.json()["id"]
    assert stored.stat().st_mode & 0o777 & ~0o640 == 0
    assert stored.parent.stat().st_mode & 0o007 == 0
