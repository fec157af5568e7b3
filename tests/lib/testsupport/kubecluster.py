"""A real Kubernetes control plane for tests: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok, all on 127.0.0.1 on free ports.

`make setup` builds the pinned versions (tools/etcd, tools/kubernetes, tools/kwok) into a cache
outside the checkout and links them into bin/. kwok stands in for the kubelets: it runs no
container but moves the objects through their lifecycle with its own Stages (from its module):
the fake Node becomes Ready, Pods become Running and Ready and get IPs, Jobs' pods complete, pods
being deleted go away. Two more behaviours are added here: `helm test` pods complete (kwok's own
stage only completes pods owned by a Job), and PersistentVolumeClaims of every StorageClass the
cluster offers are provisioned and bound (kwok's stage only handles its `kwok-volume` class).

What it is not: no container runs, no kubelet probe, no network between pods, no ingress
controller or Gateway implementation (Ingresses and HTTPRoutes are stored and validated only).
"""

from __future__ import annotations

import copy
import os
import secrets
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from kubernetes import client
from kubernetes import config as kube_config

from flightdeck.local.tls import TlsFiles, ensure_certificate
from testsupport import BIN_DIR, REPO_ROOT
from testsupport.ports import free_port
from testsupport.processes import stop_process
from testsupport.waiting import WaitTimeoutError, wait_until

CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
NODE_NAME = "kwok-node-0"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
# The StorageClasses of the test cluster, all provisioned by kwok: its default `kwok-volume`
# and `azurefile`, the class the chart's uploads PVC asks for by default.
STORAGE_CLASSES = ("kwok-volume", "azurefile")
# kwok's Stages used as they ship in its module (kustomize/stage/...).
KWOK_STAGE_FILES = (
    "node/fast/node-initialize.yaml",
    "node/heartbeat/node-heartbeat.yaml",
    "pod/fast/pod-ready.yaml",
    "pod/fast/pod-complete.yaml",
    "pod/fast/pod-delete.yaml",
)
KWOK_VOLUME_STAGE_FILES = ("volume/fast/pvc-provision.yaml", "volume/fast/pv-bind.yaml")
KWOK_STORAGE_CLASS_FILE = "volume/fast/storage-class.yaml"
KWOK_VOLUME_SELECTOR = "self.spec.storageClassName == 'kwok-volume'"
# `helm test` waits for its pods to succeed; kwok's pod-complete only finishes Jobs' pods.
HELM_TEST_POD_COMPLETE: dict[str, Any] = {
    "apiVersion": "kwok.x-k8s.io/v1alpha1",
    "kind": "Stage",
    "metadata": {"name": "helm-test-pod-complete"},
    "spec": {
        "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
        "selector": {
            "matchExpressions": [
                {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"},
                {"key": ".status.phase", "operator": "In", "values": ["Running"]},
                {
                    "key": '.metadata.annotations["helm.sh/hook"]',
                    "operator": "In",
                    "values": ["test", "test-success"],
                },
            ]
        },
        "next": {
            "statusTemplate": (
                "{{ $now := Now }}\n"
                "containerStatuses:\n"
                "{{ range .spec.containers }}\n"
                "- image: {{ .image | Quote }}\n"
                "  name: {{ .name | Quote }}\n"
                "  ready: false\n"
                "  restartCount: 0\n"
                "  started: false\n"
                "  state:\n"
                "    terminated:\n"
                "      exitCode: 0\n"
                "      finishedAt: {{ $now | Quote }}\n"
                "      reason: Completed\n"
                "      startedAt: {{ $now | Quote }}\n"
                "{{ end }}\n"
                "phase: Succeeded\n"
            )
        },
    },
}


class ControlPlaneMissing(RuntimeError):
    """A control-plane binary or kwok's Stages are missing: `make setup` builds them."""


def control_plane_binary(name: str, bin_dir: Path = BIN_DIR) -> Path:
    """bin/NAME, or ControlPlaneMissing naming what to run (a test must fail, never skip)."""
    path = bin_dir / name
    if not os.access(path, os.X_OK):
        raise ControlPlaneMissing(
            f"{path} is missing: run `make setup` (scripts/setup.sh builds the Kubernetes "
            f"control plane into ~/.cache/flightdeck/control-plane and links it into bin/)"
        )
    return path


def go_module_dir(tools_module: str, module: str) -> Path:
    """Where the Go module cache holds `module` at the version tools/<tools_module> pins.

    Never downloads (GOPROXY=off): `make setup` has fetched it; otherwise the error says so.
    """
    env = {**os.environ, "GOFLAGS": "-mod=readonly", "GOPROXY": "off"}
    try:
        result = subprocess.run(
            ["go", "list", "-m", "-f", "{{.Dir}}", module],
            cwd=REPO_ROOT / "tools" / tools_module,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    except FileNotFoundError:
        raise ControlPlaneMissing("go is not on PATH: the tests read pinned Go modules") from None
    directory = result.stdout.strip()
    if result.returncode != 0 or not directory:
        raise ControlPlaneMissing(
            f"Go module {module} (pinned in tools/{tools_module}/go.mod) is not in the module "
            f"cache: run `make setup`\n{result.stderr}"
        )
    return Path(directory)


def _yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kwok_stages() -> list[dict[str, Any]]:
    """kwok's Stages for nodes, pods and volumes, plus the helm-test completion stage."""
    stage_dir = go_module_dir("kwok", "sigs.k8s.io/kwok") / "kustomize" / "stage"
    stages = [doc for name in KWOK_STAGE_FILES for doc in _yaml_documents(stage_dir / name)]
    classes = ", ".join(f"'{name}'" for name in STORAGE_CLASSES)
    for name in KWOK_VOLUME_STAGE_FILES:
        text = (stage_dir / name).read_text()
        if KWOK_VOLUME_SELECTOR not in text:
            raise AssertionError(f"kwok's {name} no longer selects {KWOK_VOLUME_SELECTOR!r}")
        text = text.replace(KWOK_VOLUME_SELECTOR, f"self.spec.storageClassName in [{classes}]")
        stages += [doc for doc in yaml.safe_load_all(text) if doc]
    return [*stages, HELM_TEST_POD_COMPLETE]


def _storage_classes() -> list[dict[str, Any]]:
    stage_dir = go_module_dir("kwok", "sigs.k8s.io/kwok") / "kustomize" / "stage"
    (default,) = _yaml_documents(stage_dir / KWOK_STORAGE_CLASS_FILE)
    others = []
    for name in STORAGE_CLASSES:
        if name == default["metadata"]["name"]:
            continue
        other = copy.deepcopy(default)
        other["metadata"] = {"name": name}
        others.append(other)
    return [default, *others]


@dataclass
class _Process:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class KubeCluster:
    """The control plane's processes, files and a kubeconfig for an admin (system:masters)."""

    directory: Path
    etcd_port: int = field(default_factory=free_port)
    etcd_peer_port: int = field(default_factory=free_port)
    apiserver_port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    processes: list[_Process] = field(default_factory=list)

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def tls(self) -> TlsFiles:
        return TlsFiles(self.directory / "pki")

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    def api_client(self) -> client.ApiClient:
        """A client of the official `kubernetes` package, configured from the kubeconfig."""
        api: client.ApiClient = kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig)
        )
        return api

    def http(self) -> httpx.Client:
        """An HTTP client of the API server as the admin (JSON in, JSON out)."""
        return httpx.Client(
            base_url=self.server,
            headers={"Authorization": f"Bearer {self.token}"},
            verify=ssl.create_default_context(cafile=self.tls.ca_cert),
            timeout=30,
        )

    # -- start / stop --------------------------------------------------------------------------
    def start(self) -> None:
        binaries = {name: control_plane_binary(name) for name in CONTROL_PLANE}
        stages = kwok_stages()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._write_credentials()
        try:
            self._start_etcd(binaries["etcd"])
            self._start_apiserver(binaries["kube-apiserver"])
            self._start_controllers(binaries)
            self._start_kwok(binaries["kwok"], stages)
            self._add_node_and_storage()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop in reverse order of start: kwok and the controllers, the API server, etcd."""
        while self.processes:
            stop_process(self.processes.pop().process, timeout=15)

    # -- pieces ------------------------------------------------------------------------------
    def _write_credentials(self) -> None:
        self.tls.directory.mkdir(parents=True, exist_ok=True)
        ensure_certificate(self.tls, "localhost", days=2, renew_before_days=0)
        (self.directory / "tokens.csv").write_text(
            f'{self.token},admin,admin-uid,"system:masters"\n'
        )
        self.kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "test",
                            "cluster": {
                                "server": self.server,
                                "certificate-authority": str(self.tls.ca_cert),
                            },
                        }
                    ],
                    "users": [{"name": "admin", "user": {"token": self.token}}],
                    "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
                    "current-context": "test",
                }
            )
        )
        self.kubeconfig.chmod(0o600)

    def _spawn(self, name: str, argv: list[str]) -> _Process:
        log = self.directory / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        started = _Process(name, process, log)
        self.processes.append(started)
        return started

    def _wait(self, started: _Process, ready: str, timeout: float = 60) -> None:
        """Poll until `ready` (a URL) answers 200, or fail with the process's log."""

        def answers(http: httpx.Client) -> bool:
            self._check_running()
            try:
                return http.get(ready, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        with self.http() as http:
            try:
                wait_until(lambda: answers(http), timeout, interval=0.2, what=started.name)
            except WaitTimeoutError:
                raise TimeoutError(
                    f"{started.name} not ready at {ready} after {timeout}s:\n"
                    f"{started.log.read_text()[-5000:]}"
                ) from None

    def _start_etcd(self, etcd: Path) -> None:
        client_url = f"http://127.0.0.1:{self.etcd_port}"
        peer_url = f"http://127.0.0.1:{self.etcd_peer_port}"
        started = self._spawn(
            "etcd",
            [
                str(etcd),
                "--name=test",
                f"--data-dir={self.directory / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=test={peer_url}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        self._wait(started, f"{client_url}/health")

    def _start_apiserver(self, apiserver: Path) -> None:
        tls = self.tls
        started = self._spawn(
            "kube-apiserver",
            [
                str(apiserver),
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.apiserver_port}",
                f"--tls-cert-file={tls.server_cert}",
                f"--tls-private-key-file={tls.server_key}",
                f"--client-ca-file={tls.ca_cert}",
                f"--token-auth-file={self.directory / 'tokens.csv'}",
                "--authorization-mode=Node,RBAC",
                # The serving key signs service-account tokens too (its certificate verifies
                # them): nothing outside this test cluster trusts it.
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={tls.server_cert}",
                f"--service-account-signing-key-file={tls.server_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # No kube-proxy or real endpoints for the `kubernetes` Service on loopback.
                "--endpoint-reconciler-type=none",
                "--v=0",
            ],
        )
        self._wait(started, f"{self.server}/readyz", timeout=90)

    def _start_controllers(self, binaries: dict[str, Path]) -> None:
        common = [
            f"--kubeconfig={self.kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
        ]
        self._spawn(
            "kube-controller-manager",
            [
                str(binaries["kube-controller-manager"]),
                *common,
                f"--service-account-private-key-file={self.tls.server_key}",
                f"--root-ca-file={self.tls.ca_cert}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
            ],
        )
        self._spawn("kube-scheduler", [str(binaries["kube-scheduler"]), *common])

    def _start_kwok(self, kwok: Path, stages: list[dict[str, Any]]) -> None:
        config = self.directory / "kwok-stages.yaml"
        config.write_text(yaml.safe_dump_all(stages, width=1000))
        self._spawn(
            "kwok",
            [
                str(kwok),
                f"--kubeconfig={self.kubeconfig}",
                f"--config={config}",
                # Options as flags: a KwokConfiguration in the file loses kwok's defaults.
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                f"--cidr={POD_CIDR}",
                "--node-ip=127.0.0.1",
            ],
        )

    def _check_running(self) -> None:
        """Fail with its log when a control-plane process has exited."""
        for started in self.processes:
            if started.process.poll() is not None:
                raise RuntimeError(
                    f"{started.name} exited with {started.process.returncode}:\n"
                    f"{started.log.read_text()[-5000:]}"
                )

    def _add_node_and_storage(self, timeout: float = 60) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE_NAME,
                "annotations": {KWOK_NODE_ANNOTATION: "fake"},
                "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux"},
            },
            "status": {
                "allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"},
            },
        }
        with self.http() as http:
            http.post("/api/v1/nodes", json=node).raise_for_status()
            for storage_class in _storage_classes():
                path = "/apis/storage.k8s.io/v1/storageclasses"
                http.post(path, json=storage_class).raise_for_status()

            def node_ready() -> bool:
                self._check_running()
                status = http.get(f"/api/v1/nodes/{NODE_NAME}").json().get("status") or {}
                return any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions") or []
                )

            try:
                wait_until(node_ready, timeout, interval=0.2, what=f"node {NODE_NAME}")
            except WaitTimeoutError:
                kwok_log = (self.directory / "kwok.log").read_text()[-5000:]
                raise TimeoutError(
                    f"node {NODE_NAME} not Ready after {timeout}s; kwok:\n{kwok_log}"
                ) from None
