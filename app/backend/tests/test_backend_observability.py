"""Metrics text, request ids and the one JSON log line per request."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from app.main import create_app
from testsupport.backend import SettingsFactory, sample, serve, wait_for_status

pytestmark = [pytest.mark.anyio, pytest.mark.integration]


async def test_metrics_carry_route_template_version_and_track(client: httpx.AsyncClient) -> None:
    note = (await client.post("/api/notes", json={"title": "m"})).json()
    for _ in range(3):
        assert (await client.get(f"/api/notes/{note['id']}")).status_code == 200
    assert (await client.get("/api/notes/0123456789abcdef01234567")).status_code == 404
    assert (await client.get("/no/such/path")).status_code == 404

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    labels = {"version": "1.2.3", "track": "canary"}
    ok = sample(
        text,
        "http_requests_total",
        method="GET",
        route="/api/notes/{note_id}",
        status="200",
        **labels,
    )
    assert ok == 3.0
    missing = sample(
        text, "http_requests_total", route="/api/notes/{note_id}", status="404", **labels
    )
    assert missing == 1.0
    assert sample(text, "http_requests_total", route="unmatched", status="404") == 1.0
    assert note["id"] not in text  # never the raw path
    assert "/no/such/path" not in text
    for bound in ("0.005", "10.0", "+Inf"):
        assert (
            sample(
                text,
                "http_request_duration_seconds_bucket",
                route="/api/notes/{note_id}",
                status="200",
                le=bound,
                **labels,
            )
            is not None
        ), bound
    assert sample(
        text,
        "mongodb_operation_duration_seconds_count",
        operation="find_one",
        collection="notes",
        **labels,
    )
    assert sample(text, "app_info", commit="abc1234", **labels) == 1.0
    assert sample(text, "process_resident_memory_bytes") is not None
    assert sample(text, "process_cpu_seconds_total") is not None


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    given = await client.get("/api/version", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    generated = await client.get("/api/version")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    hostile = await client.get("/api/version", headers={"X-Request-ID": "a b\tc" + "x" * 200})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])


async def test_version_endpoint(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/version")
    assert response.json() == {"version": "1.2.3", "track": "canary", "commit": "abc1234"}


async def test_one_json_log_line_per_request(
    make_settings: SettingsFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(make_settings())  # logging is configured here, onto the captured stdout
    async with serve(app) as client:
        await wait_for_status(client, "/health/startup", 200)
        capsys.readouterr()
        response = await client.get("/api/notes", headers={"X-Request-ID": "req-42"})
        assert response.status_code == 200
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    requests = [line for line in lines if line["event"] == "request"]
    assert len(requests) == 1
    entry = requests[0]
    assert entry["request_id"] == "req-42"
    assert entry["route"] == "/api/notes"
    assert entry["status"] == 200
    assert entry["method"] == "GET"
    assert entry["level"] == "info"
    assert entry["duration_ms"] >= 0
    assert "timestamp" in entry
