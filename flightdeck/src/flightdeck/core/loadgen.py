"""Steady HTTP traffic at a fixed rate, counted per outcome (for demos, benchmarks and tests)."""

from __future__ import annotations

import bisect
import ssl
import threading
import time
from collections import Counter, deque

import httpx

from flightdeck.core.background import BackgroundThread


class LoadGenerator(BackgroundThread):
    """`rate` GET requests per second from one thread until stopped.

    Outcomes are `"<status> <track>"` (the track from the backend's /api/version answer) or
    `"error <exception>"`; counters are thread-safe. The times of the latest failures are kept
    too (for benchmarks: how long after the first failed request something reacted).

    Like a browser (and as RFC 9112 section 9.3.1 allows for idempotent requests), a GET whose
    reused keep-alive connection is closed before any response arrives is sent once more on a
    new connection: nginx closes idle keep-alive connections when it reloads, and a request can
    cross that close. Such retries are counted in `reconnects`, not hidden.
    """

    def __init__(
        self,
        base_url: str,
        verify: ssl.SSLContext | bool,
        rate: float = 20,
        headers: dict[str, str] | None = None,
        path: str = "/api/version",
    ) -> None:
        super().__init__()
        self.base_url = base_url
        self.verify = verify
        self.interval = 1 / rate
        self.headers = headers or {}
        self.path = path
        self.outcomes: Counter[str] = Counter()
        self._failed_at: deque[float] = deque(maxlen=100_000)
        self.reconnects = 0
        self._lock = threading.Lock()

    def run(self) -> None:
        with httpx.Client(
            base_url=self.base_url, verify=self.verify, timeout=10, headers=self.headers
        ) as client:
            next_at = time.monotonic()
            while not self.stopping.is_set():
                try:
                    try:
                        response = client.get(self.path)
                    except httpx.RemoteProtocolError:  # closed before any response: resend once
                        with self._lock:
                            self.reconnects += 1
                        response = client.get(self.path)
                    track = response.json().get("track", "?") if response.status_code == 200 else ""
                    outcome = f"{response.status_code} {track}".strip()
                except (httpx.HTTPError, ValueError) as exc:
                    outcome = f"error {type(exc).__name__}"
                with self._lock:
                    self.outcomes[outcome] += 1
                    if not outcome.startswith(("2", "4")):
                        self._failed_at.append(time.time())
                next_at += self.interval
                time.sleep(max(0.0, next_at - time.monotonic()))

    def failures(self) -> dict[str, int]:
        """Outcomes other than 2xx and 4xx."""
        with self._lock:
            return {k: v for k, v in self.outcomes.items() if not k.startswith(("2", "4"))}

    def first_failure_since(self, moment: float) -> float | None:
        """When (Unix seconds) the first failed request at or after `moment` was answered."""
        with self._lock:
            times = list(self._failed_at)
        index = bisect.bisect_left(times, moment)
        return times[index] if index < len(times) else None

    def total(self) -> int:
        with self._lock:
            return sum(self.outcomes.values())
