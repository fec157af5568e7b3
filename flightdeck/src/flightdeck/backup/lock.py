"""One backup at a time: an exclusive lock on a file in the local backup directory."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flightdeck.core.errors import ConfigError, RetryableError
from flightdeck.core.files import pid_lock


class BackupLockedError(RetryableError):
    """Another backup holds the lock."""


def directory_problem(exc: OSError) -> str:
    """Why a directory could not be created or written, in words (EEXIST: a file is there)."""
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        return "not a directory (a file is in the way)"
    return f"cannot create or write it: {exc.strerror or exc}"


@contextmanager
def backup_lock(path: Path) -> Iterator[None]:
    """Held for a whole run; a crashed run never blocks the next (the kernel drops the lock)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"FLIGHTDECK_BACKUP_LOCAL_DIR={path.parent}: {directory_problem(exc)}"
        ) from None
    with pid_lock(
        path, lambda holder: BackupLockedError(f"another backup is running (pid {holder})")
    ):
        yield
