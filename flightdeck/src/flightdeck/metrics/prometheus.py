"""MetricsProvider over Prometheus' HTTP API (instant queries)."""

from __future__ import annotations

import math
from typing import Any

import httpx

from flightdeck.core.errors import PermanentError, RetryableError


class PrometheusProvider:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _result(self, expression: str) -> dict[str, Any]:
        try:
            response = httpx.get(
                f"{self.url}/api/v1/query", params={"query": expression}, timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            raise RetryableError(f"Prometheus at {self.url} did not answer: {exc}") from exc
        if response.status_code == 400:
            raise PermanentError(f"Prometheus rejected the query {expression!r}: {response.text}")
        if response.status_code != 200:
            raise RetryableError(f"Prometheus answered {response.status_code}: {response.text}")
        data: dict[str, Any] = response.json()["data"]
        return data

    def query(self, expression: str) -> float | None:
        data = self._result(expression)
        if data["resultType"] == "scalar":
            values = [data["result"][1]]
        elif data["resultType"] == "vector":
            values = [sample["value"][1] for sample in data["result"]]
        else:
            raise PermanentError(f"the query {expression!r} gives a {data['resultType']}")
        if not values:
            return None
        if len(values) > 1:
            raise PermanentError(
                f"the query {expression!r} gives {len(values)} series; aggregate it to one"
            )
        value = float(values[0])
        return None if math.isnan(value) else value

    def query_vector(self, expression: str, label: str) -> dict[str, float]:
        data = self._result(expression)
        if data["resultType"] != "vector":
            raise PermanentError(f"the query {expression!r} gives a {data['resultType']}")
        values: dict[str, float] = {}
        for sample in data["result"]:
            key = sample["metric"].get(label, "")
            if key in values:
                raise PermanentError(
                    f"the query {expression!r} gives two series with {label}={key!r}; "
                    f"aggregate it by ({label})"
                )
            value = float(sample["value"][1])
            if not math.isnan(value):
                values[key] = value
        return values
