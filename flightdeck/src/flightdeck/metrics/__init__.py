"""The MetricsProvider family: run a query, get a number or "no data" — never a silent 0."""

from __future__ import annotations

from typing import Protocol


class MetricsProvider(Protocol):
    def query(self, expression: str) -> float | None:
        """The query's single value now; None when there is no data (empty result or NaN).

        Raises RetryableError when the backend cannot be reached.
        """
        ...
