"""flightdeck and the backend installed from their wheels, run outside the source tree.

The images run the packages with no checkout around them (flightdeck/Dockerfile puts the
package under /srv and runs `python -m flightdeck`; the chart's backup CronJob runs it). Here
the wheels are built with `uv build`, installed with their locked dependencies (as the
Dockerfiles do) into a fresh virtual environment in a temporary directory, and run from there
with an environment that names nothing in the checkout: the commands of the chart's CronJobs
and Jobs, the backend's `uvicorn` as its Deployment runs it, `--help` and `version`.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from testsupport import BIN_DIR, REPO_ROOT
from testsupport.azurite import Azurite, start_azurite
from testsupport.ferretdb import FerretDB
from testsupport.helmchart import Rendered, container, pod_spec, render
from testsupport.ports import free_port, wait_for_port
from testsupport.processes import stop_process

pytestmark = pytest.mark.integration

# The image layouts: the wheel installed into the virtual environment, or (flightdeck/Dockerfile)
# the package directory copied to <root>/srv and found through PYTHONPATH.
LAYOUTS = ("wheel", "image")


def uv(*args: str | Path) -> None:
    found = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    if not os.access(found, os.X_OK):
        raise AssertionError("uv is missing: run `make setup`")
    result = subprocess.run(
        [found, *map(str, args)], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"uv {' '.join(map(str, args))}:\n{result.stderr}"


@dataclass
class Installed:
    """A virtual environment outside the checkout with one workspace package from its wheel."""

    root: Path
    package: str

    @property
    def venv(self) -> Path:
        return self.root / "venv"

    @property
    def tools(self) -> Path:
        """Programs the image has on PATH besides the venv (mongodump, mongorestore)."""
        return self.root / "tools"

    @property
    def srv(self) -> Path:
        return self.root / "srv"

    def install(self, source_package: Path) -> None:
        dist, requirements = self.root / "dist", self.root / "requirements.txt"
        uv("build", "--package", self.package, "--wheel", "--out-dir", dist, "--quiet")
        uv("export", "--package", self.package, "--frozen", "--no-dev", "--no-emit-workspace",
           "--quiet", "--output-file", requirements)  # fmt: skip
        uv("venv", self.venv, "--python", sys.executable, "--quiet")
        python = self.venv / "bin" / "python"
        uv("pip", "install", "--python", python, "--require-hashes", "-r", requirements, "--quiet")
        (wheel,) = dist.glob("*.whl")
        uv("pip", "install", "--python", python, "--no-deps", wheel, "--quiet")
        shutil.copytree(source_package, self.srv / source_package.name)
        self.tools.mkdir()
        for tool in ("mongodump", "mongorestore"):
            shutil.copy(BIN_DIR / tool, self.tools / tool)

    def env(self, layout: str, extra: dict[str, str]) -> dict[str, str]:
        """A clean environment: no PYTHONPATH, VIRTUAL_ENV or path into the checkout."""
        env = {
            "PATH": f"{self.venv / 'bin'}:{self.tools}:/usr/bin:/bin",
            "HOME": str(self.root / "home"),
            "LANG": "C.UTF-8",
            **extra,
        }
        if layout == "image":
            env["PYTHONPATH"] = str(self.srv)
        for value in env.values():
            assert str(REPO_ROOT) not in value, f"the environment names the checkout: {value}"
        return env

    def run(
        self, layout: str, argv: list[str], extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        work = self.root / "work"
        work.mkdir(exist_ok=True)
        return subprocess.run(
            argv,
            cwd=work,
            env=self.env(layout, extra_env or {}),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def flightdeck(
        self, layout: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`python -m flightdeck ARGS`: the image's ENTRYPOINT with the container's args."""
        return self.run(layout, [str(self.venv / "bin" / "python"), "-m", "flightdeck", *args], env)


@pytest.fixture(scope="module")
def flightdeck_installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    installed = Installed(tmp_path_factory.mktemp("flightdeck-wheel"), "flightdeck")
    installed.install(REPO_ROOT / "flightdeck" / "src" / "flightdeck")
    return installed


@pytest.fixture(scope="module")
def backend_installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    installed = Installed(tmp_path_factory.mktemp("backend-wheel"), "flightdeck-backend")
    installed.install(REPO_ROOT / "app" / "backend" / "app")
    return installed


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    server = start_azurite(tmp_path_factory.mktemp("azurite"))
    yield server
    server.stop()


def pod_environment(
    rendered_pod: dict[str, Any],
    name: str,
    secrets: dict[tuple[str, str], str],
    volumes: Path,
) -> dict[str, str]:
    """The container's environment as Kubernetes would give it, from a rendered object.

    Secret references are answered from `secrets` ((name, key) -> value), `$(VAR)` references
    are expanded, and paths under the container's volume mounts move under `volumes`.
    """
    spec = container(rendered_pod, name)
    mounts = {m["mountPath"]: volumes / m["name"] for m in spec.get("volumeMounts") or []}
    env: dict[str, str] = {}
    for item in spec.get("env") or []:
        if "value" in item:
            value = str(item["value"])
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            value = secrets[(ref["name"], ref["key"])]
        for var, known in env.items():
            value = value.replace(f"$({var})", known)
        for mount_path, local in mounts.items():
            if value == mount_path or value.startswith(mount_path + "/"):
                value = str(local) + value.removeprefix(mount_path)
        env[item["name"]] = value
    return env


def flightdeck_jobs(rendered: Rendered) -> list[dict[str, Any]]:
    """Every CronJob and Job of the chart that runs the flightdeck image."""
    jobs = rendered.all("CronJob") + rendered.all("Job")
    return [
        job
        for job in jobs
        if any("/flightdeck:" in c["image"] for c in pod_spec(job)["containers"])
    ]


def test_the_package_is_installed_outside_the_checkout(flightdeck_installed: Installed) -> None:
    result = flightdeck_installed.run(
        "wheel",
        [
            str(flightdeck_installed.venv / "bin" / "python"),
            "-c",
            "import flightdeck, sys; print(flightdeck.__file__)",
        ],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(flightdeck_installed.venv)), result.stdout


@pytest.mark.parametrize("layout", LAYOUTS)
def test_help_and_version(flightdeck_installed: Installed, layout: str) -> None:
    pyproject = tomllib.loads((REPO_ROOT / "flightdeck" / "pyproject.toml").read_text())
    help_ = flightdeck_installed.flightdeck(layout, "--help")
    assert help_.returncode == 0, help_.stderr
    for command in ("backup", "canary"):
        assert command in help_.stdout, help_.stdout
    version = flightdeck_installed.flightdeck(layout, "version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == pyproject["project"]["version"]
    console_script = flightdeck_installed.run(layout, ["flightdeck", "version"])
    assert console_script.returncode == 0, console_script.stderr


# Every module imported with Path.resolve refusing to look at the package's own location: the
# image keeps the package at /srv/flightdeck, where a path computed upwards from it (the
# checkout's bin/, tools/, monitoring/) does not exist. Such lookups belong in call time.
IMPORT_EVERY_MODULE = """
import importlib, pathlib, pkgutil
import flightdeck
package = pathlib.Path(flightdeck.__file__).parent
resolve = pathlib.Path.resolve
def guarded(self, strict=False):
    resolved = resolve(self, strict)
    if resolved.is_relative_to(resolve(package)):
        raise AssertionError(f"import-time lookup of the install location: {self}")
    return resolved
pathlib.Path.resolve = guarded
modules = pkgutil.walk_packages(flightdeck.__path__, "flightdeck.")
names = [m.name for m in modules if not m.name.endswith(".__main__")]  # __main__ runs the CLI
for name in names:
    importlib.import_module(name)
print(len(names))
"""


@pytest.mark.parametrize("layout", LAYOUTS)
def test_no_module_computes_paths_from_its_location_at_import(
    flightdeck_installed: Installed, layout: str
) -> None:
    python = str(flightdeck_installed.venv / "bin" / "python")
    result = flightdeck_installed.run(layout, [python, "-c", IMPORT_EVERY_MODULE])
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) > 20, result.stdout


@pytest.mark.parametrize("layout", LAYOUTS)
def test_checkout_only_resources_fail_with_a_clear_error(
    flightdeck_installed: Installed, layout: str
) -> None:
    result = flightdeck_installed.flightdeck(layout, "status")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "needs a source checkout" in result.stderr + result.stdout


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_charts_jobs_run_installed(
    flightdeck_installed: Installed,
    ferretdb: FerretDB,
    azurite: Azurite,
    tmp_path: Path,
    layout: str,
) -> None:
    database = f"wheel_{layout}"
    rendered = render("external-mongodb", "--set", f"mongodb.database={database}")
    jobs = flightdeck_jobs(rendered)
    assert jobs, "the chart has no CronJob or Job that runs flightdeck"
    with MongoClient(ferretdb.uri) as mongo:
        mongo[database]["notes"].insert_one({"title": "installed", "body": "from the wheel"})
    secrets = {
        ("flightdeck-external-mongodb", "mongodb-uri"): ferretdb.uri,
        ("flightdeck-backup", "azure-storage-connection-string"): azurite.connection_string,
        ("flightdeck-backup", "backup-encryption-key"): base64.b64encode(os.urandom(32)).decode(),
    }
    for job in jobs:
        name = job["metadata"]["name"]
        (spec,) = pod_spec(job)["containers"]
        env = pod_environment(job, spec["name"], secrets, tmp_path / name)
        for directory in {tmp_path / name / m["name"] for m in spec.get("volumeMounts") or []}:
            directory.mkdir(parents=True, exist_ok=True)
        result = flightdeck_installed.flightdeck(layout, *spec["args"], env=env)
        assert result.returncode == 0, f"{name} {spec['args']}:\n{result.stdout}{result.stderr}"
        if spec["args"] == ["backup", "run"]:
            backup_id = result.stdout.strip().splitlines()[-1]
            listed = flightdeck_installed.flightdeck(layout, "backup", "list", "--json", env=env)
            assert listed.returncode == 0, listed.stderr
            stores = {entry["id"]: entry["stores"] for entry in json.loads(listed.stdout)}
            assert "azure" in stores.get(backup_id, []), listed.stdout


def test_the_backend_serves_installed(
    backend_installed: Installed, ferretdb: FerretDB, tmp_path: Path
) -> None:
    rendered = render("external-mongodb", "--set", "mongodb.database=wheel_backend")
    deployment = rendered.get("Deployment", "backend")
    secrets = {("flightdeck-external-mongodb", "mongodb-uri"): ferretdb.uri}
    env = pod_environment(deployment, "backend", secrets, tmp_path)
    (tmp_path / "uploads").mkdir()
    port = free_port()
    args = [
        arg.replace("--host=0.0.0.0", "--host=127.0.0.1").replace("--port=8000", f"--port={port}")
        for arg in container(deployment, "backend")["args"]
    ]
    assert args[0] == "uvicorn", args
    assert f"--port={port}" in args, args
    log = (tmp_path / "backend.log").open("wb")
    process = subprocess.Popen(
        [str(backend_installed.venv / "bin" / args[0]), *args[1:]],
        cwd=tmp_path,
        env=backend_installed.env("wheel", env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, timeout=30)
        deadline = time.monotonic() + 30  # the app finishes its start-up after the port opens
        while (ready := httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=10)).is_error:
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.1)
        version = httpx.get(f"http://127.0.0.1:{port}/api/version", timeout=10).json()
        assert version["version"] == env["APP_VERSION"], version
    finally:
        stop_process(process)
        log.close()
