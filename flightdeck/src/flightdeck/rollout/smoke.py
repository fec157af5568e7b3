"""Smoke tests: five requests to a new version through the ingress before it takes user traffic.

They go through the real ingress on the route to the new version's track (the canary header set
to `always`, or a blue-green preview route), so they test the routing too: readiness, the version
and track are the new ones, and a note created, read back and deleted.

The ingress rate-limits per client address, and the smoke tests are a client like any other: a
429 is the limiter speaking, not the canary failing, so it is retried after its `Retry-After`
(within the per-request timeout) instead of failing the test and rolling back a good canary.
An ingress may also exempt the smoke tests from its limit: the headers carry what it needs (the
local ingress takes a per-platform secret token, see flightdeck.local.ingress).
"""

from __future__ import annotations

import random
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx

MAX_RETRY_AFTER_SECONDS = 5.0


class SmokeFailure(Exception):
    pass


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


class RateLimitRetries(httpx.BaseTransport):
    """Sends a request again when the ingress answers 429, after the `Retry-After` it asks for.

    Each wait is the `Retry-After` plus up to half of it again, at random. Without the jitter a
    client retrying every second exactly stays in step with a limiter refilling its bucket
    several times a second against other clients sending at a steady rate: it meets the same
    moment of the cycle (the bucket just taken) on every try, and all of its tries fail.
    Gives up (returning the 429) once the next wait would pass `budget` seconds in all.
    """

    def __init__(self, inner: httpx.BaseTransport, budget: float) -> None:
        self.inner = inner
        self.budget = budget

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + self.budget
        while True:
            response = self.inner.handle_request(request)
            if response.status_code != 429:
                return response
            asked = _retry_after(response.headers.get("retry-after"))
            wait = asked + random.uniform(0, asked / 2)  # noqa: S311 (jitter, not a secret)
            if time.monotonic() + wait > deadline:
                return response
            response.close()
            time.sleep(wait)

    def close(self) -> None:
        self.inner.close()


def _retry_after(value: str | None) -> float:
    """Seconds from a Retry-After header in seconds (dates are not used by our ingress)."""
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        seconds = 1.0
    return min(max(seconds, 0.1), MAX_RETRY_AFTER_SECONDS)


@dataclass(frozen=True)
class SmokeResult:
    name: str
    ok: bool
    detail: str


def run_smoke_tests(
    base_url: str,
    verify: ssl.SSLContext | bool,
    version: str,
    *,
    track: str,
    timeout: float,
    headers: dict[str, str],
) -> list[SmokeResult]:
    """Run the five tests in order; after the first failure the rest are not run.

    `headers` route the requests to `track` (the canary header, a preview header) and may carry
    what the ingress needs to exempt them from its rate limit.
    """
    marker = f"flightdeck smoke test {uuid.uuid4().hex[:8]}"
    note: dict[str, str] = {}
    results: list[SmokeResult] = []
    transport = RateLimitRetries(httpx.HTTPTransport(verify=verify), budget=timeout)
    with httpx.Client(
        base_url=base_url,
        transport=transport,
        timeout=timeout,
        headers=headers,
    ) as client:

        def ready() -> str:
            response = client.get("/health/ready")
            _expect(response.status_code == 200, f"readiness answered {response.status_code}")
            return "ready"

        def new_version() -> str:
            body = client.get("/api/version").json()
            _expect(body.get("version") == version, f"version is {body.get('version')!r}")
            _expect(body.get("track") == track, f"track is {body.get('track')!r}")
            return f"version {version} on the {track} track"

        def create() -> str:
            response = client.post("/api/notes", json={"title": marker, "body": "smoke"})
            _expect(response.status_code == 201, f"create answered {response.status_code}")
            note["id"] = response.json()["id"]
            return f"note {note['id']} created"

        def read() -> str:
            response = client.get(f"/api/notes/{note['id']}")
            _expect(response.status_code == 200, f"read answered {response.status_code}")
            _expect(response.json()["title"] == marker, "read a different note")
            return "note read back"

        def delete() -> str:
            response = client.delete(f"/api/notes/{note['id']}")
            _expect(response.status_code == 204, f"delete answered {response.status_code}")
            gone = client.get(f"/api/notes/{note['id']}")
            _expect(gone.status_code == 404, f"deleted note still answers {gone.status_code}")
            return "note deleted"

        tests: list[tuple[str, Callable[[], str]]] = [
            ("readiness", ready),
            ("version", new_version),
            ("create note", create),
            ("read note", read),
            ("delete note", delete),
        ]
        for name, test in tests:
            try:
                results.append(SmokeResult(name, True, test()))
            except (SmokeFailure, httpx.HTTPError, ValueError, KeyError) as exc:
                results.append(SmokeResult(name, False, str(exc) or type(exc).__name__))
                break
    return results
