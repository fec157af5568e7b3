"""Running a stage's programs with their output in the stage's log, failures named."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from flightdeck.pipeline.runner import StageFailed

TAIL_LINES = 20
"""How many of the log's last lines a failure shows."""


def log_tail(log: Path, lines: int = TAIL_LINES) -> list[str]:
    """The last non-empty lines of a log (empty when there is no log)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def run_logged(
    command: Sequence[str],
    log: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
) -> None:
    """Run `command` (no shell) in `cwd`, its output appended to `log`.

    A program that is missing or exits non-zero is a StageFailed naming the command, its exit
    code and its last output line; the log holds the rest.
    """
    shown = shlex.join(command)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {shown}  (in {cwd})\n")
        out.flush()
        try:
            completed = subprocess.run(
                list(command),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env} if env else None,
                check=False,
            )
        except FileNotFoundError:
            raise StageFailed(f"{command[0]} is not installed (needed for `{shown}`)") from None
    if completed.returncode != 0:
        tail = log_tail(log, 1)
        last = f": {tail[-1].strip()}" if tail else ""
        raise StageFailed(f"`{shown}` failed with exit code {completed.returncode}{last}")
