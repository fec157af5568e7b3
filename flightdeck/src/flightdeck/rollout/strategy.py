"""The strategy seam: what a rollout strategy (canary, blue-green) gives the controller.

The controller owns the tick loop: the lock, people's requests, persistence after every
transition, the error policy and events. A strategy owns its phases: one handler per phase that
does the phase's work and says whether the rollout moved on (then the controller saves and runs
the next phase's handler) or has to wait (then the tick ends). It also says which requests it
accepts in which phase, and how it applies them.

A new strategy is one module in rollout/ with a class that satisfies `Strategy`, registered in
`strategies` under the name its spec section uses (`strategy.type` in the rollout spec).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal, Protocol

from flightdeck.core.registry import Registry
from flightdeck.rollout.record import Phase, RolloutRecord

if TYPE_CHECKING:
    from flightdeck.rollout.controller import Controller

Request = Literal["promote", "abort", "resume"]
REQUESTS: tuple[Request, ...] = ("promote", "abort", "resume")

PhaseHandler = Callable[[RolloutRecord], bool]
"""Do the phase's work; True when the record moved on (saved, then the next handler runs)."""


class Strategy(Protocol):
    def handlers(self) -> Mapping[Phase, PhaseHandler]:
        """A handler for every non-terminal phase the strategy uses."""
        ...

    def refusal(self, record: RolloutRecord, request: Request) -> str | None:
        """Why `request` cannot be accepted now (shown to the person), or None to accept it."""
        ...

    def apply_request(self, record: RolloutRecord, request: Request) -> None:
        """Act on an accepted request at the start of a tick (the record is saved after)."""
        ...


strategies: Registry[Strategy] = Registry("rollout strategy")
"""Factories taking the Controller, keyed by the spec's `strategy.type`."""

StrategyFactory = Callable[["Controller"], Strategy]
