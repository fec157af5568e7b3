"""Writing history without ever blocking or failing the caller: a background writer with retries.

`submit` only queues. A daemon thread appends the queued entries in order, each at most
`attempts` times with a growing pause between attempts (bounded: a few seconds in all), and
exits when nothing is left, so an idle writer holds no thread. What happened is collected for
the caller to report in its own way (the controller turns it into rollout events): `take_report`
returns the ids written since the last call and one message per entry given up on. An entry
given up on is not lost for good when the caller still knows it: it submits it again later (the
controller does on its next save, from what the rollout record says is not written yet).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flightdeck.history import HistoryEntry, HistoryStore


@dataclass
class WriteReport:
    written: set[str] = field(default_factory=set)
    failures: list[tuple[str, str]] = field(default_factory=list)
    """(entry id, message); the id is empty for a failure after the writes (`after_writes`)."""


class HistoryWriter:
    def __init__(
        self,
        store: HistoryStore,
        attempts: int = 3,
        first_pause: float = 0.5,
        after_writes: Callable[[], object] | None = None,
    ) -> None:
        """`after_writes` runs in the background after a batch with at least one entry written
        (the controller refreshes the delivery metrics there); its errors are reported too."""
        self.store = store
        self.attempts = attempts
        self.first_pause = first_pause
        self.after_writes = after_writes
        self._queue: list[HistoryEntry] = []
        self._pending: set[str] = set()
        self._report = WriteReport()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, entries: Iterable[HistoryEntry]) -> None:
        with self._changed:
            for entry in entries:
                if entry.id not in self._pending:
                    self._pending.add(entry.id)
                    self._queue.append(entry)
            if self._queue and self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="flightdeck-history", daemon=True
                )
                self._thread.start()

    def pending(self) -> set[str]:
        with self._changed:
            return set(self._pending)

    def wait(self, timeout: float) -> bool:
        """Wait until nothing is pending, at most `timeout` seconds; True if nothing is."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._pending or self._thread is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return not self._pending
                self._changed.wait(min(left, 0.1))
            return True

    def take_report(self, prefix: str = "") -> tuple[set[str], list[str]]:
        """The ids written and the failure messages since the last call, for the entries whose
        id starts with `prefix` (failures that concern no entry go to any caller)."""
        with self._changed:
            report = self._report
            written = {i for i in report.written if i.startswith(prefix)}
            failures = [(i, m) for i, m in report.failures if not i or i.startswith(prefix)]
            report.written -= written
            report.failures = [f for f in report.failures if f not in failures]
            return written, [message for _, message in failures]

    # -- the background thread ---------------------------------------------------------------
    def _run(self) -> None:
        while True:
            wrote = self._drain()
            if wrote and self.after_writes is not None:
                try:
                    self.after_writes()
                except Exception as exc:  # a background thread must not die: report it
                    with self._changed:
                        self._report.failures.append(("", f"history: after writing: {exc}"))
            with self._changed:
                if not self._queue:  # checked and given up under the lock: submit starts anew
                    self._thread = None
                    self._changed.notify_all()
                    return

    def _drain(self) -> bool:
        wrote = False
        while True:
            with self._changed:
                if not self._queue:
                    return wrote
                entry = self._queue.pop(0)
            ok, failure = self._write(entry)
            wrote = wrote or ok
            with self._changed:
                self._pending.discard(entry.id)
                if ok:
                    self._report.written.add(entry.id)
                else:
                    self._report.failures.append((entry.id, failure))
                self._changed.notify_all()

    def _write(self, entry: HistoryEntry) -> tuple[bool, str]:
        pause = self.first_pause
        error: Exception | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                self.store.append(entry)
            except Exception as exc:  # any failure is reported, never raised into the rollout
                error = exc
                if attempt < self.attempts:
                    time.sleep(pause)
                    pause *= 2
                continue
            return True, ""
        return False, (
            f"history: {entry.kind} not written after {self.attempts} attempts "
            f"(will retry): {error}"
        )
