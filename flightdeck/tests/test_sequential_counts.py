"""The sequential judge's counts on a real Prometheus scraping counters that the test controls.

The PromQL behind "requests since the step began" leans on details that only the real engine
settles: the `@` modifier, `or` and `unless` matching across series with and without a metric
name, series born after the step began, and a counter that went back (a restarted process).
"""

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from flightdeck.metrics.prometheus import PrometheusProvider
from flightdeck.rollout.analysis import Series
from flightdeck.rollout.sequential import Side, count_queries, latest_scrape_query, since_step
from testsupport.ports import free_port
from testsupport.prometheus import Prometheus
from testsupport.waiting import wait_until

pytestmark = pytest.mark.integration

CANARY = Series("canary", "2.0.0")


class Exposition:
    """A /metrics endpoint whose counters the test sets; `served` counts the scrapes."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, str], float] = {}
        self.buckets: dict[str, float] = {}
        self.served = 0
        self.lock = threading.Lock()

    def text(self) -> str:
        lines = []
        with self.lock:
            for (route, status), value in sorted(self.counters.items()):
                lines.append(f'http_requests_total{{route="{route}",status="{status}"}} {value}')
            for le, value in self.buckets.items():
                lines.append(
                    f'http_request_duration_seconds_bucket{{route="/api/a",le="{le}"}} {value}'
                )
            self.served += 1
        return "\n".join(lines) + "\n"


@pytest.fixture
def exposition(tmp_path: Path) -> Iterator[tuple[Exposition, PrometheusProvider]]:
    exposed = Exposition()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = exposed.text().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = tmp_path / "prometheus.yml"
    target = {
        "targets": [f"127.0.0.1:{server.server_address[1]}"],
        "labels": {"track": "canary", "version": "2.0.0"},
    }
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [{"job_name": "backend", "static_configs": [target]}],
            }
        )
    )
    prometheus = Prometheus(tmp_path / "prometheus", config=config)
    prometheus.start()
    try:
        yield exposed, PrometheusProvider(prometheus.url)
    finally:
        prometheus.stop()
        server.shutdown()


def scraped_after(exposed: Exposition, provider: PrometheusProvider, moment: float) -> None:
    """Wait until Prometheus holds a scrape that started after `moment`."""
    wait_until(
        lambda: (provider.query(latest_scrape_query([CANARY])) or 0) > moment + 0.01,
        timeout=20,
        what="a newer scrape",
    )


def counts(provider: PrometheusProvider, since: float) -> Side:
    queries = count_queries(CANARY, since, time.time())
    return Side(
        provider.query_vector(queries["statuses"], "status"),
        provider.query_vector(queries["buckets"], "le"),
    )


def test_counts_since_the_step_began_are_exact_and_survive_a_restart(
    exposition: tuple[Exposition, PrometheusProvider],
) -> None:
    exposed, provider = exposition
    with exposed.lock:
        exposed.counters = {("/api/a", "200"): 100, ("/api/c", "200"): 50}
        exposed.buckets = {"0.1": 90, "0.5": 100, "+Inf": 100}
        exposed.counters[("/health", "200")] = 1000  # not an /api route: never counted
        exposed.counters[("/api/d", "200")] = 500
    scraped_after(exposed, provider, time.time())
    with exposed.lock:
        exposed.counters[("/api/d", "200")] = 20  # restarted before the step: counted exactly
    scraped_after(exposed, provider, time.time())
    since = time.time()
    assert counts(provider, since).requests.trials == 0  # nothing since the step began

    with exposed.lock:
        exposed.counters[("/api/d", "200")] = 23  # 3 more
        exposed.counters[("/api/a", "200")] = 130  # 30 more
        exposed.counters[("/api/a", "500")] = 4  # a series born after the step began
        exposed.counters[("/api/c", "200")] = 55  # 5 more, then the process restarts:
        exposed.buckets = {"0.1": 110, "0.5": 134, "+Inf": 134}
    scraped_after(exposed, provider, time.time())
    with exposed.lock:
        exposed.counters[("/api/c", "200")] = 7  # 7 since the restart
    scraped_after(exposed, provider, time.time())

    restarted_before = since_step('http_requests_total{route="/api/d"}', since, time.time())
    assert provider.query(f"sum({restarted_before})") == 3  # exact, not increase()'s estimate
    side = counts(provider, since)
    assert side.requests.events == 4  # counted from 0: its first scrape is not lost
    # /api/a exactly 34, /api/d exactly 3; /api/c fell back to increase() over the step: at
    # least the 7 it sees after the restart, extrapolated to the step's span at most.
    assert 37 + 7 <= side.requests.trials <= 37 + 7 + 12
    assert side.buckets == [(0.1, 20), (0.5, 34), (float("inf"), 34)]
    assert provider.query(latest_scrape_query([CANARY, Series("stable")])) == pytest.approx(
        time.time(), abs=5
    )
