"""The load generator against a real HTTP server: outcomes counted, failures timed."""

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flightdeck.core.loadgen import LoadGenerator
from testsupport.ports import free_port
from testsupport.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def server() -> Iterator[tuple[str, threading.Event]]:
    failing = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status = 500 if failing.is_set() else 200
            body = b'{"track": "stable"}'
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", failing
    httpd.shutdown()


def test_failures_are_counted_and_the_first_one_after_a_moment_is_timed(
    server: tuple[str, threading.Event],
) -> None:
    url, failing = server
    with LoadGenerator(url, verify=False, rate=50) as load:
        wait_until(lambda: load.outcomes["200 stable"] >= 5, timeout=10, what="answers")
        assert load.first_failure_since(0) is None
        before = time.time()
        failing.set()
        wait_until(lambda: load.failures().get("500", 0) >= 3, timeout=10, what="failures")
        first = load.first_failure_since(before)
        assert first is not None
        assert before <= first <= time.time()
        assert load.first_failure_since(time.time() + 1) is None
