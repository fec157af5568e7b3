"""The Workloads family: start, scale and stop a track of the backend at a version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from flightdeck.errors import ConfigError
from flightdeck.registry import Registry
from flightdeck.validation import check_version, parse_env_assignments

Track = Literal["stable", "canary", "blue", "green"]
TRACKS: tuple[Track, ...] = ("stable", "canary", "blue", "green")


@dataclass(frozen=True)
class TrackSpec:
    """What a track should run: a version label, a replica count and environment overrides."""

    track: Track
    version: str
    replicas: int = 1
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Whatever the source (CLI, a record read back from a state store), a track is checked
        # again before any implementation turns it into a process, a file or an object.
        if self.track not in TRACKS:
            raise ConfigError(f"unknown track {self.track!r} (known: {', '.join(TRACKS)})")
        check_version(self.version, f"track {self.track}: version")
        parse_env_assignments(
            [f"{key}={value}" for key, value in self.env.items()], f"track {self.track}: env"
        )


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


workloads: Registry[Workloads] = Registry("workloads")
