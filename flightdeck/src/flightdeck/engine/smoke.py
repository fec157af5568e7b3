"""Smoke tests: five requests to the canary through the ingress before it takes any traffic.

They go through the real ingress with the canary header set to `always`, so they test the routing
too: readiness, the version is the new one, and a note created, read back and deleted.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx


class SmokeFailure(Exception):
    pass


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


@dataclass(frozen=True)
class SmokeResult:
    name: str
    ok: bool
    detail: str


def run_smoke_tests(
    base_url: str,
    verify: ssl.SSLContext | bool,
    version: str,
    timeout: float,
    header: str = "X-Canary",
) -> list[SmokeResult]:
    """Run the five tests in order; after the first failure the rest are not run."""
    marker = f"flightdeck smoke test {uuid.uuid4().hex[:8]}"
    note: dict[str, str] = {}
    results: list[SmokeResult] = []
    with httpx.Client(
        base_url=base_url, verify=verify, timeout=timeout, headers={header: "always"}
    ) as client:

        def ready() -> str:
            response = client.get("/health/ready")
            _expect(response.status_code == 200, f"readiness answered {response.status_code}")
            return "ready"

        def new_version() -> str:
            body = client.get("/api/version").json()
            _expect(body.get("version") == version, f"version is {body.get('version')!r}")
            _expect(body.get("track") == "canary", f"track is {body.get('track')!r}")
            return f"version {version} on the canary track"

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
