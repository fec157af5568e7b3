"""Tracks: the named groups of backend replicas that rollouts start, route to and remove.

`stable` serves users; `canary` is a canary rollout's candidate; `blue` and `green` are the two
colours of blue-green rollouts, one of which serves users while the other is deployed and checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from flightdeck.core.errors import ConfigError
from flightdeck.core.validation import check_version, parse_env_assignments

Track = Literal["stable", "canary", "blue", "green"]
TRACKS: tuple[Track, ...] = ("stable", "canary", "blue", "green")
ServingTrack = Literal["stable", "blue", "green"]
"""A track that can serve users: stable, or a blue-green colour (never the canary)."""
Colour = Literal["blue", "green"]
COLOURS: tuple[Colour, ...] = ("blue", "green")


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
