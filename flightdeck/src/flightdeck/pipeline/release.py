"""What a pipeline run delivers: the version label and the commit, from options or from git.

On GitHub the version comes from the event (`github_version`): a tag `v1.4.0` releases `1.4.0`
(a tag that is not a version is refused); a push to a branch, or a manual run without a
version, releases `sha-<7 hex digits>`, the tag docker/metadata-action gives the commit's
images, so every image tag the release workflow pushes is either the version or the commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flightdeck.core.errors import ConfigError
from flightdeck.core.git import check_commit, has_uncommitted_changes, head_commit
from flightdeck.core.validation import check_version
from flightdeck.pipeline.runner import Release

TAG_PREFIX = "refs/tags/"


def commit_version(commit: str, uncommitted_changes: bool = False) -> str:
    """`sha-<first 7 digits>`, with `-dirty` when the working tree has uncommitted changes."""
    return f"sha-{commit[:7]}" + ("-dirty" if uncommitted_changes else "")


def github_version(ref: str, sha: str, requested: str | None = None) -> str:
    """The version a release workflow run delivers (see the module's docstring)."""
    check_commit(sha, "--sha")
    if requested:
        return check_version(requested, "--requested")
    if ref.startswith(TAG_PREFIX):
        tag = ref.removeprefix(TAG_PREFIX)
        return check_version(tag.removeprefix("v"), f"--ref {TAG_PREFIX}{tag[:80]!r}: the tag")
    return commit_version(sha)


def resolve_release(
    source: Path,
    version: str | None,
    commit: str | None,
    env: Mapping[str, str],
) -> Release:
    """The release from `--version`/`--commit`, the missing ones from the checkout's git."""
    if commit is not None:
        check_commit(commit)
        dirty = False
    else:
        commit = head_commit(source)
        dirty = commit is not None and has_uncommitted_changes(source)
    if version is None:
        if commit is None:
            raise ConfigError(
                f"--version is needed: {source} is not a git checkout, so there is no commit "
                "to name the version after"
            )
        version = commit_version(commit, dirty)
    check_version(version)
    return Release(version=version, commit=commit, uncommitted_changes=dirty, env=dict(env))
