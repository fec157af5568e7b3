"""The Workloads family: start, scale and stop a track of the backend at a version."""

from __future__ import annotations

from typing import Protocol

from flightdeck.core.tracks import TRACKS, Track, TrackSpec

__all__ = ["TRACKS", "Track", "TrackSpec", "Workloads"]


class Workloads(Protocol):
    def apply(self, spec: TrackSpec) -> None:
        """Create or change a track (one replica at a time when it already runs)."""
        ...

    def remove(self, track: Track) -> None:
        """Stop a track and forget it; removing an absent track does nothing."""
        ...

    def wait_ready(self, track: Track, timeout: float) -> None:
        """Return when every replica of the track answers its readiness check."""
        ...

    def ready(self, track: Track) -> bool:
        """Whether every replica of the track runs and answers its readiness check now.

        A replica that crashed is not ready even if it was restarted since: the canary's crash
        must be seen by the controller.
        """
        ...

    def get(self, track: Track) -> TrackSpec | None:
        """The track as it runs now, or None."""
        ...
