"""StateStore in a directory: `<name>.json` replaced atomically, `<name>.lock` held with flock.

flock is released by the kernel when the holder dies, so a killed controller never leaves a stale
lock behind; the lock file records the holder's pid for the error message.
"""

from __future__ import annotations

import fcntl
import json
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from flightdeck.core.files import pid_lock, write_atomically
from flightdeck.core.validation import check_name
from flightdeck.state import LockedError


class FileStateStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, name: str, suffix: str) -> Path:
        # The name becomes a file name: only a DNS label, never a path (`../x`).
        return self.directory / f"{check_name(name, 'rollout name')}{suffix}"

    def load(self, name: str) -> dict[str, Any] | None:
        path = self._path(name, ".json")
        if not path.exists():
            return None
        record: dict[str, Any] = json.loads(path.read_text())
        return record

    def names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(path.stem for path in self.directory.glob("*.json"))

    def save(self, name: str, record: dict[str, Any]) -> None:
        write_atomically(
            self._path(name, ".json"), json.dumps(record, indent=2, default=str) + "\n"
        )

    def lock(self, name: str) -> AbstractContextManager[None]:
        return pid_lock(
            self._path(name, ".lock"),
            lambda holder: LockedError(
                f"rollout {name!r} is driven by another controller (pid {holder}); "
                "use `flightdeck canary status` to follow it"
            ),
        )

    def request(self, name: str, action: str) -> None:
        path = self._path(name, ".requests")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(action + "\n")

    def take_requests(self, name: str) -> list[str]:
        path = self._path(name, ".requests")
        if not path.exists():
            return []
        with path.open("r+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            actions = [line.strip() for line in handle if line.strip()]
            handle.seek(0)
            handle.truncate()
        return actions
