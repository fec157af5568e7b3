"""TrafficRouter for the chart's blue-green mode: the backend Services' `version` selectors.

With `blueGreen.enabled`, the chart's backend Service `<fullname>-backend` (behind the Ingress or
the HTTPRoute) selects the pods of the active colour by their `version` label, and the preview
Service `<fullname>-backend-preview` those of the other colour. A switch patches the backend
Service's selector: kube-proxy (or the ingress controller's endpoint list) moves every new
connection at once, while the old colour's pods keep serving the requests they have. The preview
Service always selects the other colour; whether that colour is in preview (being checked) is
kept in the backend Service's annotation `flightdeck.io/preview`. The
HorizontalPodAutoscaler follows the serving colour: its `scaleTargetRef` is moved to it, so the
old colour's replica count is no longer the HPA's to change (it stays up for the monitor).

A canary pool does not exist in this mode; routing one is refused. `current()` reads the live
Services back. Writes carry the resourceVersion they read (409: read again and retry).
"""

from __future__ import annotations

from typing import cast

from flightdeck.core.errors import PermanentError
from flightdeck.core.tracks import COLOURS, Colour
from flightdeck.kubernetes.api import HPA, SERVICE, KubeApi, Obj, with_conflict_retries
from flightdeck.routers import Routing, routers

SELECTOR = "version"
PREVIEW = "flightdeck.io/preview"


@routers.register("bluegreen-service")
class ServiceSelectorRouter:
    def __init__(self, api: KubeApi, fullname: str, header: str = "X-Canary") -> None:
        self.api = api
        self.service = f"{fullname}-backend"
        self.preview_service = f"{fullname}-backend-preview"
        self.fullname = fullname

    def _colour_of(self, service: Obj) -> Colour | None:
        colour = ((service.get("spec") or {}).get("selector") or {}).get(SELECTOR)
        return cast(Colour, colour) if colour in COLOURS else None

    def _service(self) -> Obj:
        service = self.api.require(
            SERVICE, self.service, "is the chart installed with blueGreen.enabled=true?"
        )
        if self._colour_of(service) is None:
            raise PermanentError(
                f"service {self.service} selects no colour ({SELECTOR}: blue or green): "
                "install the chart with blueGreen.enabled=true"
            )
        return service

    def current(self) -> Routing:
        service = self._service()
        active = self._colour_of(service) or "blue"
        preview = ((service["metadata"].get("annotations") or {}).get(PREVIEW)) or None
        if preview not in COLOURS or preview == active:
            return Routing(active)
        return Routing(active, preview=cast(Colour, preview))

    def apply(self, routing: Routing) -> None:
        if routing.canary_active:
            raise PermanentError("the chart's blue-green mode has no canary pool to route to")
        if routing.active not in COLOURS:
            raise PermanentError(
                f"in blue-green mode the serving track is a colour, not {routing.active}"
            )
        other = "green" if routing.active == "blue" else "blue"
        if self.api.get(SERVICE, self.preview_service) is not None:
            with_conflict_retries(
                lambda: self._select(self.preview_service, other), self.preview_service
            )
        with_conflict_retries(
            lambda: self._select(self.service, routing.active, routing.preview), self.service
        )
        with_conflict_retries(lambda: self._follow(routing.active), f"hpa {self.service}")

    def _select(self, name: str, colour: str, preview: str | None = None) -> None:
        service = self.api.require(SERVICE, name, "is the chart installed with blueGreen?")
        metadata: Obj = {"resourceVersion": service["metadata"]["resourceVersion"]}
        if name == self.service:
            metadata["annotations"] = {PREVIEW: preview}  # None removes it (merge patch)
        self.api.patch(
            SERVICE, name, {"metadata": metadata, "spec": {"selector": {SELECTOR: colour}}}
        )

    def _follow(self, colour: str) -> None:
        """Point the backend's HPA at the serving colour's Deployment (if there is an HPA)."""
        colours = {f"{self.fullname}-backend-{other}" for other in COLOURS}
        target = f"{self.fullname}-backend-{colour}"
        for hpa in self.api.list(HPA, {}):
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            name = ref.get("name", "")
            if ref.get("kind") == "Deployment" and name in colours and name != target:
                self.api.patch(
                    HPA,
                    hpa["metadata"]["name"],
                    {
                        "metadata": {"resourceVersion": hpa["metadata"]["resourceVersion"]},
                        "spec": {"scaleTargetRef": {**ref, "name": target}},
                    },
                )
