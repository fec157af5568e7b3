"""Fixtures for the backend tests: the app on a real FerretDB, driven through httpx."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from testsupport.backend import SettingsFactory, serve, wait_for_status
from testsupport.ferretdb import FerretDB


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def make_settings(ferretdb: FerretDB, tmp_path: Path) -> SettingsFactory:
    """Settings on the session's FerretDB with a database and an upload dir of this test's own."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "mongodb_uri": ferretdb.uri,
            "mongodb_database": f"test_{uuid.uuid4().hex[:12]}",
            "upload_dir": tmp_path / "uploads",
            "app_version": "1.2.3",
            "app_track": "canary",
            "app_commit": "abc1234",
            "fault_error_rate": 0.0,
            "fault_latency_ms": 0,
            "startup_retry_max_seconds": 0.5,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with `settings`, started (indexes created) on FerretDB."""
    async with serve(create_app(settings)) as http:
        started = await wait_for_status(http, "/health/startup", 200)
        assert started.status_code == 200, started.text
        yield http
