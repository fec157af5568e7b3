"""Prometheus metrics of one backend process.

Each app instance owns its registry (so tests can build several apps in one interpreter). The
backend runs one uvicorn worker per process (see docs/backend.md), so prometheus_client's
multiprocess mode is not needed: every process is its own scrape target.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

# 5 ms to 10 s: the canary analysis compares P95 against 1.5 s / 2 s, so the upper buckets matter.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 5.0, 7.5, 10.0)
MONGO_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_ROUTE = "unmatched"


class Metrics:
    """The metrics of one process, labelled with the process's version and track."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, version: str, track: str, commit: str) -> None:
        self.version = version
        self.track = track
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        http_labels = ("method", "route", "status", "version", "track")
        self.http_requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by route template and status.",
            http_labels,
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and status.",
            http_labels,
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self.mongo_duration = Histogram(
            "mongodb_operation_duration_seconds",
            "Duration of MongoDB operations, successful or not.",
            ("operation", "collection", "version", "track"),
            buckets=MONGO_BUCKETS,
            registry=self.registry,
        )
        info = Gauge(
            "app_info",
            "Always 1; the labels say which build this process runs.",
            ("version", "track", "commit"),
            registry=self.registry,
        )
        info.labels(version, track, commit).set(1)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status), self.version, self.track)
        self.http_requests.labels(*labels).inc()
        self.http_duration.labels(*labels).observe(seconds)

    @asynccontextmanager
    async def time_mongo(self, operation: str, collection: str) -> AsyncIterator[None]:
        """Observe the duration of the MongoDB operation in the block, even when it fails."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.mongo_duration.labels(operation, collection, self.version, self.track).observe(
                time.perf_counter() - start
            )

    def render(self) -> bytes:
        return generate_latest(self.registry)
