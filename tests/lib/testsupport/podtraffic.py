"""The backend's request metrics for the pods of a test cluster, which serve no traffic.

kwok runs no container, so no backend pod of the test cluster answers requests or exposes
/metrics. `PodTraffic` is an exporter that a real Prometheus scrapes (as job "backend") in their
place: at each scrape it lists the backend pods of the namespace that are Ready (a real API
call) and, for each, serves the series the backend would (http_requests_total,
http_request_duration_seconds, process memory and CPU) labelled as the chart's ServiceMonitor
labels them: `track` from the pod's `version` label, `version` from its
`flightdeck.io/image-tag` label. A pod's counters grow with the time since it was last scraped,
at the rate, error share and latency the test set for its version, so the canary analysis reads
real PromQL over real series that appear and disappear with the pods.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from flightdeck.metrics.endpoint import MetricsServer
from testsupport.ports import free_port

# The backend's buckets (app/backend/app/metrics.py).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 5.0, 7.5, 10.0)
ROUTE = "/api/notes"
LABELS = ("pod", "track", "version", "method", "route", "status")


@dataclass(frozen=True)
class Behaviour:
    """How a version answers: requests per second per pod, share of 5xx, latency."""

    requests_per_second: float = 20.0
    error_rate: float = 0.0
    latency_seconds: float = 0.05


HEALTHY = Behaviour()


@dataclass
class _PodCounters:
    seen_at: float
    ok: float = 0.0
    errors: float = 0.0
    duration_sum: float = 0.0
    latency_seconds: float = 0.05
    cpu_seconds: float = 0.0


@dataclass(eq=False)  # hashable by identity: a registry keeps its collectors in a dict
class PodTraffic(Collector):
    """Serve with `start()`; set a version's behaviour with `behaviours[version] = ...`."""

    http: httpx.Client
    namespace: str
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    _pods: dict[str, _PodCounters] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: MetricsServer | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server = MetricsServer(("127.0.0.1", self.port), self)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self.http.close()

    def _ready_pods(self) -> list[tuple[str, str, str]]:
        """(name, track, version) of every Ready backend pod of the namespace."""
        response = self.http.get(
            f"/api/v1/namespaces/{self.namespace}/pods",
            params={"labelSelector": "app.kubernetes.io/component=backend"},
        )
        response.raise_for_status()
        ready = []
        for pod in response.json()["items"]:
            status = pod.get("status") or {}
            if pod["metadata"].get("deletionTimestamp") or not any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or []
            ):
                continue
            labels = pod["metadata"]["labels"]
            ready.append(
                (pod["metadata"]["name"], labels["version"], labels["flightdeck.io/image-tag"])
            )
        return ready

    def collect(self) -> Iterator[Metric]:
        now = time.monotonic()
        requests = CounterMetricFamily(
            "http_requests", "HTTP requests answered, by route template and status.", labels=LABELS
        )
        durations = HistogramMetricFamily(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and status.",
            labels=LABELS,
        )
        memory = GaugeMetricFamily(
            "process_resident_memory_bytes", "Resident memory size in bytes.", labels=LABELS[:3]
        )
        cpu = CounterMetricFamily(
            "process_cpu_seconds", "Total user and system CPU time.", labels=LABELS[:3]
        )
        with self._lock:
            for name, track, version in self._ready_pods():
                behaviour = self.behaviours.get(version, HEALTHY)
                counters = self._pods.setdefault(name, _PodCounters(seen_at=now))
                answered = behaviour.requests_per_second * (now - counters.seen_at)
                counters.seen_at = now
                counters.errors += answered * behaviour.error_rate
                counters.ok += answered * (1 - behaviour.error_rate)
                counters.duration_sum += answered * behaviour.latency_seconds
                counters.latency_seconds = behaviour.latency_seconds
                counters.cpu_seconds += 0.05 * answered / max(behaviour.requests_per_second, 1)
                pod = [name, track, version]
                for status, count in (("200", counters.ok), ("500", counters.errors)):
                    labels = [*pod, "GET", ROUTE, status]
                    requests.add_metric(labels, count)
                    share = count / (counters.ok + counters.errors or 1)
                    buckets = [
                        (str(bound), count if counters.latency_seconds <= bound else 0.0)
                        for bound in BUCKETS
                    ]
                    durations.add_metric(
                        labels, [*buckets, ("+Inf", count)], counters.duration_sum * share
                    )
                memory.add_metric(pod, 120 * 1024 * 1024)
                cpu.add_metric(pod, counters.cpu_seconds)
        yield from (requests, durations, memory, cpu)
