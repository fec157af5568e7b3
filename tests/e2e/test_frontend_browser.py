"""The frontend on the real platform: served by the TLS ingress, and used in a real browser.

The browser tests live in app/frontend/e2e (Playwright driving Debian's chromium, which trusts
the platform's CA). This module runs them against the session's platform with a canary track
running at weight 0, so that the canary header and cookie have somewhere to go, and checks that
each behaviour the frontend promises was tested and passed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flightdeck.engines.local import LocalPlatform
from flightdeck.routers import Routing
from flightdeck.workloads import TrackSpec
from testsupport.platform import https_client

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "app" / "frontend"
CHROMIUM = Path("/usr/bin/chromium")
CANARY_VERSION = "2.0.0-frontend"
# What the browser suite must have tested (test titles), each of which must have passed.
REQUIRED_TESTS = {
    "create a note, edit it, upload and download an attachment, delete it",
    "a keyboard alone adds and deletes a note",
    "a 422 shows next to the field it names",
    "a file over the limit gets a clear 413 message",
    "the page does not shift while the notes load",
    "the canary header routes the page to the canary, and the badge shows it",
    "the badge follows the canary cookie without a reload",
    "the list, the edit form, the delete confirmation and a field error",
    "without the platform CA the browser refuses the certificate",
}


@pytest.fixture(scope="module")
def with_canary(platform: LocalPlatform) -> Iterator[LocalPlatform]:
    platform.workloads.apply(TrackSpec("canary", CANARY_VERSION, 1))
    platform.workloads.wait_ready("canary", 60)
    # The canary pool exists, but only the header or the cookie sends requests to it.
    platform.router.apply(Routing(canary_active=True, canary_weight=0))
    yield platform
    platform.router.apply(Routing())
    platform.workloads.remove("canary")


def test_the_ingress_serves_the_built_bundle_with_its_headers(platform: LocalPlatform) -> None:
    index = (FRONTEND / "dist" / "index.html").read_text()
    script = re.search(r'src="(/assets/[^"]+\.js)"', index)
    assert script, "dist/index.html loads no hashed script"
    with https_client(platform) as client:
        page = client.get("/")
        route = client.get("/a/client/side/route")
        asset = client.get(script.group(1), headers={"Accept-Encoding": "gzip"})
        missing = client.get("/assets/index-missing.js")
        api = client.get("/api/version")
    assert page.status_code == 200
    assert page.text == index, "the ingress does not serve the bundle of app/frontend/dist"
    assert route.status_code == 200  # the SPA fallback: a client-side route gets index.html
    assert route.text == index
    headers = page.headers
    assert headers["cache-control"] == "no-cache"
    assert headers["strict-transport-security"].startswith("max-age=31536000")
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert asset.status_code == 200
    assert asset.headers["cache-control"] == "max-age=31536000"
    assert asset.headers["content-encoding"] == "gzip"
    assert asset.headers["content-security-policy"] == headers["content-security-policy"]
    assert missing.status_code == 404  # a missing script is never answered with index.html
    assert api.json()["track"] == "stable"


def passed_titles(report: dict[str, Any]) -> set[str]:
    """The titles of the tests that passed, from Playwright's JSON report."""
    titles: set[str] = set()

    def walk(suite: dict[str, Any]) -> None:
        for spec in suite.get("specs", []):
            if spec["ok"] and all(t["status"] == "expected" for t in spec["tests"]):
                titles.add(spec["title"])
        for child in suite.get("suites", []):
            walk(child)

    for suite in report["suites"]:
        walk(suite)
    return titles


@pytest.fixture
def short_tmp() -> Iterator[str]:
    """A temporary directory with a short path (see TMPDIR below)."""
    path = tempfile.mkdtemp(prefix="fd-browser-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.timeout(900)
def test_the_browser_suite_passes(
    with_canary: LocalPlatform, tmp_path: Path, short_tmp: str
) -> None:
    playwright = FRONTEND / "node_modules" / ".bin" / "playwright"
    assert playwright.exists(), f"{playwright} is missing: run make setup"
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run make setup (Debian package chromium)"
    assert shutil.which("certutil"), "certutil is missing: run make setup (libnss3-tools)"
    config = with_canary.config
    report_file = tmp_path / "report.json"
    env = {
        **os.environ,
        "FLIGHTDECK_URL": f"https://localhost:{config.ports.https}",
        "FLIGHTDECK_CA": str(with_canary.run_dir.tls / "ca.crt"),
        "FLIGHTDECK_STABLE_VERSION": config.backend.version,
        "FLIGHTDECK_CANARY_VERSION": CANARY_VERSION,
        "FLIGHTDECK_CANARY_HEADER": config.canary.header,
        "FLIGHTDECK_CANARY_COOKIE": config.canary.cookie,
        "FLIGHTDECK_MAX_UPLOAD_BYTES": str(config.backend.max_upload_bytes),
        "PLAYWRIGHT_JSON_OUTPUT_FILE": str(report_file),
        # The browser profiles and the NSS database trusting this platform's CA go here.
        # chromium's singleton socket lives under TMPDIR, and a UNIX socket path must fit in 108
        # bytes: pytest's own temporary directories (deeper still under xdist) are too long.
        "TMPDIR": short_tmp,
    }
    result = subprocess.run(
        [
            str(playwright),
            "test",
            "--config=e2e/playwright.config.ts",
            "--reporter=list,json",
            f"--output={tmp_path / 'results'}",
        ],
        cwd=FRONTEND,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    output = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, f"the browser suite failed:\n{output[-20000:]}"
    report = json.loads(report_file.read_text())
    stats = report["stats"]
    assert (stats["unexpected"], stats["flaky"], stats["skipped"]) == (0, 0, 0), stats
    missing = REQUIRED_TESTS - passed_titles(report)
    assert not missing, f"tests missing from the browser suite's passes: {sorted(missing)}"
