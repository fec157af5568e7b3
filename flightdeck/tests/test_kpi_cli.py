"""`flightdeck kpi`, `flightdeck history` and `canary start --commit`: input checked where it
enters (exit code 2 naming the option), and the commit time taken from git."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from flightdeck.cli.kpi import record_commit
from flightdeck.core.errors import ConfigError
from flightdeck.history.jsonl import JsonlHistoryStore
from testsupport.rollout_rig import make_rig
from testsupport.tools import required_tool

pytestmark = pytest.mark.unit


def flightdeck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flightdeck", *args], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("command", ["kpi", "history"])
def test_a_bad_window_is_a_usage_error_naming_it(command: str) -> None:
    result = flightdeck(command, "--since", "last tuesday")
    assert result.returncode == 2
    assert "--since 'last tuesday' is neither a duration" in result.stderr


def test_a_bad_commit_is_refused_before_anything_starts(tmp_path: Path) -> None:
    result = flightdeck(
        "canary", "start", "--version", "1.2.3", "--commit", "HEAD~1", "--config",
        str(tmp_path / "missing.yaml"),
    )  # fmt: skip
    assert result.returncode == 2
    assert "--commit 'HEAD~1' is not a commit id" in result.stderr


def git(repo: Path, *args: str, **env: str) -> str:
    required_tool("git")
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(repo), **env},
    ).stdout.strip()


def test_the_commit_time_comes_from_git(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "app.txt").write_text("v1\n")
    git(repo, "add", "app.txt")
    when = "2026-02-03T04:05:06+00:00"
    dates = {"GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when}
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "v1", **dates)
    commit = git(repo, "rev-parse", "HEAD")

    controller, *_ = make_rig(tmp_path)
    store = JsonlHistoryStore(tmp_path / "history.jsonl")
    target = dataclasses.replace(controller.target, history=store)
    record_commit(target, "1.2.3", commit[:10], None, repo)
    [entry] = store.read()
    assert (entry.kind, entry.version, entry.commit) == ("change", "1.2.3", commit[:10])
    assert entry.committed_at == datetime.fromisoformat(when)

    record_commit(target, "1.2.4", "abcdef0", "2026-02-01T00:00:00Z", repo)  # given, not asked
    assert store.read()[0].version == "1.2.4"
    with pytest.raises(ConfigError, match="git does not know it here"):
        record_commit(target, "1.2.5", "0000000", None, repo)
    with pytest.raises(ConfigError, match="time zone"):
        record_commit(target, "1.2.5", "abcdef0", "2026-02-01T00:00:00", repo)
