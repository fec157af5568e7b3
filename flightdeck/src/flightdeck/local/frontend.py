"""The frontend on the local platform: the built bundle, served by the ingress at `/`.

At every `flightdeck up`, `install_frontend()` copies the bundle (`app/frontend/dist`, built by
`make setup`) into the run directory as a release named by its content digest, then points
`<run_dir>/www` (the root of the ingress's `location /`) at it by swapping a symlink, so nginx
never serves half a bundle. It also installs the frontend's nginx snippet
(`app/frontend/nginx/app.conf`: security headers and CSP, caching, gzip, the SPA fallback), the
same file the frontend's container image uses, as `<run_dir>/conf/frontend/app.conf`, which the
ingress's `location /` includes.

The bundle is looked up when `up` runs, never at import time: the directory named by
FLIGHTDECK_FRONTEND_DIR (holding `dist/` and `nginx/`, for a platform run outside a checkout),
else `app/frontend` of the checkout flightdeck runs from. Without a built bundle the platform
still starts, serves a placeholder page and says why.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flightdeck.core import terminal
from flightdeck.core.errors import ConfigError
from flightdeck.core.files import write_atomically
from flightdeck.core.paths import repo_root
from flightdeck.local.layout import RunDir

FRONTEND_DIR_ENV = "FLIGHTDECK_FRONTEND_DIR"
# Without a bundle: every path falls back to the placeholder index.html, as before.
PLACEHOLDER_SNIPPET = """# no frontend bundle: the placeholder page, with the headers of every page
add_header Content-Security-Policy "default-src 'self'; frame-ancestors 'none'" always;
add_header X-Content-Type-Options "nosniff" always;
add_header X-Frame-Options "DENY" always;
add_header Referrer-Policy "strict-origin-when-cross-origin" always;
try_files $uri /index.html;
"""
RELEASES = "frontend-releases"


@dataclass(frozen=True)
class FrontendBuild:
    """A frontend directory: the Vite build in `dist/`, the nginx snippet in `nginx/`."""

    root: Path

    @property
    def dist(self) -> Path:
        return self.root / "dist"

    @property
    def snippet(self) -> Path:
        return self.root / "nginx" / "app.conf"

    def missing(self) -> str | None:
        """What is missing for serving it, or None."""
        for required in (self.dist / "index.html", self.snippet):
            if not required.is_file():
                return f"{required} is missing"
        return None

    def digest(self) -> str:
        """A digest of every file of the bundle (names and contents) and of the snippet."""
        digest = hashlib.sha256()
        files = sorted(p for p in self.dist.rglob("*") if p.is_file())
        for path in [*files, self.snippet]:
            digest.update(str(path.relative_to(self.root)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
        return digest.hexdigest()[:16]


def find_frontend() -> FrontendBuild | None:
    """The frontend to serve: FLIGHTDECK_FRONTEND_DIR, else the checkout's; None if not built."""
    configured = os.environ.get(FRONTEND_DIR_ENV)
    if configured:
        build = FrontendBuild(Path(configured).resolve())
        problem = build.missing()
        if problem:
            raise ConfigError(f"{FRONTEND_DIR_ENV}={configured}: {problem}")
        return build
    build = FrontendBuild(repo_root() / "app" / "frontend")
    return None if build.missing() else build


def snippet_path(run_dir: RunDir) -> Path:
    """The nginx snippet that the ingress's `location /` includes."""
    return run_dir.conf / "frontend" / "app.conf"


def www_path(run_dir: RunDir) -> Path:
    """The root of the ingress's `location /`."""
    return run_dir.root / "www"


def install_frontend(run_dir: RunDir, build: FrontendBuild | None) -> str | None:
    """Serve `build` (see `find_frontend()`) from the run directory; its digest.

    Idempotent: an unchanged bundle is not copied again. The release served before stays on
    disk (a page loaded from it can still fetch its files); older ones are removed. With no
    build (None), whatever was served stays, the placeholder page on a new run directory.
    """
    if build is None:
        if not snippet_path(run_dir).exists():
            write_atomically(snippet_path(run_dir), PLACEHOLDER_SNIPPET)
        terminal.warning(
            "frontend: not built (app/frontend/dist is missing): serving a placeholder page; "
            f"run `make setup` or set {FRONTEND_DIR_ENV}"
        )
        return None
    digest = build.digest()
    releases = run_dir.root / RELEASES
    release = releases / digest
    if not release.is_dir():
        releases.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=releases, prefix=".staging-"))
        try:
            staging.chmod(0o755)  # mkdtemp's 0700 would keep nginx's workers out
            shutil.copytree(build.dist, staging / "www")
            os.rename(staging, release)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    previous = _serve(run_dir, release)
    write_atomically(snippet_path(run_dir), build.snippet.read_bytes())
    for old in releases.iterdir():
        if old.name not in {digest, previous}:
            shutil.rmtree(old, ignore_errors=True)
    terminal.success(f"frontend {digest} (from {build.root})")
    return digest


def _serve(run_dir: RunDir, release: Path) -> str | None:
    """Point www at the release with one rename; the name of the release served before."""
    www = www_path(run_dir)
    previous = None
    if www.is_symlink():
        previous = Path(os.readlink(www)).parent.name
    elif www.is_dir():
        # A run directory from before the frontend existed: www held the placeholder page.
        shutil.rmtree(www)
    link = www.with_name(".www.new")
    link.unlink(missing_ok=True)
    # Relative, so that the run directory can move.
    link.symlink_to(release.relative_to(run_dir.root) / "www")
    os.replace(link, www)
    return previous
