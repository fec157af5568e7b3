"""The TrafficRouter family: which track takes the users' traffic, and how a candidate gets some.

`Routing.active` names the track that serves users (`stable`, or the live colour of blue-green:
`blue` or `green`). A canary pool takes a share of it with ingress-nginx's canary rules, whatever
the implementation: a request with the canary header set to `always` goes to the canary and
`never` to the active track (any other value falls through), then the canary cookie likewise,
then the weight (0..100, per request). `Routing.preview` names a track that takes no user traffic
but answers on the ingress's preview route, for checks before a blue-green switch.

Implementations: `nginx` (the local ingress), `ingress-nginx` (canary Ingress annotations) and
`gateway-api` (HTTPRoute backendRefs). The registry holds those that an engine chooses by name;
their factories take `(api, chart fullname, canary header)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from flightdeck.core.registry import Registry
from flightdeck.core.tracks import Colour, ServingTrack


@dataclass(frozen=True)
class Routing:
    active: ServingTrack = "stable"
    canary_active: bool = False
    canary_weight: int = 0
    preview: Colour | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.canary_weight <= 100:
            raise ValueError(f"canary weight must be between 0 and 100, not {self.canary_weight}")
        if self.canary_weight and not self.canary_active:
            raise ValueError("a canary weight needs an active canary pool")
        if self.preview is not None and self.preview == self.active:
            raise ValueError(f"the {self.active} track cannot serve users and be the preview")


class TrafficRouter(Protocol):
    def apply(self, routing: Routing) -> None:
        """Make `routing` live; returns once the ingress serves it."""
        ...

    def current(self) -> Routing:
        """The routing the ingress serves now."""
        ...


routers: Registry[TrafficRouter] = Registry("traffic router")
