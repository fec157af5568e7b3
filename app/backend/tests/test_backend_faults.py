"""Fault injection: off by default, set by environment, only on /api/*."""

from __future__ import annotations

import time

import pytest

from app.main import create_app
from testsupport.backend import SettingsFactory, sample, serve, wait_for_status

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_error_rate_one_fails_every_api_request_but_not_health(
    make_settings: SettingsFactory,
) -> None:
    async with serve(create_app(make_settings(fault_error_rate=1.0))) as client:
        assert (await wait_for_status(client, "/health/ready", 200)).status_code == 200
        for _ in range(5):
            response = await client.get("/api/version")
            assert response.status_code == 500
            assert response.json()["detail"] == "injected fault"
        assert (await client.post("/api/notes", json={"title": "x"})).status_code == 500
        assert (await client.get("/health/live")).status_code == 200
        metrics = (await client.get("/metrics")).text
        failed = sample(
            metrics, "http_requests_total", route="/api/version", status="500", track="canary"
        )
        assert failed == 5.0


async def test_error_rate_is_a_share(make_settings: SettingsFactory) -> None:
    async with serve(create_app(make_settings(fault_error_rate=0.5))) as client:
        statuses = [(await client.get("/api/version")).status_code for _ in range(200)]
    failed = statuses.count(500)
    assert statuses.count(200) + failed == 200
    assert 50 < failed < 150


async def test_latency_is_added_to_api_only(make_settings: SettingsFactory) -> None:
    async with serve(create_app(make_settings(fault_latency_ms=300))) as client:
        started = time.monotonic()
        assert (await client.get("/api/version")).status_code == 200
        assert time.monotonic() - started >= 0.3
        started = time.monotonic()
        assert (await client.get("/health/live")).status_code == 200
        assert time.monotonic() - started < 0.3


async def test_faults_are_off_by_default(make_settings: SettingsFactory) -> None:
    defaults = make_settings()
    assert defaults.fault_error_rate == 0.0
    assert defaults.fault_latency_ms == 0
    async with serve(create_app(defaults)) as client:
        statuses = {(await client.get("/api/version")).status_code for _ in range(50)}
    assert statuses == {200}
