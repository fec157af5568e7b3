"""TrafficRouter for ingress-nginx: the canary Ingress `<fullname>-canary` and its annotations.

`canary-weight` is the weight; header and cookie routing are the `canary-by-header` /
`canary-by-cookie` annotations. Without an active canary pool the weight is 0 and those two
annotations are removed (their names are kept in `flightdeck.io/` annotations to restore them);
the Ingress stays a canary Ingress, since a second non-canary Ingress for the same host and paths
would conflict with the stable one. `current()` reads the live object back, whoever changed it.

Writes carry the resourceVersion they read (409 -> read again and retry), so a concurrent edit of
the object is never overwritten blindly.
"""

from __future__ import annotations

from flightdeck.core.errors import PermanentError
from flightdeck.kubernetes.api import INGRESS, KubeApi, Obj, with_conflict_retries
from flightdeck.routers import Routing, routers

NGINX = "nginx.ingress.kubernetes.io/"
SAVED = "flightdeck.io/"


@routers.register("ingress-nginx")
class IngressNginxRouter:
    def __init__(self, api: KubeApi, fullname: str, header: str = "X-Canary") -> None:
        self.api = api
        self.ingress = f"{fullname}-canary"

    def _read(self) -> Obj:
        ingress = self.api.require(
            INGRESS,
            self.ingress,
            "is the chart installed with canary.enabled=true and routing=ingress?",
        )
        annotations = ingress["metadata"].get("annotations") or {}
        if annotations.get(NGINX + "canary") != "true":
            raise PermanentError(
                f'ingress {self.ingress} is not a canary Ingress (no {NGINX}canary: "true")'
            )
        return ingress

    def current(self) -> Routing:
        annotations = self._read()["metadata"].get("annotations") or {}
        try:
            weight = int(annotations.get(NGINX + "canary-weight") or 0)
            total = int(annotations.get(NGINX + "canary-weight-total") or 100)
        except ValueError as exc:
            raise PermanentError(
                f"ingress {self.ingress}: a canary weight is not a number"
            ) from exc
        percent = round(100 * weight / total) if total > 0 else 0
        by_request = any(
            annotations.get(NGINX + key) for key in ("canary-by-header", "canary-by-cookie")
        )
        active = percent > 0 or by_request
        return Routing(canary_active=active, canary_weight=percent)

    def apply(self, routing: Routing) -> None:
        with_conflict_retries(lambda: self._apply(routing), f"ingress {self.ingress}")

    def _apply(self, routing: Routing) -> None:
        ingress = self._read()
        annotations = ingress["metadata"].get("annotations") or {}
        changes: dict[str, str | None] = {
            NGINX + "canary-weight": str(routing.canary_weight),
            NGINX + "canary-weight-total": None,
        }
        for key in ("canary-by-header", "canary-by-header-value", "canary-by-cookie"):
            live, saved = annotations.get(NGINX + key), annotations.get(SAVED + key)
            if routing.canary_active:
                changes[NGINX + key] = live or saved
                changes[SAVED + key] = None
            else:
                changes[NGINX + key] = None
                changes[SAVED + key] = live or saved
        self.api.patch(
            INGRESS,
            self.ingress,
            {
                "metadata": {
                    "resourceVersion": ingress["metadata"]["resourceVersion"],
                    "annotations": changes,
                }
            },
        )
