"""A metrics endpoint for Prometheus, without a Pushgateway: `flightdeck metrics serve`.

Short-lived commands (a backup CronJob's `backup cycle`) leave their metrics in `*.prom` text
files in a directory; rollouts keep their records in a state store. The endpoint reads both
again at each scrape and serves them on `/metrics` (Prometheus text format); `/healthz` answers
200 while it runs.

Each source (every `*.prom` file, and each named source such as the rollout records) is read on
its own: one that cannot be read is left out, with a warning in the log, and reported as
`flightdeck_metrics_source_up{source="..."} 0`, so that a broken file or an unreachable API
server never hides the backup metrics. Families of the same name from several sources are
merged into one (Prometheus refuses a family that appears twice); a series that two sources
both have is served once, from the named sources first (computed at the scrape), then the files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from flightdeck.core import terminal
from flightdeck.core.errors import FlightdeckError

Source = Callable[[], Iterable[Metric]]
UP = "flightdeck_metrics_source_up"
# What generate_latest writes (the classic text format), whatever newer version the library
# would announce by default.
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


def read_textfile(path: Path) -> list[Metric]:
    """The metric families of one Prometheus text file (ValueError if it does not parse)."""
    return list(text_string_to_metric_families(path.read_text()))


class MetricsEndpoint(Collector):
    """Every `*.prom` file of `directories` plus the named `sources`, read at each collection."""

    def __init__(self, directories: Sequence[Path], sources: Mapping[str, Source]) -> None:
        self.directories = directories
        self.sources = sources

    def _all_sources(self) -> list[tuple[str, Source]]:
        files: list[tuple[str, Source]] = [
            (path.name, partial(read_textfile, path))
            for directory in self.directories
            for path in sorted(directory.glob("*.prom"))
        ]
        return [*self.sources.items(), *files]

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        up = GaugeMetricFamily(
            UP, "1 if the source was read at this scrape, else 0", labels=["source"]
        )
        for name, source in self._all_sources():
            try:
                metrics = list(source())
            except (FlightdeckError, OSError, ValueError) as exc:
                # One broken source must not hide the others (ValueError: a file or record that
                # does not parse).
                terminal.warning(f"metrics source {name}: {exc}")
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            for metric in metrics:
                _merge(families, metric, name)
        yield from families.values()
        yield up


def _merge(families: dict[str, Metric], metric: Metric, source: str) -> None:
    """Add `metric`'s family to `families`, without `*_created` series: a counter's creation
    time in a short-lived process means nothing, and a text file holds it as a separate family
    whose name would collide with the counter's own."""
    if metric.name.endswith("_created"):
        return
    created = {f"{metric.name}_created", f"{metric.name}_total_created"}
    fresh = [sample for sample in metric.samples if sample.name not in created]
    known = families.get(metric.name)
    if known is None:
        metric.samples = fresh
        families[metric.name] = metric
        return
    if known.type != metric.type:
        terminal.warning(
            f"metrics source {source}: {metric.name} is a {metric.type} here and a "
            f"{known.type} in an earlier source; left out"
        )
        return
    seen = {(sample.name, tuple(sorted(sample.labels.items()))) for sample in known.samples}
    new = [s for s in fresh if (s.name, tuple(sorted(s.labels.items()))) not in seen]
    if len(new) < len(fresh):
        terminal.warning(
            f"metrics source {source}: {len(fresh) - len(new)} series of {metric.name} are "
            "served by an earlier source already; its values are kept"
        )
    known.samples.extend(new)


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer

    def log_message(self, format: str, *args: object) -> None:
        return  # one line per scrape would drown the log

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(self.server.registry), TEXT_FORMAT)
        elif path == "/healthz":
            self._send(200, b"ok\n", "text/plain")
        else:
            self._send(404, b"not found: /metrics or /healthz\n", "text/plain")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], collector: Collector) -> None:
        super().__init__(address, _Handler)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
