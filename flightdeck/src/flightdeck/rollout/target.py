"""Everything a rollout acts on, from one engine: what the composition roots in engines/ build."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flightdeck.core.tracks import Track
from flightdeck.history import HistoryStore
from flightdeck.metrics import MetricsProvider
from flightdeck.notify import IncidentSink, Notifications, Notifier
from flightdeck.rollout.smoke import SmokeResult
from flightdeck.routers import TrafficRouter
from flightdeck.state import StateStore
from flightdeck.workloads import Workloads

SmokeTests = Callable[[Track, str, float], list[SmokeResult]]
"""Run the smoke tests against (track, version) with a per-request timeout in seconds."""
PreviewLoad = Callable[[Track, float], None]
"""Send steady requests to a colour on the preview route for so many seconds (blocking)."""


@dataclass
class Target:
    router: TrafficRouter
    workloads: Workloads
    metrics: MetricsProvider
    state: StateStore
    smoke: SmokeTests
    notifier: Callable[[Notifications], Notifier]
    """People are told through the notifications of the rollout's own (stored) spec."""
    incidents: Callable[[Notifications], IncidentSink]
    metrics_dir: Path | None = None
    preview_load: PreviewLoad | None = None
    """How the engine puts load on a colour in preview (for a pre-switch analysis)."""
    history: HistoryStore | None = None
    """The delivery history; None: the rollout is not recorded (the KPIs will not see it)."""
