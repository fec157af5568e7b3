"""One backup at a time: an exclusive lock on a file in the local backup directory."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

from flightdeck.core.errors import RetryableError
from flightdeck.core.files import pid_lock


class BackupLockedError(RetryableError):
    """Another backup holds the lock."""


def backup_lock(path: Path) -> AbstractContextManager[None]:
    """Held for a whole run; a crashed run never blocks the next (the kernel drops the lock)."""
    return pid_lock(
        path, lambda holder: BackupLockedError(f"another backup is running (pid {holder})")
    )
