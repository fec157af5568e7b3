"""HistoryStore in a JSON-lines file: one entry per line, appended under an flock.

For tests and for set-ups without a database. Appending never rewrites the file: a retried
entry may appear twice, and readers keep the first line of each id. A line cut short by a crash
(the last line without its newline) is skipped; any other line that does not parse is an error
that names it, since the history would otherwise silently lose a fact.
"""

from __future__ import annotations

import fcntl
import json
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from flightdeck.core.errors import PermanentError, RetryableError
from flightdeck.history import HistoryEntry, history_stores


@history_stores.register("jsonl")
class JsonlHistoryStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, entry: HistoryEntry) -> None:
        line = entry.model_dump_json() + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                handle.write(line)
                handle.flush()
        except OSError as exc:
            raise RetryableError(f"cannot append to the history {self.path}: {exc}") from exc

    def read(self, since: datetime | None = None) -> list[HistoryEntry]:
        try:
            with self.path.open(encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_SH)
                text = handle.read()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise RetryableError(f"cannot read the history {self.path}: {exc}") from exc
        complete = text.split("\n")[:-1]  # a last line without "\n" was cut short: skipped
        entries: dict[str, HistoryEntry] = {}
        for number, line in enumerate(complete, start=1):
            if not line.strip():
                continue
            try:
                entry = HistoryEntry.model_validate(json.loads(line))
            except (ValueError, ValidationError) as exc:
                raise PermanentError(
                    f"{self.path}, line {number}: not a history entry ({exc.__class__.__name__})"
                ) from None
            entries.setdefault(entry.id, entry)
        chosen = [e for e in entries.values() if since is None or e.at >= since]
        return sorted(chosen, key=lambda entry: (entry.at, entry.id))
