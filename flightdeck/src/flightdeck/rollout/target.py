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
    history: HistoryStore | None = None
    """The delivery history; None: the rollout is not recorded (the KPIs will not see it)."""
