"""Render the chart once per scenario (session-scoped)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from testsupport.helmchart import Rendered, render


@pytest.fixture(scope="session")
def rendered() -> Callable[[str], Rendered]:
    """Render a ci/ scenario with every optional API available, memoised for the session."""
    cache: dict[str, Rendered] = {}

    def get(scenario: str) -> Rendered:
        if scenario not in cache:
            cache[scenario] = render(scenario)
        return cache[scenario]

    return get
