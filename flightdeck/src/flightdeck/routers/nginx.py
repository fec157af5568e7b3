"""The local TrafficRouter: the platform's nginx ingress (flightdeck.local.ingress).

The serving track (`Routing.active`: stable, or a blue-green colour) takes the users' requests.
A canary pool may take a share with ingress-nginx's rules: header (`always`/`never`, anything else
falls through), then cookie, then the weight, decided per request (`split_clients` on
`$request_id`, like ingress-nginx's per-request draw). A colour in preview answers only on the
preview port. A switch of the serving track is one graceful reload: new connections reach the
new track while old workers finish their requests on the old one.

The routing is kept in `state/routing.json` with its generation number; `apply()` returns when a
fresh connection to nginx sees the new generation.
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
        return Routing(
            active=data.get("active", "stable"),
            canary_active=data["canary_active"],
            canary_weight=data["canary_weight"],
            preview=data.get("preview"),
        )

    def _generation(self) -> int:
        if not self.state_path.exists():
            return 0
        return int(json.loads(self.state_path.read_text())["generation"])

    def write(self, routing: Routing) -> int:
        """Install the nginx configuration for `routing` (not yet served); returns its generation.

        A configuration that nginx rejects is never installed: the previous one stays.
        """
        endpoints: dict[str, list[str]] = {
            track: state.endpoints for track, state in self.context.tracks.load().items()
        }
        needed: list[str] = [routing.active]
        needed += ["canary"] if routing.canary_active else []
        needed += [routing.preview] if routing.preview is not None else []
        for track in needed:
            if not endpoints.get(track):
                raise PermanentError(f"cannot route to the {track} track: it is not running")
        generation = self._generation() + 1
        self.ingress.install(
            IngressRouting(
                routing.active,
                endpoints,
                routing.canary_active,
                routing.canary_weight,
                routing.preview,
            ),
            generation,
        )
        state = {
            "generation": generation,
            "active": routing.active,
            "canary_active": routing.canary_active,
            "canary_weight": routing.canary_weight,
            "preview": routing.preview,
        }
        write_atomically(self.state_path, json.dumps(state) + "\n")
        return generation

    def apply(self, routing: Routing) -> None:
        generation = self.write(routing)
        self.ingress.reload(generation)
