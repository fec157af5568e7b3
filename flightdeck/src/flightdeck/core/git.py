"""What the delivery history needs from git: a commit's id and its commit time (for lead time)."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

from flightdeck.core.errors import ConfigError

COMMIT_ID = re.compile(r"^[0-9a-f]{7,64}$")


def _git(args: list[str], where: Path) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        result = subprocess.run(
            [git, "-C", str(where), *args], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def head_commit(where: Path) -> str | None:
    """The full id of HEAD in the repository at `where`, or None (no git, not a repository)."""
    commit = _git(["rev-parse", "--verify", "HEAD^{commit}"], where)
    return commit if commit and COMMIT_ID.match(commit) else None


def commit_time(commit: str, where: Path) -> datetime | None:
    """When `commit` was committed (its committer date), or None if git does not know it."""
    check_commit(commit)
    text = _git(["show", "-s", "--format=%cI", f"{commit}^{{commit}}", "--"], where)
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def check_commit(value: str, source: str = "--commit") -> str:
    if not COMMIT_ID.match(value):
        raise ConfigError(
            f"{source} {value!r} is not a commit id: 7 to 64 lower-case hexadecimal digits"
        )
    return value
