"""The MetricsProvider family: run a query, get a number or "no data" — never a silent 0."""

from __future__ import annotations

from typing import Protocol


class MetricsProvider(Protocol):
    def query(self, expression: str) -> float | None:
        """The query's single value now; None when there is no data (empty result or NaN).

        Raises RetryableError when the backend cannot be reached.
        """
        ...

    def query_vector(self, expression: str, label: str) -> dict[str, float]:
        """The query's values now, keyed by the value of `label` (an aggregation `by (label)`).

        Empty when there is no data; NaN values are left out. Raises RetryableError when the
        backend cannot be reached.
        """
        ...
