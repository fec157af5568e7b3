"""Health semantics with the database taken away during the test (real FerretDB processes)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from app.main import create_app
from testsupport.backend import SettingsFactory, serve, wait_for_status
from testsupport.ferretdb import FerretDB
from testsupport.ports import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_outage_fails_readiness_but_never_liveness(
    make_settings: SettingsFactory, ferretdb_factory: Callable[[], FerretDB]
) -> None:
    db = ferretdb_factory()
    settings = make_settings(
        mongodb_uri=db.uri, readiness_timeout_seconds=1.0, mongodb_timeout_ms=1000
    )
    async with serve(create_app(settings)) as client:
        assert (await wait_for_status(client, "/health/startup", 200)).status_code == 200
        for path in ("/health/live", "/health/ready", "/health"):
            response = await client.get(path)
            assert response.status_code == 200, (path, response.text)
        note = (await client.post("/api/notes", json={"title": "before"})).json()

        db.stop()

        started = time.monotonic()
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        assert ready.json()["reason"].startswith("mongodb ping failed")
        assert time.monotonic() - started < 2.9  # inside the chart's 3 s probe timeout
        assert (await client.get("/health")).status_code == 503
        started = time.monotonic()
        live = await client.get("/health/live")
        assert time.monotonic() - started < 0.5  # does not wait for the database
        assert live.status_code == 200
        assert live.json() == {"status": "ok", "reason": None}
        # Start-up already happened; it stays done through an outage.
        assert (await client.get("/health/startup")).status_code == 200
        api = await client.get(f"/api/notes/{note['id']}")
        assert api.status_code == 503
        assert api.headers["retry-after"] == "5"

        db.start()

        assert (await wait_for_status(client, "/health/ready", 200)).status_code == 200
        again = await client.get(f"/api/notes/{note['id']}")
        assert again.status_code == 200
        assert again.json()["title"] == "before"


async def test_process_starts_without_database_and_finishes_start_up_later(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    port = free_port()
    settings = make_settings(
        mongodb_uri=f"mongodb://127.0.0.1:{port}/",
        readiness_timeout_seconds=0.5,
        mongodb_timeout_ms=500,
    )
    async with serve(create_app(settings)) as client:
        assert (await client.get("/health/live")).status_code == 200
        startup = await wait_for_status(client, "/health/startup", 200, within=1.5)
        assert startup.status_code == 503
        assert startup.json()["status"] == "starting"
        assert startup.json()["reason"]
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert "start-up not finished" in ready.json()["reason"]

        db = FerretDB(tmp_path / "late-db", port=port)
        db.start()
        try:
            assert (await wait_for_status(client, "/health/startup", 200)).status_code == 200
            assert (await wait_for_status(client, "/health/ready", 200)).status_code == 200
            created = await client.post("/api/notes", json={"title": "late"})
            assert created.status_code == 201
        finally:
            db.stop()
