"""The Helm chart on the test control plane (testsupport/kubecluster.py).

The CRDs of the chart's optional objects come from the versions pinned in tools/crds/go.mod
(their YAML ships in the Go modules); namespaces get the Pod Security label docs/helm.md asks
for, so the API server enforces `restricted` on every pod; the Secrets a scenario references are
created first, named and keyed as the rendered chart references them; helm runs with its own
HOME and the cluster's kubeconfig, never the developer's.
"""

from __future__ import annotations

import copy
import os
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from kubernetes import client
from kubernetes import config as kube_config

from testsupport.helmchart import CHART, helm, render, values_file
from testsupport.kubecluster import KubeCluster, go_module_dir
from testsupport.waiting import wait_until

# (module pinned in tools/crds/go.mod, files inside it): the CRDs the chart's optional objects
# use: HTTPRoute (the whole standard channel), ServiceMonitor, PrometheusRule, ClusterIssuer.
CRD_FILES = (
    ("sigs.k8s.io/gateway-api", "config/crd/standard/*.yaml"),
    (
        "github.com/prometheus-operator/prometheus-operator",
        "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
    ),
    (
        "github.com/prometheus-operator/prometheus-operator",
        "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
    ),
    ("github.com/cert-manager/cert-manager", "deploy/crds/cert-manager.io_clusterissuers.yaml"),
)
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
# A release that shares the cluster with others leaves the cluster-wide objects to none of them.
NO_CLUSTER_WIDE_OBJECTS = ("--set", "certManager.clusterIssuers.create=false")


def checked(response: httpx.Response) -> dict[str, Any]:
    """The JSON answer, or an AssertionError with the API server's message."""
    if response.is_error:
        raise AssertionError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text}"
        )
    body: dict[str, Any] = response.json()
    return body


def crd_documents() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for module, pattern in CRD_FILES:
        directory = go_module_dir("crds", module)
        files = sorted(directory.glob(pattern))
        if not files:
            raise AssertionError(f"no {pattern} in {module} at {directory}")
        for path in files:
            documents += [
                doc
                for doc in yaml.safe_load_all(path.read_text())
                if doc and doc.get("kind") == "CustomResourceDefinition"
            ]
    return documents


def install_crds(cluster: KubeCluster, timeout: float = 60) -> list[str]:
    """Create the CRDs (those present already are left alone) and wait until Established."""
    names = []
    with cluster.http() as http:
        for crd in crd_documents():
            response = http.post(CRD_PATH, json=crd)
            if response.status_code != 409:
                checked(response)
            names.append(crd["metadata"]["name"])
        wait_until(
            lambda: all(_established(checked(http.get(f"{CRD_PATH}/{n}"))) for n in names),
            timeout=timeout,
            what=f"the CRDs {', '.join(names)} to be Established",
        )
    return names


def _established(crd: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in (crd.get("status") or {}).get("conditions") or []
    )


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def referenced_secrets(objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Secret name -> keys, from every secretKeyRef and secret volume in the objects."""
    found: dict[str, set[str]] = {}
    for node in _walk(objects):
        ref = node.get("secretKeyRef")
        if isinstance(ref, dict):
            found.setdefault(ref["name"], set()).add(ref["key"])
        volume = node.get("secret")
        if isinstance(volume, dict) and "secretName" in volume:
            keys = {item["key"] for item in volume.get("items") or []}
            found.setdefault(volume["secretName"], set()).update(keys)
    return found


@dataclass
class ChartCluster:
    """The test cluster with the chart's CRDs, and helm pointed at it."""

    cluster: KubeCluster
    helm_home: Path
    _resources: dict[tuple[str, str], tuple[str, bool]] = field(default_factory=dict)

    def helm(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        home = self.helm_home
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }
        return helm(*args, env=env, timeout=timeout)

    def http(self) -> httpx.Client:
        return self.cluster.http()

    def create_namespace(self, name: str) -> None:
        """A namespace labelled as docs/helm.md says (restricted Pod Security), ready for pods."""
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            },
        }
        with self.http() as http:
            checked(http.post("/api/v1/namespaces", json=body))
            # Pods that name no service account need `default`, which a controller creates.
            wait_until(
                lambda: http.get(f"/api/v1/namespaces/{name}/serviceaccounts/default").is_success,
                timeout=30,
                what=f"the default ServiceAccount in {name}",
            )

    def create_secrets(self, namespace: str, scenario: str, *extra: str) -> dict[str, set[str]]:
        """Every Secret the rendered scenario references, with random values."""
        wanted = referenced_secrets(render(scenario, *extra).objects)
        with self.http() as http:
            for name, keys in wanted.items():
                body = {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": name},
                    "stringData": {key: secrets.token_hex(24) for key in sorted(keys)},
                }
                checked(http.post(f"/api/v1/namespaces/{namespace}/secrets", json=body))
        return wanted

    def install(self, release: str, namespace: str, scenario: str, *extra: str) -> None:
        """`helm install --wait` of a ci/ scenario into a new namespace with its Secrets."""
        self.create_namespace(namespace)
        self.create_secrets(namespace, scenario, *extra)
        self.helm_ok(
            namespace,
            "install", release, str(CHART), "-n", namespace, "-f", str(values_file(scenario)),
            "--wait", "--timeout", "3m", *extra,
        )  # fmt: skip

    def upgrade(self, release: str, namespace: str, scenario: str, *extra: str) -> None:
        self.helm_ok(
            namespace,
            "upgrade", release, str(CHART), "-n", namespace, "-f", str(values_file(scenario)),
            "--wait", "--timeout", "3m", *extra,
        )  # fmt: skip

    def helm_ok(self, namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
        """helm ARGS, or an AssertionError with its output and the namespace's events.

        A warning from the API server fails too: an unknown field it dropped, a Pod Security
        level a pod would violate, a deprecated API.
        """
        result = self.helm(*args)
        if result.returncode != 0:
            raise AssertionError(
                f"helm {' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}\nevents in {namespace}:\n{self.events(namespace)}"
            )
        warned = "\n".join(line for line in result.stderr.splitlines() if "warnings.go" in line)
        assert not warned, f"helm {' '.join(args[:2])}: the API server warns:\n{warned}"
        return result

    def events(self, namespace: str) -> str:
        with self.http() as http:
            items = checked(http.get(f"/api/v1/namespaces/{namespace}/events"))["items"]
        return "\n".join(
            f"{e['involvedObject']['kind']}/{e['involvedObject']['name']}: "
            f"{e.get('reason')}: {e.get('message')}"
            for e in items
            if e.get("type") != "Normal"
        )

    def manifest(self, release: str, namespace: str) -> list[dict[str, Any]]:
        """The objects of the release's current revision (`helm get manifest`)."""
        result = self.helm_ok(namespace, "get", "manifest", release, "-n", namespace)
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    def path(self, obj: dict[str, Any], namespace: str) -> str:
        """The API path of an object, found through the API server's discovery."""
        api_version, kind = obj["apiVersion"], obj["kind"]
        if (api_version, kind) not in self._resources:
            prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            with self.http() as http:
                for resource in checked(http.get(prefix))["resources"]:
                    if "/" not in resource["name"]:
                        self._resources[(api_version, resource["kind"])] = (
                            f"{prefix}/{{ns}}{resource['name']}",
                            resource["namespaced"],
                        )
        template, namespaced = self._resources[(api_version, kind)]
        scope = f"namespaces/{obj['metadata'].get('namespace') or namespace}/" if namespaced else ""
        return f"{template.format(ns=scope)}/{obj['metadata']['name']}"

    def get(self, path: str) -> dict[str, Any] | None:
        with self.http() as http:
            response = http.get(path)
        return None if response.status_code == 404 else checked(response)

    @contextmanager
    def release(self, name: str, namespace: str, scenario: str, *extra: str) -> Iterator[Release]:
        """The scenario installed as release NAME into a new NAMESPACE, uninstalled afterwards.

        Without the cluster-wide objects (the ClusterIssuers), so that several releases can be
        installed side by side.
        """
        self.install(name, namespace, scenario, *NO_CLUSTER_WIDE_OBJECTS, *extra)
        try:
            yield Release(self, name, namespace, self.manifest(name, namespace))
        finally:
            # Without --wait: nothing it owns is shared, so nothing has to be gone before the
            # next test (waiting for the pods and volumes to go takes up to half a minute).
            self.helm_ok(namespace, "uninstall", name, "-n", namespace)

    def kubeconfig_for(self, namespace: str, service_account: str) -> Path:
        """A kubeconfig that authenticates as a ServiceAccount (a token from the TokenRequest
        API), so that what the client does is authorized by that account's Roles only."""
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": 3600},
        }
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token"
        with self.http() as http:
            token = checked(http.post(path, json=request))["status"]["token"]
        kubeconfig = yaml.safe_load(self.cluster.kubeconfig.read_text())
        kubeconfig["users"] = [{"name": service_account, "user": {"token": token}}]
        kubeconfig["contexts"][0]["context"] = {
            "cluster": kubeconfig["clusters"][0]["name"],
            "user": service_account,
            "namespace": namespace,
        }
        written = self.helm_home / "kubeconfigs" / f"{namespace}-{service_account}"
        written.parent.mkdir(parents=True, exist_ok=True)
        written.write_text(yaml.safe_dump(kubeconfig))
        written.chmod(0o600)
        return written


@dataclass
class Release:
    """An installed release: its objects as Helm created them, and clients acting on them."""

    cc: ChartCluster
    name: str
    namespace: str
    objects: list[dict[str, Any]]

    @property
    def fullname(self) -> str:
        """The chart's `flightdeck.fullname` for this release."""
        return self.name if "flightdeck" in self.name else f"{self.name}-flightdeck"[:40]

    @property
    def flightdeck_account(self) -> str:
        """The chart's ServiceAccount for the rollout engine (its Role: docs/kubernetes.md)."""
        return f"{self.fullname}-flightdeck"

    def installed(self, kind: str, name: str) -> dict[str, Any]:
        """The object of the release's manifest (as Helm installed it)."""
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        assert found, f"release {self.name} has no {kind} {name}"
        return found[0]

    def path(self, kind: str, name: str) -> str:
        return self.cc.path(self.installed(kind, name), self.namespace)

    def live(self, kind: str, name: str) -> dict[str, Any]:
        found = self.cc.get(self.path(kind, name))
        assert found is not None, f"{kind} {name} is not on the API server"
        return found

    def restore(self, kind: str, name: str, replicas: int | None = None) -> dict[str, Any]:
        """Put the object back as the chart installed it (and Helm's ownership metadata); the
        replicas of a Deployment the chart leaves to its HPA stay. A conflict with a controller
        writing the object's status at the same time is retried on a fresh read."""
        for _ in range(10):
            live = self.live(kind, name)
            body = copy.deepcopy(self.installed(kind, name))
            annotations = {
                key: value
                for key, value in (live["metadata"].get("annotations") or {}).items()
                if key.startswith("meta.helm.sh/")
            }
            body["metadata"] = {
                **body["metadata"],
                "namespace": self.namespace,
                "resourceVersion": live["metadata"]["resourceVersion"],
                "annotations": {**(body["metadata"].get("annotations") or {}), **annotations},
            }
            if replicas is not None:
                body["spec"]["replicas"] = replicas
            elif "replicas" in live.get("spec", {}) and "replicas" not in body.get("spec", {}):
                body["spec"]["replicas"] = live["spec"]["replicas"]  # an HPA's: Helm leaves it
            with self.cc.http() as http:
                response = http.put(self.path(kind, name), json=body)
            if response.status_code != 409:
                return checked(response)
        raise AssertionError(f"{kind} {name}: still conflicting after 10 attempts")

    def kubeconfig(self, service_account: str) -> Path:
        return self.cc.kubeconfig_for(self.namespace, service_account)

    def api_client(self, service_account: str) -> client.ApiClient:
        """A client of the official package, made from a kubeconfig as `--target kubernetes`
        makes it."""
        api: client.ApiClient = kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig(service_account))
        )
        return api

    def delete_all(self, collection: str, selector: str) -> None:
        """Delete the objects of a collection (e.g. `/api/v1/configmaps`) matching a selector."""
        prefix, plural = collection.rsplit("/", 1)
        path = f"{prefix}/namespaces/{self.namespace}/{plural}"
        with self.cc.http() as http:
            checked(http.request("DELETE", path, params={"labelSelector": selector}))
