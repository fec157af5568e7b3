"""The local TrafficRouter: the platform's nginx ingress (flightdeck.local.ingress).

The split follows ingress-nginx exactly: header (`always`/`never`, anything else falls through),
then cookie (`always`/`never`), then the weight, decided per request. The weight uses
`split_clients` on `$request_id` (random per request, like ingress-nginx's per-request draw).

The routing is kept in `state/routing.json` with its generation number; `apply()` returns when a
fresh connection to nginx sees the new generation, i.e. when the new workers serve the new
routing while the old ones finish their requests.
"""

from __future__ import annotations

import json

from flightdeck.core.errors import PermanentError
from flightdeck.core.files import write_atomically
from flightdeck.local.context import LocalContext
from flightdeck.local.ingress import IngressRouting, LocalIngress
from flightdeck.routers import Routing


class LocalNginxRouter:
    """TrafficRouter for the local nginx ingress (routing state in state/routing.json)."""

    def __init__(self, context: LocalContext) -> None:
        self.context = context
        self.ingress = LocalIngress(context)
        self.state_path = context.run_dir.state / "routing.json"

    def current(self) -> Routing:
        if not self.state_path.exists():
            return Routing()
        data = json.loads(self.state_path.read_text())
        return Routing(canary_active=data["canary_active"], canary_weight=data["canary_weight"])

    def _generation(self) -> int:
        if not self.state_path.exists():
            return 0
        return int(json.loads(self.state_path.read_text())["generation"])

    def write(self, routing: Routing) -> int:
        """Install the nginx configuration for `routing` (not yet served); returns its generation.

        A configuration that nginx rejects is never installed: the previous one stays.
        """
        tracks = self.context.tracks.load()
        stable = tracks["stable"].endpoints if "stable" in tracks else []
        canary = tracks["canary"].endpoints if "canary" in tracks else []
        if routing.canary_active and not canary:
            raise PermanentError("cannot route to the canary: the canary track is not running")
        generation = self._generation() + 1
        self.ingress.install(
            IngressRouting(stable, canary, routing.canary_active, routing.canary_weight),
            generation,
        )
        state = {
            "generation": generation,
            "canary_active": routing.canary_active,
            "canary_weight": routing.canary_weight,
        }
        write_atomically(self.state_path, json.dumps(state) + "\n")
        return generation

    def apply(self, routing: Routing) -> None:
        generation = self.write(routing)
        self.ingress.reload()
        self.ingress.wait_for_generation(generation)
