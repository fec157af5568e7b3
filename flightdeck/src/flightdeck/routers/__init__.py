"""The TrafficRouter family: how traffic is split between the stable and the canary track.

Semantics are ingress-nginx's canary rules, whatever the implementation: a request with the canary
header set to `always` goes to the canary and `never` to stable (any other value falls through),
then the canary cookie likewise, then the weight (0..100, per request). Without an active canary
pool, everything goes to stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from flightdeck.registry import Registry


@dataclass(frozen=True)
class Routing:
    canary_active: bool = False
    canary_weight: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.canary_weight <= 100:
            raise ValueError(f"canary weight must be between 0 and 100, not {self.canary_weight}")
        if self.canary_weight and not self.canary_active:
            raise ValueError("a canary weight needs an active canary pool")


class TrafficRouter(Protocol):
    def apply(self, routing: Routing) -> None:
        """Make `routing` live; returns once the ingress serves it."""
        ...

    def current(self) -> Routing:
        """The routing the ingress serves now."""
        ...


routers: Registry[TrafficRouter] = Registry("traffic router")
