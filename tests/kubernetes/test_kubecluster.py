"""The test control plane itself (testsupport/kubecluster.py): what other tests rely on."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from testsupport import REPO_ROOT
from testsupport.kubecluster import ControlPlaneMissing, KubeCluster, control_plane_binary

# The module's tier is the heavier one: `-m unit` selects a test with any unit marker, so a
# unit module's integration tests would start a control plane in `make test-fast`.
pytestmark = pytest.mark.integration

NAMESPACE = "cluster-check"


@pytest.mark.unit
def test_a_missing_binary_fails_naming_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ControlPlaneMissing, match="run `make setup`"):
        control_plane_binary("kube-apiserver", tmp_path)


def wait_for(what: str, condition: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what} after {timeout}s"
        time.sleep(0.1)
    return result


@pytest.fixture(scope="module")
def http(kube_cluster: KubeCluster) -> Iterator[httpx.Client]:
    with kube_cluster.http() as api:
        namespace = {"metadata": {"name": NAMESPACE}}
        api.post("/api/v1/namespaces", json=namespace).raise_for_status()
        yield api


def test_it_is_the_pinned_kubernetes(kube_cluster: KubeCluster) -> None:
    pinned = re.search(
        r"^\s*k8s\.io/kubernetes (v\S+)", (REPO_ROOT / "tools/kubernetes/go.mod").read_text(), re.M
    )
    assert pinned is not None
    with kube_cluster.api_client() as api:  # the official client, from the kubeconfig
        version = client.VersionApi(api).get_code()
    assert version.git_version == pinned.group(1)


def test_a_deployment_with_a_volume_becomes_ready(http: httpx.Client) -> None:
    base = f"/api/v1/namespaces/{NAMESPACE}"
    claim = {
        "metadata": {"name": "files"},
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "storageClassName": "azurefile",
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    http.post(f"{base}/persistentvolumeclaims", json=claim).raise_for_status()
    labels = {"app": "web"}
    pod = {
        "metadata": {"labels": labels},
        "spec": {
            "containers": [{"name": "web", "image": "nginx:1", "volumeMounts": [
                {"name": "files", "mountPath": "/files"}
            ]}],
            "volumes": [{"name": "files", "persistentVolumeClaim": {"claimName": "files"}}],
        },
    }  # fmt: skip
    deployment = {
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": pod},
    }
    path = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
    http.post(path, json=deployment).raise_for_status()
    wait_for(
        "the Deployment is not ready",
        lambda: http.get(f"{path}/web").json().get("status", {}).get("readyReplicas") == 2,
    )
    bound = http.get(f"{base}/persistentvolumeclaims/files").json()
    assert bound["status"]["phase"] == "Bound"
    pods = http.get(f"{base}/pods", params={"labelSelector": "app=web"}).json()["items"]
    assert [p["status"]["phase"] for p in pods] == ["Running", "Running"]
    assert all(p["status"].get("podIP") for p in pods), pods


def test_helm_test_pods_complete(http: httpx.Client) -> None:
    pod = {
        "metadata": {"name": "check", "annotations": {"helm.sh/hook": "test"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "t", "image": "busybox:1"}]},
    }
    path = f"/api/v1/namespaces/{NAMESPACE}/pods"
    http.post(path, json=pod).raise_for_status()
    wait_for(
        "the helm test pod did not succeed",
        lambda: http.get(f"{path}/check").json().get("status", {}).get("phase") == "Succeeded",
    )


def test_stale_writes_conflict_and_invalid_objects_are_refused(http: httpx.Client) -> None:
    path = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
    created = http.post(path, json={"metadata": {"name": "state"}, "data": {"n": "1"}}).json()
    first = {**created, "data": {"n": "2"}}
    assert http.put(f"{path}/state", json=first).status_code == 200
    stale = {**created, "data": {"n": "3"}}  # still carries the first resourceVersion
    assert http.put(f"{path}/state", json=stale).status_code == 409
    invalid = http.post(path, json={"metadata": {"name": "Not_A_Name"}})
    assert invalid.status_code == 422, invalid.text
