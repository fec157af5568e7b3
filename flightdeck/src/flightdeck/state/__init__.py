"""The StateStore family: one record per rollout, saved atomically, and a controller lock.

The lock makes a second controller refuse to drive a rollout that another one drives. Requests from
people (promote, abort, resume) go beside the record, so they can be made while a controller holds
the lock; the controller takes them on its next tick.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

from flightdeck.core.errors import FlightdeckError


class LockedError(FlightdeckError):
    """Another controller drives this rollout."""

    exit_code = 3


class StateStore(Protocol):
    def load(self, name: str) -> dict[str, Any] | None:
        """The rollout's record, or None if there is none."""
        ...

    def names(self) -> list[str]:
        """The rollouts that have a record, sorted (for the metrics endpoint)."""
        ...

    def save(self, name: str, record: dict[str, Any]) -> None:
        """Replace the record atomically: a reader sees the old one or the new one."""
        ...

    def lock(self, name: str) -> AbstractContextManager[None]:
        """Hold the controller lock; raises LockedError at once if another holder has it."""
        ...

    def request(self, name: str, action: str) -> None:
        """Leave a request (promote, abort, resume) for the controller."""
        ...

    def take_requests(self, name: str) -> list[str]:
        """The pending requests, oldest first; they are removed."""
        ...
