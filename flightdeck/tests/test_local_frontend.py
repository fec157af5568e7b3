"""Installing the frontend bundle into a run directory: releases, the atomic swap, the snippet."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flightdeck.core.errors import ConfigError
from flightdeck.local.frontend import (
    FRONTEND_DIR_ENV,
    PLACEHOLDER_SNIPPET,
    RELEASES,
    FrontendBuild,
    find_frontend,
    install_frontend,
    snippet_path,
    www_path,
)
from flightdeck.local.layout import RunDir

pytestmark = pytest.mark.unit

SNIPPET = "try_files $uri /index.html;\n"


def make_build(root: Path, version: str) -> FrontendBuild:
    """A frontend directory as `vite build` leaves it, with the nginx snippet beside it."""
    (root / "dist" / "assets").mkdir(parents=True, exist_ok=True)
    (root / "dist" / "index.html").write_text(f"<title>Flightdeck notes {version}</title>")
    (root / "dist" / "assets" / f"index-{version}.js").write_text(f"console.log('{version}')")
    (root / "nginx").mkdir(exist_ok=True)
    (root / "nginx" / "app.conf").write_text(SNIPPET)
    return FrontendBuild(root)


@pytest.fixture
def run_dir(tmp_path: Path) -> RunDir:
    run_dir = RunDir(tmp_path / "run")
    run_dir.create()
    return run_dir


def served(run_dir: RunDir) -> str:
    return (www_path(run_dir) / "index.html").read_text()


def test_install_serves_the_bundle_and_its_snippet(tmp_path: Path, run_dir: RunDir) -> None:
    build = make_build(tmp_path / "frontend", "v1")
    digest = install_frontend(run_dir, build)
    assert digest == build.digest()
    assert served(run_dir) == "<title>Flightdeck notes v1</title>"
    assert (www_path(run_dir) / "assets" / "index-v1.js").exists()
    assert snippet_path(run_dir).read_text() == SNIPPET
    # A relative link: the run directory can move.
    assert not os.readlink(www_path(run_dir)).startswith("/")
    assert (run_dir.root / RELEASES / digest).stat().st_mode & 0o755 == 0o755


def test_install_is_idempotent(tmp_path: Path, run_dir: RunDir) -> None:
    build = make_build(tmp_path / "frontend", "v1")
    first = install_frontend(run_dir, build)
    release = run_dir.root / RELEASES / str(first)
    marker = release.stat().st_mtime_ns
    assert install_frontend(run_dir, build) == first
    assert release.stat().st_mtime_ns == marker
    assert sorted(p.name for p in (run_dir.root / RELEASES).iterdir()) == [first]


def test_a_new_build_swaps_in_and_keeps_only_the_previous_release(
    tmp_path: Path, run_dir: RunDir
) -> None:
    build = make_build(tmp_path / "frontend", "v1")
    v1 = install_frontend(run_dir, build)
    (build.dist / "assets" / "index-v1.js").unlink()
    v2 = install_frontend(run_dir, make_build(build.root, "v2"))
    assert served(run_dir) == "<title>Flightdeck notes v2</title>"
    v3 = install_frontend(run_dir, make_build(build.root, "v3"))
    assert len({v1, v2, v3}) == 3
    # A page loaded from v2 can still fetch its files; v1 is gone.
    assert sorted(p.name for p in (run_dir.root / RELEASES).iterdir()) == sorted([v2, v3])
    assert served(run_dir) == "<title>Flightdeck notes v3</title>"


def test_the_digest_follows_names_contents_and_the_snippet(tmp_path: Path) -> None:
    build = make_build(tmp_path / "frontend", "v1")
    before = build.digest()
    (build.snippet).write_text(SNIPPET + "gzip on;\n")
    after_snippet = build.digest()
    (build.dist / "assets" / "index-v1.js").rename(build.dist / "assets" / "other.js")
    assert len({before, after_snippet, build.digest()}) == 3


def test_a_placeholder_www_from_before_is_replaced(tmp_path: Path, run_dir: RunDir) -> None:
    www = www_path(run_dir)
    www.mkdir()
    (www / "index.html").write_text("placeholder")
    install_frontend(run_dir, make_build(tmp_path / "frontend", "v1"))
    assert www.is_symlink()
    assert served(run_dir) == "<title>Flightdeck notes v1</title>"


def test_without_a_build_the_placeholder_is_served_through_a_fallback_snippet(
    run_dir: RunDir,
) -> None:
    assert install_frontend(run_dir, None) is None
    assert snippet_path(run_dir).read_text() == PLACEHOLDER_SNIPPET
    assert not www_path(run_dir).exists()  # the router writes the placeholder page there


def test_without_a_build_what_was_served_stays(tmp_path: Path, run_dir: RunDir) -> None:
    install_frontend(run_dir, make_build(tmp_path / "frontend", "v1"))
    assert install_frontend(run_dir, None) is None
    assert served(run_dir) == "<title>Flightdeck notes v1</title>"
    assert snippet_path(run_dir).read_text() == SNIPPET


def test_the_environment_names_the_frontend_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = make_build(tmp_path / "elsewhere", "v1")
    monkeypatch.setenv(FRONTEND_DIR_ENV, str(build.root))
    assert find_frontend() == build


def test_a_wrong_frontend_directory_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FRONTEND_DIR_ENV, str(tmp_path / "nothing"))
    with pytest.raises(ConfigError, match=rf"{FRONTEND_DIR_ENV}=.*dist/index.html is missing"):
        find_frontend()
    build = make_build(tmp_path / "half", "v1")
    build.snippet.unlink()
    monkeypatch.setenv(FRONTEND_DIR_ENV, str(build.root))
    with pytest.raises(ConfigError, match=r"nginx/app.conf is missing"):
        find_frontend()
