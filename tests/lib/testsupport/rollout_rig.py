"""A rollout controller on stand-in providers, driven tick by tick with a controllable clock.

The controller is real, and so are its state store (files) and incident sink (JSON lines); the
routing, workloads and metrics are small in-memory stand-ins so that each decision can be staged.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flightdeck.core.errors import RetryableError
from flightdeck.notify import Notifications
from flightdeck.notify.incidents import JsonlIncidents
from flightdeck.rollout.analysis import build_queries
from flightdeck.rollout.controller import Controller
from flightdeck.rollout.smoke import SmokeResult
from flightdeck.rollout.spec import RolloutSpec
from flightdeck.rollout.target import Target
from flightdeck.routers import Routing
from flightdeck.state.file import FileStateStore
from flightdeck.workloads import Track, TrackSpec


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Router:
    def __init__(self) -> None:
        self.routing = Routing()
        self.history: list[Routing] = []
        self.fail_with: Exception | None = None
        self.baseline: dict[str, float | None] = {"error_rate": 0.0, "p95_seconds": 0.05}
        self.canary_replicas_seen: list[int] = []
        self.workloads: Workloads | None = None

    def apply(self, routing: Routing) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        if self.workloads and (canary := self.workloads.tracks.get("canary")):
            self.canary_replicas_seen.append(canary.replicas)
        self.routing = routing
        self.history.append(routing)

    def current(self) -> Routing:
        return self.routing


class Workloads:
    def __init__(self) -> None:
        self.tracks: dict[Track, TrackSpec] = {"stable": TrackSpec("stable", "1.0.0", 2)}
        self.crashed = False
        self.stable_not_ready_yet = False
        self.smoke_ok = True
        self.preview_loads: list[tuple[Track, float]] = []

    def apply(self, spec: TrackSpec) -> None:
        self.tracks[spec.track] = spec

    def remove(self, track: Track) -> None:
        self.tracks.pop(track, None)

    def wait_ready(self, track: Track, timeout: float) -> None:
        assert track in self.tracks
        if track == "stable" and self.stable_not_ready_yet:
            self.stable_not_ready_yet = False
            raise RetryableError("stable replica 1 is not ready yet")

    def ready(self, track: Track) -> bool:
        return track in self.tracks and not (track != "stable" and self.crashed)

    def get(self, track: Track) -> TrackSpec | None:
        return self.tracks.get(track)


HISTOGRAM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, math.inf)


@dataclass
class Flow:
    """One side's steady traffic, for the sequential judge's counts: so many requests a second,
    a share of them failing, every one answered in `latency` seconds."""

    rate: float
    error_share: float = 0.0
    latency: float = 0.02

    def statuses(self, seconds: float) -> dict[str, float]:
        requests = math.floor(self.rate * max(seconds, 0.0))
        errors = math.floor(self.error_share * requests)
        return {"200": requests - errors, **({"500": errors} if errors else {})}

    def buckets(self, seconds: float) -> dict[str, float]:
        requests = math.floor(self.rate * max(seconds, 0.0))
        return {
            "+Inf" if math.isinf(le) else str(le): requests if self.latency <= le else 0
            for le in HISTOGRAM_BUCKETS
        }


class Metrics:
    """Healthy numbers by default; `canary` overrides the candidate's values (None = no data).

    The candidate is version 2.0.0 on any track (canary, or a blue-green colour); the baseline
    is a track without a version (stable, or the serving colour), answering `baseline`. For the
    sequential judge, `flows` say how the counts grow with the clock, and Prometheus scrapes
    every `scrape_seconds`.
    """

    def __init__(self, spec: RolloutSpec, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.scrape_seconds = 5.0
        self.flows = {"candidate": Flow(rate=5), "baseline": Flow(rate=45)}
        self.evaluations = 0
        self.candidate_scraped = True
        self.window = spec.analysis.rate_window
        self.canary: dict[str, float | None] = {
            "requests": 100,
            "error_rate": 0.0,
            "p95_seconds": 0.05,
            "memory_bytes": 1e8,
            "cpu_cores": 0.1,
        }
        self.fail_with: Exception | None = None
        self.baseline: dict[str, float | None] = {"error_rate": 0.0, "p95_seconds": 0.05}

    def _scraped(self) -> float:
        now = self.clock().timestamp()
        return now - now % self.scrape_seconds

    def query_vector(self, expression: str, label: str) -> dict[str, float]:
        """Counts since `@ T` (the sequential judge) or over a window (figures before a switch),
        as of the last scrape."""
        if self.fail_with is not None:
            raise self.fail_with
        side = "candidate" if 'version="2.0.0"' in expression else "baseline"
        since = re.search(r"@ ([0-9.]+)\)", expression)
        window = re.search(r"increase\(.*\[(\d+)s\]\)\)$", expression)
        if since:
            seconds = self._scraped() - float(since.group(1))
            self.evaluations += side == "candidate" and label == "status"
        elif window:
            seconds = float(window.group(1))
        else:
            raise AssertionError(f"unexpected query {expression}")
        flow = self.flows[side]
        return flow.statuses(seconds) if label == "status" else flow.buckets(seconds)

    def query(self, expression: str) -> float | None:
        if self.fail_with is not None:
            raise self.fail_with
        if expression.startswith("max(timestamp(up{"):
            unseen = not self.candidate_scraped and 'version="2.0.0"' in expression
            return None if unseen else self._scraped()
        found = re.search(r"\[(\d+)s\]", expression)  # whatever window the spec asks for
        window = timedelta(seconds=int(found.group(1))) if found else self.window
        for track in ("canary", "blue", "green", "stable"):
            for version in ("2.0.0", None):
                for name, query in build_queries(track, version, window).items():
                    if query == expression:
                        return self.canary[name] if version else self.baseline.get(name)
        raise AssertionError(f"unexpected query {expression}")


class Notifier:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.configured: list[Notifications] = []

    def configure(self, notifications: Notifications) -> Notifier:
        """The Target's factory: remembers the notifications it was built from."""
        self.configured.append(notifications)
        return self

    def notify(self, title: str, body: str, severity: str) -> None:
        self.sent.append((severity, title))


SPEC = RolloutSpec.model_validate(
    {
        "strategy": {"steps": [{"weight": 10, "hold": "60s"}, {"weight": 50, "hold": "60s"}]},
        # The stand-in metrics stage window averages: the threshold judge's input.
        "analysis": {
            "judge": "threshold",
            "interval": "30s",
            "inconclusive": {"policy": "pause", "limit": 2},
        },
    }
)


Rig = tuple[Controller, Router, Workloads, Metrics, Notifier, Clock, Path]


def make_rig(tmp_path: Path) -> Rig:
    clock, router, workloads, metrics, notifier = (
        Clock(),
        Router(),
        Workloads(),
        Metrics(SPEC),
        Notifier(),
    )
    metrics.clock = clock
    router.workloads = workloads
    incidents = tmp_path / "incidents.jsonl"
    target = Target(
        router=router,
        workloads=workloads,
        metrics=metrics,
        state=FileStateStore(tmp_path / "state"),
        smoke=lambda track, version, timeout: [
            SmokeResult(f"test {n}", workloads.smoke_ok, "ok") for n in range(5)
        ],
        preview_load=lambda track, seconds: workloads.preview_loads.append((track, seconds)),
        notifier=notifier.configure,
        incidents=lambda notifications: JsonlIncidents(incidents),
        metrics_dir=tmp_path / "metrics",
    )
    return Controller(target, clock), router, workloads, metrics, notifier, clock, incidents


def run_for(controller: Controller, clock: Clock, seconds: int, step: int = 10) -> str:
    phase = controller.tick("backend").phase
    for _ in range(seconds // step):
        clock.advance(step)
        phase = controller.tick("backend").phase
    return phase
