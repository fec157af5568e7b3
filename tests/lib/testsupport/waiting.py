"""One way for tests to wait for something that happens asynchronously."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeoutError(AssertionError):
    """The condition did not hold in time; the message says what was awaited."""


def wait_until(
    condition: Callable[[], T], timeout: float, interval: float = 0.1, what: str = ""
) -> T:
    """Poll `condition` until it returns a truthy value, and return that value.

    Fails the test (AssertionError) when the timeout passes, naming `what` and the last value.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeoutError(
                f"waited {timeout:.0f}s for {what or 'a condition'}; last value: {value!r}"
            )
        time.sleep(interval)
