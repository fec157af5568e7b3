"""Stage 2 on one machine: the frontend bundle, the wheels, and the images when a builder exists.

The images are the ones the release workflow builds and pushes (its `build` job's matrix is
checked against `IMAGES` by a test): the same Dockerfiles, build contexts and build arguments.
On one machine they are built only when a container builder answers (docker with a running
engine, or podman); otherwise the stage says so and builds the rest.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from flightdeck.pipeline.commands import run_logged
from flightdeck.pipeline.runner import Release, StageFailed, StageReport


@dataclass(frozen=True)
class Image:
    name: str
    dockerfile: str
    context: str
    """Both relative to the repository's root."""

    def reference(self, registry: str, tag: str) -> str:
        return f"{registry}/{self.name}:{tag}"


IMAGES: tuple[Image, ...] = (
    Image("backend", "app/backend/Dockerfile", "."),
    Image("frontend", "app/frontend/Dockerfile", "app/frontend"),
    Image("flightdeck", "flightdeck/Dockerfile", "."),
)
LOCAL_REGISTRY = "ghcr.io/flightdeck"
"""The chart's image repositories' prefix; locally built images are tagged like the pushed ones."""

WHEELS = ("flightdeck-backend", "flightdeck")


def container_builder() -> list[str] | None:
    """The command that builds an image here (`docker build`, `podman build`), or None.

    A builder counts only when it answers: the docker client without a running engine does not.
    """
    for program in ("docker", "podman"):
        path = shutil.which(program)
        if path is None:
            continue
        answered = subprocess.run(
            [path, "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
        if answered.returncode == 0:
            return [path, "build"]
    return None


def build(source: Path, out: Path, log: Path, release: Release) -> StageReport:
    """The frontend bundle, the backend and flightdeck wheels, then the images if possible."""
    frontend = source / "app" / "frontend"
    if not (frontend / "node_modules").is_dir():
        raise StageFailed(f"{frontend / 'node_modules'} is missing: run `make setup`")
    # Into the run's directory: the checkout's dist/ is what a starting platform copies, and
    # other runs (or tests) may be copying it right now.
    bundle = out / "frontend"
    run_logged(
        ["npm", "run", "--silent", "build", "--", "--outDir", str(bundle), "--emptyOutDir"],
        log,
        cwd=frontend,
    )
    wheels = out / "wheels"
    uv = shutil.which("uv")
    if uv is None:
        raise StageFailed("uv is not on PATH: run `make setup` (it installs uv in ~/.local/bin)")
    for package in WHEELS:
        run_logged(
            [uv, "build", "--package", package, "--wheel", "--out-dir", str(wheels), "--quiet"],
            log,
            cwd=source,
        )
    built = sorted(path.name for path in wheels.glob("*.whl"))
    parts = [f"frontend bundle in {bundle}", f"wheels {', '.join(built)}"]
    builder = container_builder()
    if builder is None:
        parts.append(
            "images not built: no container builder answers here (docker with a running "
            "engine, or podman); the release workflow builds them"
        )
    else:
        for image in IMAGES:
            run_logged(
                [
                    *builder,
                    "--file",
                    image.dockerfile,
                    "--tag",
                    image.reference(LOCAL_REGISTRY, release.version),
                    "--build-arg",
                    f"APP_VERSION={release.version}",
                    "--build-arg",
                    f"APP_COMMIT={release.commit or 'unknown'}",
                    image.context,
                ],
                log,
                cwd=source,
            )
        parts.append(
            "images "
            + ", ".join(image.reference(LOCAL_REGISTRY, release.version) for image in IMAGES)
        )
    return StageReport("; ".join(parts), {"frontend bundle": str(bundle), "wheels": str(wheels)})
