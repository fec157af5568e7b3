"""Probe: the local ingress as an attacker and an unlucky client meet it.

TLS 1.2 without CBC suites, `nosniff` on every response, no framing of HTML, a JSON 429 with
Retry-After, a redirect that ignores the Host header, an access log that stays JSON for requests
nginx cannot parse, and smoke tests that a busy rate limiter does not turn into a rollback.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from flightdeck.engines.local import LocalPlatform
from flightdeck.local.ingress import SMOKE_TOKEN_HEADER, smoke_token
from flightdeck.rollout.smoke import RateLimitRetries, run_smoke_tests
from flightdeck.routers import Routing
from flightdeck.workloads import TrackSpec
from testsupport.platform import https_client, running_platform, trust_platform_ca
from testsupport.traffic import Traffic
from testsupport.waiting import wait_until

pytestmark = pytest.mark.e2e


def tls_handshake(platform: LocalPlatform, ciphers: str) -> str:
    """Negotiate TLS 1.2 offering only `ciphers`; returns the suite or raises ssl.SSLError."""
    context = trust_platform_ca(platform)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(ciphers)
    with (
        socket.create_connection(("127.0.0.1", platform.config.ports.https), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        cipher = tls.cipher()
        assert cipher is not None
        return cipher[0]


def test_tls12_refuses_cbc_suites_and_takes_aead_ones(platform: LocalPlatform) -> None:
    for cbc in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256"):
        with pytest.raises(ssl.SSLError):
            tls_handshake(platform, cbc)
    assert tls_handshake(platform, "ECDHE-ECDSA-AES128-GCM-SHA256") == (
        "ECDHE-ECDSA-AES128-GCM-SHA256"
    )


def test_every_response_says_nosniff_and_html_cannot_be_framed(platform: LocalPlatform) -> None:
    with https_client(platform) as client:
        responses = {
            "api": client.get("/api/version"),
            "api 404": client.get("/api/notes/000000000000000000000000"),
            "api 422": client.post("/api/notes", json={}),
            "health": client.get("/health"),
            "page": client.get("/"),
            "spa route": client.get("/notes/some/page"),
        }
    responses["redirect"] = httpx.get(
        f"http://127.0.0.1:{platform.config.ports.http}/x", follow_redirects=False
    )
    for name, response in responses.items():
        assert response.headers.get("x-content-type-options") == "nosniff", name
    for name in ("page", "spa route"):
        assert responses[name].headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in responses[name].headers["content-security-policy"]


def test_the_redirect_uses_the_configured_name_not_the_host_header(
    platform: LocalPlatform,
) -> None:
    response = httpx.get(
        f"http://127.0.0.1:{platform.config.ports.http}/login?next=1",
        headers={"Host": "evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 308
    assert response.headers["location"] == (
        f"https://localhost:{platform.config.ports.https}/login?next=1"
    )


def raw_tls_request(platform: LocalPlatform, request: bytes) -> bytes:
    context = trust_platform_ca(platform)
    with (
        socket.create_connection(("127.0.0.1", platform.config.ports.https), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(request)
        return tls.recv(200)


def test_the_access_log_stays_json_for_requests_nginx_cannot_parse(
    platform: LocalPlatform,
) -> None:
    log = platform.run_dir.logs / "nginx-access.log"
    start = log.stat().st_size
    requests = [
        b"GARBAGE\r\n\r\n",
        b'GET /api/\xff\xfe"\\x HTTP/1.1\r\nHost: localhost\r\nUser-Agent: \xc3\x28\r\n'
        b'X-Request-ID: a"b\\c\r\nConnection: close\r\n\r\n',
        b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    ]
    for request in requests:
        raw_tls_request(platform, request)
    # A connection that sends no request at all (status "000" in nginx's variables).
    with socket.create_connection(("127.0.0.1", platform.config.ports.https), timeout=5):
        pass

    def new_lines() -> list[bytes]:
        with log.open("rb") as handle:
            handle.seek(start)
            lines = handle.read().splitlines()
        return lines if len(lines) >= len(requests) else []

    lines = wait_until(new_lines, timeout=10, what="access log lines of the probes")
    entries = [json.loads(line.decode("utf-8")) for line in lines]  # strict UTF-8 and JSON
    assert all(isinstance(entry["status"], int) for entry in entries)
    assert any(entry["uri"] == "(not UTF-8)" for entry in entries)
    assert all('a"b' not in entry["request_id"] for entry in entries)


# -- a platform with a small rate limit ---------------------------------------------------------
@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    with running_platform(
        tmp_path_factory.mktemp("limited"),
        rate_limit={"requests_per_second": 5, "burst": 5},
        backup={"enabled": False},
    ) as started:
        yield started


def test_a_wrong_smoke_token_is_limited_like_everyone(limited: LocalPlatform) -> None:
    def get(token: str) -> int:
        with https_client(limited) as client:
            return client.get("/api/version", headers={SMOKE_TOKEN_HEADER: token}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(get, ["guess"] * 40))
    assert 429 in statuses


def test_smoke_requests_wait_out_a_429(limited: LocalPlatform) -> None:
    """Where an ingress exempts nothing, the smoke client retries a 429 after its Retry-After."""
    transport = RateLimitRetries(httpx.HTTPTransport(verify=trust_platform_ca(limited)), budget=30)
    with (
        Traffic(limited, rate=7) as other_clients,
        httpx.Client(
            base_url=f"https://localhost:{limited.config.ports.https}", transport=transport
        ) as client,
    ):
        wait_until(lambda: other_clients.outcomes.get("429"), timeout=10, what="a refusal")
        statuses = [client.get("/api/version").status_code for _ in range(10)]
    assert statuses == [200] * 10


def test_a_rate_limited_client_gets_json_with_retry_after(limited: LocalPlatform) -> None:
    def get(_: int) -> httpx.Response:
        with https_client(limited) as client:
            return client.get("/api/version")

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(get, range(40)))
    refused = [response for response in responses if response.status_code == 429]
    assert refused, [response.status_code for response in responses]
    for response in refused:
        assert response.headers["content-type"] == "application/json"
        assert int(response.headers["retry-after"]) >= 1
        assert "too many requests" in response.json()["detail"]
        assert response.headers["x-content-type-options"] == "nosniff"


def test_smoke_tests_under_a_busy_rate_limiter_pass(limited: LocalPlatform) -> None:
    """The false rollback of the issue: other clients' traffic made the limiter refuse smoke tests.

    Clients on the same address (all of loopback is one client to the limiter) keep it beyond its
    limit while the five smoke tests run with the platform's smoke token, as a rollout runs them.
    """
    limited.workloads.apply(TrackSpec("canary", "7.0.0", 1))
    limited.workloads.wait_ready("canary", 60)
    limited.router.apply(Routing(canary_active=True, canary_weight=0))
    try:
        with Traffic(limited, rate=20) as other_clients:
            wait_until(
                lambda: other_clients.outcomes.get("429"), timeout=10, what="the limiter to refuse"
            )
            results = run_smoke_tests(
                f"https://localhost:{limited.config.ports.https}",
                trust_platform_ca(limited),
                "7.0.0",
                track="canary",
                timeout=10,
                headers={"X-Canary": "always", SMOKE_TOKEN_HEADER: smoke_token(limited.context)},
            )
    finally:
        limited.router.apply(Routing())
        limited.workloads.remove("canary")
    assert [result.name for result in results if not result.ok] == [], results
    assert len(results) == 5
