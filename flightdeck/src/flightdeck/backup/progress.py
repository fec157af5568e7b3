"""Progress of a long stream: a live bar on a terminal, a plain log line now and then otherwise."""

from __future__ import annotations

import time
from types import TracebackType

from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TransferSpeedColumn

from flightdeck.core import terminal

LOG_INTERVAL_SECONDS = 10.0


class StreamProgress:
    def __init__(self, label: str, total: int | None = None) -> None:
        self.label = label
        self.done = 0
        self._total = total
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._last_log = time.monotonic()

    def __enter__(self) -> StreamProgress:
        if terminal.stderr.is_terminal:
            self._progress = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=terminal.stderr,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self._total)
        return self

    def advance(self, size: int) -> None:
        self.done += size
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self.done)
        elif time.monotonic() - self._last_log >= LOG_INTERVAL_SECONDS:
            self._last_log = time.monotonic()
            terminal.info(f"{self.label}: {self.done / 1e6:.1f} MB")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
