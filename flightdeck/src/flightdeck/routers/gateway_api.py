"""TrafficRouter for the Gateway API: the HTTPRoute `<fullname>` and its backendRef weights.

The rules whose backendRefs name the stable Service are split by weight between it and the canary
Service; the rules that match the canary header send to the canary Service while the pool is
active and to the stable one otherwise. `current()` reads the live object back.

Writes carry the resourceVersion they read (409 -> read again and retry), so a concurrent edit of
the object is never overwritten blindly.
"""

from __future__ import annotations

import copy
from typing import Any

from flightdeck.core.errors import PermanentError
from flightdeck.kubernetes.api import HTTPROUTE, KubeApi, Obj, with_conflict_retries
from flightdeck.routers import Routing, routers


def _is_header_rule(rule: Obj, header: str) -> bool:
    return any(
        (match_header.get("name") or "").lower() == header.lower()
        and match_header.get("value") == "always"
        for match in rule.get("matches") or []
        for match_header in match.get("headers") or []
    )


@routers.register("gateway-api")
class GatewayApiRouter:
    def __init__(self, api: KubeApi, fullname: str, header: str = "X-Canary") -> None:
        self.api = api
        self.route = fullname
        self.stable = f"{fullname}-backend"
        self.canary = f"{fullname}-backend-canary"
        self.header = header

    def _read(self) -> tuple[Obj, list[Obj], list[Obj]]:
        """The route, its weighted rules and its header rules (each non-empty as needed)."""
        route = self.api.require(
            HTTPROUTE, self.route, "is the chart installed with routing=gatewayApi?"
        )
        rules: list[Obj] = (route.get("spec") or {}).get("rules") or []
        header_rules = [rule for rule in rules if _is_header_rule(rule, self.header)]
        weighted = [
            rule
            for rule in rules
            if rule not in header_rules
            and any(ref.get("name") == self.stable for ref in rule.get("backendRefs") or [])
        ]
        if not weighted:
            raise PermanentError(
                f"httproute {self.route} has no rule that sends to Service {self.stable}"
            )
        return route, weighted, header_rules

    def current(self) -> Routing:
        _, weighted, header_rules = self._read()
        weights = {ref.get("name"): int(ref.get("weight", 1)) for ref in weighted[0]["backendRefs"]}
        total = weights.get(self.stable, 0) + weights.get(self.canary, 0)
        percent = round(100 * weights.get(self.canary, 0) / total) if total else 0
        by_header = any(
            ref.get("name") == self.canary
            for rule in header_rules
            for ref in rule.get("backendRefs") or []
        )
        return Routing(canary_active=percent > 0 or by_header, canary_weight=percent)

    def apply(self, routing: Routing) -> None:
        with_conflict_retries(lambda: self._apply(routing), f"httproute {self.route}")

    def _apply(self, routing: Routing) -> None:
        route, weighted, header_rules = self._read()
        rules: list[Obj] = copy.deepcopy(route["spec"]["rules"])
        for index, rule in enumerate(route["spec"]["rules"]):
            if rule in header_rules:
                rules[index]["backendRefs"] = [
                    self._ref(rule, self.canary if routing.canary_active else self.stable, None)
                ]
            elif rule in weighted:
                stable = self._ref(rule, self.stable, 100 - routing.canary_weight)
                canary = self._ref(rule, self.canary, routing.canary_weight)
                others = [
                    ref
                    for ref in rule["backendRefs"]
                    if ref.get("name") not in (self.stable, self.canary)
                ]
                rules[index]["backendRefs"] = [stable, canary, *others]
        self.api.patch(
            HTTPROUTE,
            self.route,
            {
                "metadata": {"resourceVersion": route["metadata"]["resourceVersion"]},
                "spec": {"rules": rules},
            },
        )

    def _ref(self, rule: Obj, service: str, weight: int | None) -> dict[str, Any]:
        """A backendRef to `service`, with the port of the rule's existing refs."""
        refs = rule.get("backendRefs") or []
        same = [ref for ref in refs if ref.get("name") == service]
        ref: dict[str, Any] = copy.deepcopy(same[0] if same else refs[0] if refs else {})
        ref["name"] = service
        ref.pop("weight", None)
        if weight is not None:
            ref["weight"] = weight
        ref.setdefault("port", 80)
        return ref
