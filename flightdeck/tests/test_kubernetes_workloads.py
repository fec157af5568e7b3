"""DeploymentWorkloads on the chart's Deployments, installed on the real control plane.

The providers authenticate as the chart's flightdeck ServiceAccount. The Deployment controller,
the scheduler and kwok (standing in for the kubelets) make the situations: a rollout that is
waited for, pods that cannot be scheduled (a node selector no node has), a progress deadline
the controller declares exceeded, a container restart reported in a pod's status.
"""

from __future__ import annotations

from typing import Any

import pytest

from flightdeck.core.errors import PermanentError, RetryableError
from flightdeck.kubernetes.api import POD, KubeApi
from flightdeck.workloads import TrackSpec
from flightdeck.workloads.deployments import (
    DeploymentWorkloads,
    image_tag_label,
    repository,
    rollout_waiting_for,
)
from testsupport.chartcluster import ChartCluster, Release, checked
from testsupport.helmchart import container
from testsupport.interleaving import InterleavingApi
from testsupport.waiting import wait_until

pytestmark = pytest.mark.integration

CANARY = "fd-flightdeck-backend-canary"
STABLE = "fd-flightdeck-backend"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
def release(chart_deployments: Release) -> Release:
    return chart_deployments


@pytest.fixture
def api(release: Release) -> InterleavingApi:
    return InterleavingApi(release.api_client(release.flightdeck_account), release.namespace)


@pytest.fixture
def workloads(api: InterleavingApi, release: Release) -> DeploymentWorkloads:
    return DeploymentWorkloads(api, release.fullname, poll_seconds=0.2)


def deployment(release: Release, name: str) -> dict[str, Any]:
    return release.live("Deployment", name)


def env_of(obj: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value") for item in container(obj, "backend")["env"]}


def admin_patch(release: Release, kind: str, name: str, patch: dict[str, Any]) -> None:
    """A change made by someone else (the cluster's admin), as a JSON merge patch."""
    with release.cc.http() as http:
        checked(http.patch(release.path(kind, name), json=patch, headers=MERGE_PATCH))


def unschedulable(release: Release, name: str, progress_deadline: int = 600) -> None:
    """Pods of the Deployment's next ReplicaSet stay Pending: no node has the selected label."""
    spec = {
        "progressDeadlineSeconds": progress_deadline,
        "template": {"spec": {"nodeSelector": {"flightdeck.io/test-no-such-node": "true"}}},
    }
    admin_patch(release, "Deployment", name, {"spec": spec})


def test_apply_re_images_and_scales_the_chart_deployment(
    release: Release, workloads: DeploymentWorkloads
) -> None:
    before = deployment(release, CANARY)
    workloads.apply(TrackSpec("canary", "0.3.0", 2, {"FAULT_ERROR_RATE": "0.2"}))
    after = deployment(release, CANARY)
    assert container(after, "backend")["image"] == "ghcr.io/flightdeck/backend:0.3.0"
    assert after["spec"]["replicas"] == 2
    assert after["spec"]["template"]["metadata"]["labels"]["flightdeck.io/image-tag"] == "0.3.0"
    assert after["spec"]["template"]["metadata"]["labels"]["version"] == "canary"
    env = env_of(after)
    assert env["APP_VERSION"] == "0.3.0"
    assert env["APP_TRACK"] == "canary"
    assert env["FAULT_ERROR_RATE"] == "0.2"
    assert {"MONGODB_URI", "MONGODB_DATABASE", "UPLOAD_DIR"} <= set(env), "chart entries stay"
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    # the probes and the rest of the chart's container are untouched
    assert (
        container(after, "backend")["readinessProbe"]
        == container(before, "backend")["readinessProbe"]
    )
    workloads.wait_ready("canary", 60)
    pods = workloads.api.list(POD, {"version": "canary", "flightdeck.io/image-tag": "0.3.0"})
    assert len(pods) == 2
    images = {c["image"] for pod in pods for c in pod["spec"]["containers"]}
    assert images == {"ghcr.io/flightdeck/backend:0.3.0"}


def test_the_next_apply_takes_the_previous_overrides_away(
    release: Release, workloads: DeploymentWorkloads
) -> None:
    chart_limit = env_of(deployment(release, CANARY))["MAX_UPLOAD_BYTES"]
    workloads.apply(
        TrackSpec("canary", "0.3.0", 1, {"FAULT_ERROR_RATE": "0.2", "MAX_UPLOAD_BYTES": "1"})
    )
    assert env_of(deployment(release, CANARY))["MAX_UPLOAD_BYTES"] == "1"
    workloads.apply(TrackSpec("canary", "0.4.0", 1))
    env = env_of(deployment(release, CANARY))
    assert "FAULT_ERROR_RATE" not in env
    assert env["MAX_UPLOAD_BYTES"] == chart_limit
    names = [item["name"] for item in container(deployment(release, CANARY), "backend")["env"]]
    assert names.count("MAX_UPLOAD_BYTES") == 1


def test_an_autoscaled_deployment_keeps_the_hpa_replicas(
    release: Release, workloads: DeploymentWorkloads
) -> None:
    assert release.live("HorizontalPodAutoscaler", STABLE)["spec"]["scaleTargetRef"]["name"] == (
        STABLE
    )
    admin_patch(release, "Deployment", STABLE, {"spec": {"replicas": 4}})  # as the HPA would
    workloads.apply(TrackSpec("stable", "0.3.0", 2))
    stable = deployment(release, STABLE)
    assert stable["spec"]["replicas"] == 4
    assert container(stable, "backend")["image"].endswith(":0.3.0")
    workloads.wait_ready("stable", 60)
    assert workloads.get("stable") == TrackSpec("stable", "0.3.0", 4)


def test_wait_ready_waits_for_the_rollout(workloads: DeploymentWorkloads) -> None:
    workloads.apply(TrackSpec("canary", "0.3.0", 1))
    assert workloads.ready("canary") is False  # the controller has not even seen the change
    workloads.wait_ready("canary", 60)
    assert workloads.ready("canary") is True


def test_wait_ready_times_out_with_the_reason(
    release: Release, workloads: DeploymentWorkloads
) -> None:
    unschedulable(release, CANARY)
    workloads.apply(TrackSpec("canary", "0.3.1-pending", 1))
    with pytest.raises(RetryableError, match=r"not rolled out after 3s: .*0 of 1 updated"):
        workloads.wait_ready("canary", 3)
    assert workloads.ready("canary") is False


def test_a_progress_deadline_is_permanent(release: Release, workloads: DeploymentWorkloads) -> None:
    unschedulable(release, CANARY, progress_deadline=1)
    # A version no earlier test used: a ReplicaSet of an earlier template scaled up again from
    # 0 is a "scaling event" to the Deployment controller, which then keeps the completed
    # rollout's Progressing condition and never times out (as `kubectl rollout status` sees).
    workloads.apply(TrackSpec("canary", "0.3.2-deadline", 1))
    # The Deployment controller itself declares the deadline exceeded.
    with pytest.raises(PermanentError, match=r"progress deadline.*has timed out progressing"):
        workloads.wait_ready("canary", 60)


def test_a_restarted_canary_is_not_ready(release: Release, workloads: DeploymentWorkloads) -> None:
    workloads.apply(TrackSpec("canary", "0.3.0", 1))
    workloads.wait_ready("canary", 60)
    assert workloads.ready("canary") is True
    (pod,) = workloads.api.list(POD, {"version": "canary", "flightdeck.io/image-tag": "0.3.0"})
    # What a kubelet reports after the container crashed and was restarted (kwok is the kubelet).
    with release.cc.http() as http:
        path = f"/api/v1/namespaces/{release.namespace}/pods/{pod['metadata']['name']}/status"
        patch = {"status": {"containerStatuses": [{"name": "backend", "restartCount": 1}]}}
        headers = {"Content-Type": "application/strategic-merge-patch+json"}
        checked(http.patch(path, json=patch, headers=headers))
    assert workloads.ready("canary") is False


def test_remove_scales_to_zero_and_keeps_the_deployment(
    release: Release, workloads: DeploymentWorkloads
) -> None:
    workloads.apply(TrackSpec("canary", "0.3.0", 1))
    workloads.wait_ready("canary", 60)
    workloads.remove("canary")
    assert deployment(release, CANARY)["spec"]["replicas"] == 0
    assert workloads.get("canary") is None
    with pytest.raises(RetryableError, match="not running"):
        workloads.wait_ready("canary", 1)
    wait_until(
        lambda: not workloads.api.list(POD, {"version": "canary"}),
        timeout=60,
        what="the canary's pods to be deleted",
    )


def test_a_missing_deployment_names_the_chart_setting(workloads: DeploymentWorkloads) -> None:
    assert workloads.get("blue") is None
    workloads.remove("blue")
    with pytest.raises(PermanentError, match=r"backend-blue not found.*blueGreen.enabled=true"):
        workloads.apply(TrackSpec("blue", "0.3.0", 1))


def test_api_errors_are_typed(
    release: Release, chart_cluster: ChartCluster, workloads: DeploymentWorkloads
) -> None:
    without_role = DeploymentWorkloads(
        KubeApi(release.api_client(f"{release.fullname}-backend"), release.namespace),
        release.fullname,
    )
    with pytest.raises(PermanentError, match=r"get deployment .*canary was refused \(403\)"):
        without_role.apply(TrackSpec("canary", "0.3.0", 1))
    with pytest.raises(PermanentError, match=r"rejected \(422\).*spec.replicas"):
        workloads.apply(TrackSpec("canary", "0.3.0", -1))

    # A conflict (someone scaled the Deployment between our read and our patch) is retried on
    # a fresh read.
    api = workloads.api
    assert isinstance(api, InterleavingApi)
    api.before_next_write = lambda: admin_patch(
        release, "Deployment", CANARY, {"metadata": {"annotations": {"team": "payments"}}}
    )
    workloads.apply(TrackSpec("canary", "0.3.0", 1))
    assert api.writes[-2:] == [("patch", "deployment"), ("patch", "deployment")]
    assert workloads.get("canary") == TrackSpec("canary", "0.3.0", 1)
    assert deployment(release, CANARY)["metadata"]["annotations"]["team"] == "payments"


@pytest.mark.unit
def test_an_unreachable_api_server_is_retryable() -> None:
    from kubernetes import client

    from testsupport.ports import free_port

    configuration = client.Configuration(host=f"http://127.0.0.1:{free_port()}")
    configuration.retries = 0
    workloads = DeploymentWorkloads(KubeApi(client.ApiClient(configuration), "flightdeck"), "fd")
    with pytest.raises(RetryableError, match="unreachable"):
        workloads.get("canary")


@pytest.mark.unit
def test_helpers() -> None:
    assert repository("ghcr.io/x/backend:1.0") == "ghcr.io/x/backend"
    assert repository("localhost:5000/backend") == "localhost:5000/backend"
    assert repository("localhost:5000/backend@sha256:abc") == "localhost:5000/backend"
    assert image_tag_label("1.0@sha256:abc") == "1.0_sha256_abc"
    assert (
        rollout_waiting_for(
            {
                "metadata": {"name": "d", "generation": 2},
                "spec": {"replicas": 2},
                "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2},
            }
        )
        == "deployment d: 1 old replicas are pending termination"
    )
