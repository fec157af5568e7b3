"""The ingress: TLS from the local CA, HTTP -> HTTPS, HSTS, rate limiting and JSON access logs."""

import json
import ssl
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from flightdeck.engines.local import LocalPlatform
from testsupport.platform import https_client, platform_from_file, trust_platform_ca
from testsupport.waiting import wait_until


def test_tls_verifies_against_the_generated_ca(platform: LocalPlatform) -> None:
    with https_client(platform) as client:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")


def test_tls_is_refused_without_the_ca(platform: LocalPlatform) -> None:
    url = f"https://localhost:{platform.config.ports.https}/health"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(url, verify=ssl.create_default_context())


def test_http_redirects_to_https_with_308(platform: LocalPlatform) -> None:
    url = f"http://localhost:{platform.config.ports.http}/api/version?from=redirect"
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == (
        f"https://localhost:{platform.config.ports.https}/api/version?from=redirect"
    )
    followed = httpx.get(url, follow_redirects=True, verify=trust_platform_ca(platform))
    assert followed.status_code == 200


def test_paths_reach_backend_and_placeholder(platform: LocalPlatform) -> None:
    with https_client(platform) as client:
        assert client.get("/api/version").json()["track"] == "stable"
        assert client.get("/health/live").status_code == 200
        page = client.get("/some/page")
    assert page.status_code == 200
    assert "Flightdeck" in page.text


def test_access_log_is_json_with_upstream_status_and_time(platform: LocalPlatform) -> None:
    with https_client(platform) as client:
        response = client.get("/api/version", headers={"X-Request-ID": "trace-me-123"})
    assert response.headers["x-request-id"] == "trace-me-123"
    log = platform.run_dir.logs / "nginx-access.log"

    def logged() -> dict[str, Any] | None:
        # nginx writes the line when the request ends, which may be after the client has it.
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        return next((e for e in reversed(entries) if e["request_id"] == "trace-me-123"), None)

    entry = wait_until(logged, timeout=5, what="the access log line of the request")
    assert entry["status"] == 200
    assert entry["upstream_addr"].startswith("127.0.0.1:")
    assert entry["upstream_status"] == "200"
    assert isinstance(entry["request_time"], float | int)


def test_a_burst_beyond_the_limit_gets_429(platform: LocalPlatform) -> None:
    """Re-run `up` with a small limit (up is idempotent), burst, then restore the config."""
    config_path = platform.config.run_dir.parent / "flightdeck.yaml"
    original = config_path.read_text()
    limited = original.replace("requests_per_second: 5000", "requests_per_second: 5").replace(
        "burst: 5000", "burst: 10"
    )
    assert limited != original
    config_path.write_text(limited)
    try:
        strict = platform_from_file(config_path)
        strict.up()

        def get(_: int) -> int:
            with https_client(strict) as client:
                return client.get("/api/version").status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = Counter(pool.map(get, range(60)))
    finally:
        config_path.write_text(original)
        platform_from_file(config_path).up()
    assert statuses[429] >= 30, statuses
    assert statuses[200] >= 11, statuses  # the burst and the rate went through
    assert set(statuses) <= {200, 429}
