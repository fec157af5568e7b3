"""A rollout controller on stand-in providers, driven tick by tick with a controllable clock.

The controller is real, and so are its state store (files) and incident sink (JSON lines); the
routing, workloads and metrics are small in-memory stand-ins so that each decision can be staged.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from flightdeck.engine.analysis import build_queries
from flightdeck.engine.controller import Controller, Target
from flightdeck.engine.smoke import SmokeResult
from flightdeck.engine.spec import RolloutSpec
from flightdeck.errors import RetryableError
from flightdeck.notify.incidents import JsonlIncidents
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

    def apply(self, routing: Routing) -> None:
        self.routing = routing
        self.history.append(routing)

    def current(self) -> Routing:
        return self.routing


class Workloads:
    def __init__(self) -> None:
        self.tracks: dict[Track, TrackSpec] = {"stable": TrackSpec("stable", "1.0.0", 2)}
        self.crashed = False
        self.stable_not_ready_yet = False

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
        return track in self.tracks and not (track == "canary" and self.crashed)

    def get(self, track: Track) -> TrackSpec | None:
        return self.tracks.get(track)


class Metrics:
    """Healthy numbers by default; `canary` overrides a query's value (None = no data)."""

    def __init__(self, spec: RolloutSpec) -> None:
        self.window = spec.analysis.rate_window
        self.canary: dict[str, float | None] = {
            "requests": 100,
            "error_rate": 0.0,
            "p95_seconds": 0.05,
            "memory_bytes": 1e8,
            "cpu_cores": 0.1,
        }

    def query(self, expression: str) -> float | None:
        for track, version in (("canary", "2.0.0"), ("stable", None)):
            for name, query in build_queries(track, version, self.window).items():
                if query == expression:
                    return (
                        self.canary[name]
                        if track == "canary"
                        else {"error_rate": 0.0, "p95_seconds": 0.05}.get(name)
                    )
        raise AssertionError(f"unexpected query {expression}")


class Notifier:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def notify(self, title: str, body: str, severity: str) -> None:
        self.sent.append((severity, title))


SPEC = RolloutSpec.model_validate(
    {
        "steps": [{"weight": 10, "hold": "60s"}, {"weight": 50, "hold": "60s"}],
        "analysis": {"interval": "30s", "inconclusive": {"policy": "pause", "limit": 2}},
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
    incidents = tmp_path / "incidents.jsonl"
    target = Target(
        router=router,
        workloads=workloads,
        metrics=metrics,
        state=FileStateStore(tmp_path / "state"),
        notifier=notifier,
        incidents=JsonlIncidents(incidents),
        smoke=lambda version: [SmokeResult(f"test {n}", True, "ok") for n in range(5)],
        metrics_dir=tmp_path / "metrics",
    )
    return Controller(target, clock), router, workloads, metrics, notifier, clock, incidents


def run_for(controller: Controller, clock: Clock, seconds: int, step: int = 10) -> str:
    phase = controller.tick("backend").phase
    for _ in range(seconds // step):
        clock.advance(step)
        phase = controller.tick("backend").phase
    return phase
