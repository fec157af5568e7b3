"""Steady HTTP traffic through the ingress, counted per track and per outcome."""

from __future__ import annotations

import threading
import time
from collections import Counter
from types import TracebackType

import httpx

from flightdeck.local.platform import LocalPlatform
from testsupport.platform import trust_platform_ca


class Traffic:
    """`rate` requests per second from one thread until stopped; thread-safe counters.

    `headers` are sent with every request (e.g. {"X-Canary": "never"} to count stable alone).
    Outcomes are `"<status> <track>"` (the track from /api/version's answer) or
    `"error <exception>"`.
    """

    def __init__(
        self,
        platform: LocalPlatform,
        rate: float = 20,
        headers: dict[str, str] | None = None,
        path: str = "/api/version",
    ) -> None:
        self.platform = platform
        self.interval = 1 / rate
        self.headers = headers or {}
        self.path = path
        self.outcomes: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        base = f"https://localhost:{self.platform.config.ports.https}"
        with httpx.Client(
            base_url=base, verify=trust_platform_ca(self.platform), timeout=10, headers=self.headers
        ) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                try:
                    response = client.get(self.path)
                    track = response.json().get("track", "?") if response.status_code == 200 else ""
                    outcome = f"{response.status_code} {track}".strip()
                except (httpx.HTTPError, ValueError) as exc:
                    outcome = f"error {type(exc).__name__}"
                with self._lock:
                    self.outcomes[outcome] += 1
                next_at += self.interval
                time.sleep(max(0.0, next_at - time.monotonic()))

    def failures(self) -> dict[str, int]:
        with self._lock:
            return {k: v for k, v in self.outcomes.items() if not k.startswith(("2", "4"))}

    def total(self) -> int:
        with self._lock:
            return sum(self.outcomes.values())

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
