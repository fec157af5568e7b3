"""Deployment validation (`flightdeck validate`): the pipeline's stage 6, on either engine.

Four checks of what serves users now, each a list of findings that pass or fail:

- `replicas`: every replica of the serving tracks runs, is ready, and did not restart within the
  restart window;
- `scaling`: the replica counts hold: each HorizontalPodAutoscaler of the release is active, has
  its metrics and keeps its replicas within min/max (Kubernetes); the configured replica counts
  run (local);
- `metrics`: Prometheus scrapes every backend target, and the request-rate and latency series of
  each serving version exist;
- `smoke`: the rollouts' smoke suite passes through the public ingress against each serving track.

Which tracks serve comes from the TrafficRouter: the active track, plus the canary while a canary
pool is active. "No data" is never a pass: a check with nothing to look at fails and says why.

The engine-specific parts are small seams defined here (`ReplicaProbe`, `ScalingProbe`, the smoke
tests); `validate/local.py` and `validate/kubernetes.py` implement the probes, and the engines'
composition roots assemble a `ValidationTarget`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from flightdeck.core.tracks import TRACKS, Track
from flightdeck.metrics import MetricsProvider
from flightdeck.routers import TrafficRouter
from flightdeck.validate.report import Finding
from flightdeck.workloads import Workloads


@dataclass(frozen=True)
class Restarts:
    """How often a replica restarted since it was (re)created, and when it did last."""

    count: int = 0
    last_at: datetime | None = None
    """When the last restart happened; None when the engine does not say (then it is a failure)."""
    last_reason: str = ""


@dataclass(frozen=True)
class ReplicaHealth:
    """One replica (a pod, a supervisord program) as its engine reports it now."""

    name: str
    running: bool
    ready: bool
    detail: str
    """The engine's own words: state, pid or node, readiness answer."""
    restarts: Restarts
    scrape_labels: Mapping[str, str]
    """The Prometheus labels that pick this replica's target out of `up{job="backend"}`."""


@dataclass(frozen=True)
class TrackReplicas:
    track: Track
    replicas: tuple[ReplicaHealth, ...]
    waiting: str | None = None
    """Why the track is not completely rolled out (or not found), None when it is."""


class ReplicaProbe(Protocol):
    def replicas(self, track: Track) -> TrackReplicas:
        """Every replica of the track as it runs now."""
        ...


class ScalingProbe(Protocol):
    def scaling(self, tracks: Sequence[Track]) -> list[Finding]:
        """Whether the replica counts of the serving `tracks` (and the release's autoscalers)
        hold, one finding per autoscaler or track."""
        ...


class SmokeOutcome(Protocol):
    """One smoke test's result (flightdeck.rollout.smoke.SmokeResult satisfies it)."""

    @property
    def name(self) -> str: ...

    @property
    def ok(self) -> bool: ...

    @property
    def detail(self) -> str: ...


SmokeTests = Callable[[Track, str, float], Sequence[SmokeOutcome]]
"""Run the smoke suite through the public ingress against (serving track, version), with a
per-request timeout in seconds."""


def serving_routes(canary_header: str) -> dict[Track, dict[str, str]]:
    """The headers that reach each serving track through the ingress: the canary header `always`
    for the canary, `never` for the active track (ingress-nginx semantics, on every router)."""
    return {track: {canary_header: "always" if track == "canary" else "never"} for track in TRACKS}


@dataclass
class ValidationTarget:
    """What `flightdeck validate` looks at on one engine (built by engines/<engine>.py)."""

    engine: str
    router: TrafficRouter
    workloads: Workloads
    replicas: ReplicaProbe
    scaling: ScalingProbe
    metrics: MetricsProvider
    smoke: SmokeTests
    metrics_scope: Mapping[str, str] = field(default_factory=dict)
    """Labels that confine the PromQL to this deployment (the namespace on Kubernetes)."""
