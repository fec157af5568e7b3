"""flightdeck and the backend installed from their wheels, run outside the source tree.

The images run the packages with no checkout around them (flightdeck/Dockerfile puts the
package under /srv and runs `python -m flightdeck`; the chart's backup CronJob runs it). Here
the wheels are built with `uv build`, installed with their locked dependencies (as the
Dockerfiles do) into a fresh virtual environment in a temporary directory, and run from there
with an environment that names nothing in the checkout: the commands of the chart's flightdeck
workloads (the backup CronJob's `backup cycle`, the metrics Deployment's `metrics serve`), the
backend's `uvicorn` as its Deployment runs it, `--help` and `version`.
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

from flightdeck.kubernetes.api import KubeApi
from flightdeck.state.configmap import ConfigMapStateStore
from flightdeck.state.file import FileStateStore
from testsupport import BIN_DIR, REPO_ROOT
from testsupport.azurite import Azurite, start_azurite
from testsupport.ferretdb import FerretDB
from testsupport.helmchart import Rendered, container, pod_spec, render
from testsupport.kubecluster import KubeCluster
from testsupport.ports import free_port, wait_for_port
from testsupport.processes import stop_process
from testsupport.rollout_rig import SPEC, make_rig

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

    def popen(
        self, layout: str, args: list[str], extra_env: dict[str, str]
    ) -> subprocess.Popen[bytes]:
        """The venv's python with ARGS, running in the background; its output in out.log."""
        work = self.root / "work"
        work.mkdir(exist_ok=True)
        with (work / "out.log").open("ab") as log:
            return subprocess.Popen(
                [str(self.venv / "bin" / "python"), *args],
                cwd=work,
                env=self.env(layout, extra_env),
                stdout=log,
                stderr=subprocess.STDOUT,
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


def volume_paths(rendered_pod: dict[str, Any], name: str, volumes: Path) -> dict[str, Path]:
    """Mount path -> a local directory for each volume mount of the container, created.

    A PersistentVolumeClaim is one directory shared by every pod that mounts it (by claim
    name); any other volume is the pod's own.
    """
    pod = pod_spec(rendered_pod)
    by_name = {volume["name"]: volume for volume in pod.get("volumes") or []}
    paths = {}
    for mount in container(rendered_pod, name).get("volumeMounts") or []:
        claim = (by_name[mount["name"]].get("persistentVolumeClaim") or {}).get("claimName")
        owner = rendered_pod["metadata"]["name"]
        local = volumes / "claims" / claim if claim else volumes / "pods" / owner / mount["name"]
        local.mkdir(parents=True, exist_ok=True)
        paths[mount["mountPath"]] = local
    return paths


def local_path(value: str, mounts: dict[str, Path]) -> str:
    """A container path moved under the local directory of the mount it is on."""
    for mount_path, local in mounts.items():
        if value == mount_path or value.startswith(mount_path + "/"):
            return str(local) + value.removeprefix(mount_path)
    return value


def pod_environment(
    rendered_pod: dict[str, Any],
    name: str,
    secrets: dict[tuple[str, str], str],
    volumes: Path,
    fields: dict[str, str] | None = None,
) -> dict[str, str]:
    """The container's environment as Kubernetes would give it, from a rendered object.

    Secret references are answered from `secrets` ((name, key) -> value), downward-API field
    references from `fields` (e.g. metadata.namespace), `$(VAR)` references are expanded, and
    paths under the container's volume mounts move under `volumes` (volume_paths).
    """
    spec = container(rendered_pod, name)
    mounts = volume_paths(rendered_pod, name, volumes)
    env: dict[str, str] = {}
    for item in spec.get("env") or []:
        if "value" in item:
            value = str(item["value"])
        elif "fieldRef" in item["valueFrom"]:
            value = (fields or {})[item["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            value = secrets[(ref["name"], ref["key"])]
        for var, known in env.items():
            value = value.replace(f"$({var})", known)
        env[item["name"]] = local_path(value, mounts)
    return env


def flightdeck_workloads(rendered: Rendered) -> list[dict[str, Any]]:
    """Every workload of the chart that runs flightdeck: the flightdeck image's entrypoint
    (`python -m flightdeck`) with its args (the helm test pod runs its own `python -c`)."""
    workloads = [
        obj for obj in rendered.objects if obj["kind"] in {"CronJob", "Job", "Deployment", "Pod"}
    ]
    return [
        workload
        for workload in workloads
        if any(
            "/flightdeck:" in c["image"] and "command" not in c
            for c in pod_spec(workload)["containers"]
        )
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


def a_rollout_record_in(cluster: KubeCluster, namespace: str, tmp_path: Path) -> None:
    """A namespace with one rollout's record, as the controller leaves it (from the rig)."""
    controller, *_ = make_rig(tmp_path / "rig")
    controller.start(SPEC, "2.0.0", {})
    assert controller.tick("backend").phase == "Progressing"
    record = FileStateStore(tmp_path / "rig" / "state").load("backend")
    assert record is not None
    with cluster.http() as http:
        namespace_object = {"metadata": {"name": namespace}}
        http.post("/api/v1/namespaces", json=namespace_object).raise_for_status()
    with cluster.api_client() as api_client:
        store = ConfigMapStateStore(KubeApi(api_client, namespace), "fd-flightdeck-rollout-")
        store.save("backend", record)


def on_loopback(args: list[str], port: int, mounts: dict[str, Path]) -> list[str]:
    """A server's container args with --host, --port and --dir moved to this machine."""
    moved = []
    for arg in args:
        option, _, value = arg.partition("=")
        if option == "--host":
            arg = "--host=127.0.0.1"
        elif option == "--port":
            arg = f"--port={port}"
        elif option == "--dir":
            arg = f"--dir={local_path(value, mounts)}"
        moved.append(arg)
    return moved


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_charts_flightdeck_workloads_run_installed(
    flightdeck_installed: Installed,
    ferretdb: FerretDB,
    azurite: Azurite,
    kube_cluster: KubeCluster,
    tmp_path: Path,
    layout: str,
) -> None:
    """The backup CronJob's cycle, then the metrics Deployment serving what it left on the
    shared volume and the rollouts of its namespace (the test cluster's, as its admin)."""
    database = f"wheel_{layout}"
    rendered = render("external-mongodb", "--set", f"mongodb.database={database}")
    workloads = flightdeck_workloads(rendered)
    assert sorted(w["metadata"]["name"] for w in workloads) == [
        "fd-flightdeck-backup",
        "fd-flightdeck-metrics",
    ]
    with MongoClient(ferretdb.uri) as mongo:
        mongo[database]["notes"].insert_one({"title": "installed", "body": "from the wheel"})
    secrets = {
        ("flightdeck-external-mongodb", "mongodb-uri"): ferretdb.uri,
        ("flightdeck-backup", "azure-storage-connection-string"): azurite.connection_string,
        ("flightdeck-backup", "backup-encryption-key"): base64.b64encode(os.urandom(32)).decode(),
    }
    volumes = tmp_path / "volumes"

    job = rendered.get("CronJob", "backup")
    (spec,) = pod_spec(job)["containers"]
    env = pod_environment(job, spec["name"], secrets, volumes)
    cycle = flightdeck_installed.flightdeck(layout, *spec["args"], env=env)
    assert cycle.returncode == 0, f"{spec['args']}:\n{cycle.stdout}{cycle.stderr}"
    steps = json.loads(cycle.stdout)["steps"]
    assert [(step["step"], step["status"]) for step in steps] == [
        ("run", "ok"),
        ("verify", "ok"),
        ("prune", "ok"),
    ], steps
    backup_id = steps[0]["detail"].split()[1].rstrip(",")
    assert steps[1]["detail"] == f"backup {backup_id} verified in azure"
    listed = flightdeck_installed.flightdeck(layout, "backup", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    (entry,) = [entry for entry in json.loads(listed.stdout) if entry["id"] == backup_id]
    assert "azure" in entry["stores"], entry
    assert entry["verified"] is True, entry

    namespace = f"wheel-{layout}"
    a_rollout_record_in(kube_cluster, namespace, tmp_path)
    endpoint = rendered.get("Deployment", "metrics")
    env = pod_environment(
        endpoint, "metrics", secrets, volumes, fields={"metadata.namespace": namespace}
    )
    env["KUBECONFIG"] = str(kube_cluster.kubeconfig)  # instead of the pod's service account
    port = free_port()
    args = on_loopback(
        container(endpoint, "metrics")["args"], port, volume_paths(endpoint, "metrics", volumes)
    )
    process = flightdeck_installed.popen(layout, ["-m", "flightdeck", *args], env)
    try:
        wait_for_port(port, timeout=30)
        served = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    finally:
        stop_process(process)
    assert "flightdeck_backup_last_verify_success 1.0" in served, served
    assert "flightdeck_backup_failures_total 0.0" in served, served
    assert 'flightdeck_rollout_phase{phase="Progressing",rollout="backend"} 1.0' in served, served
    assert 'flightdeck_metrics_source_up{source="rollouts"} 1.0' in served, served
    assert 'flightdeck_metrics_source_up{source="backup.prom"} 1.0' in served, served


def test_the_backend_serves_installed(
    backend_installed: Installed, ferretdb: FerretDB, tmp_path: Path
) -> None:
    rendered = render("external-mongodb", "--set", "mongodb.database=wheel_backend")
    deployment = rendered.get("Deployment", "backend")
    secrets = {("flightdeck-external-mongodb", "mongodb-uri"): ferretdb.uri}
    env = pod_environment(deployment, "backend", secrets, tmp_path)
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
