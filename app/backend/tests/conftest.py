"""Fixtures for the backend tests: the app on a real FerretDB, driven through httpx."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from app.main import create_app
from testsupport.ferretdb import FerretDB

SettingsFactory = Callable[..., Settings]


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


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and give an httpx client that talks to it in-process."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://backend.test"
        ) as client,
    ):
        yield client


async def wait_for_status(
    client: httpx.AsyncClient, path: str, status: int, within: float = 20.0
) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        response = await client.get(path)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        await anyio.sleep(0.1)


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


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample of name whose labels include the given ones."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None
