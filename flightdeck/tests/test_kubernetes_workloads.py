"""DeploymentWorkloads on the chart's Deployments in the fake API server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from flightdeck.core.errors import PermanentError, RetryableError
from flightdeck.kubernetes.api import KubeApi
from flightdeck.workloads import TrackSpec
from flightdeck.workloads.deployments import (
    DeploymentWorkloads,
    image_tag_label,
    repository,
    rollout_waiting_for,
)
from testsupport.fake_kubernetes import FakeKubernetes
from testsupport.helmchart import NAMESPACE, container, render

pytestmark = pytest.mark.integration

CANARY = "fd-flightdeck-backend-canary"
STABLE = "fd-flightdeck-backend"


@pytest.fixture(scope="module")
def chart() -> list[dict[str, Any]]:
    return render("canary").objects


@pytest.fixture
def fake(chart: list[dict[str, Any]]) -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as server:
        server.install(chart, NAMESPACE)
        yield server


@pytest.fixture
def workloads(fake: FakeKubernetes) -> DeploymentWorkloads:
    return DeploymentWorkloads(KubeApi(fake.api_client(), NAMESPACE), "fd-flightdeck", 0.05)


def deployment(fake: FakeKubernetes, name: str) -> dict[str, Any]:
    found = fake.get("Deployment", name, NAMESPACE)
    assert found is not None
    return found


def env_of(obj: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value") for item in container(obj, "backend")["env"]}


def test_apply_re_images_and_scales_the_chart_deployment(
    fake: FakeKubernetes, workloads: DeploymentWorkloads
) -> None:
    before = deployment(fake, CANARY)
    workloads.apply(TrackSpec("canary", "0.3.0", 2, {"FAULT_ERROR_RATE": "0.2"}))
    after = deployment(fake, CANARY)
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


def test_the_next_apply_takes_the_previous_overrides_away(
    fake: FakeKubernetes, workloads: DeploymentWorkloads
) -> None:
    chart_limit = env_of(deployment(fake, CANARY))["MAX_UPLOAD_BYTES"]
    workloads.apply(
        TrackSpec("canary", "0.3.0", 1, {"FAULT_ERROR_RATE": "0.2", "MAX_UPLOAD_BYTES": "1"})
    )
    assert env_of(deployment(fake, CANARY))["MAX_UPLOAD_BYTES"] == "1"
    workloads.apply(TrackSpec("canary", "0.4.0", 1))
    env = env_of(deployment(fake, CANARY))
    assert "FAULT_ERROR_RATE" not in env
    assert env["MAX_UPLOAD_BYTES"] == chart_limit
    assert [item["name"] for item in container(deployment(fake, CANARY), "backend")["env"]].count(
        "MAX_UPLOAD_BYTES"
    ) == 1


def test_an_autoscaled_deployment_keeps_the_hpa_replicas(
    fake: FakeKubernetes, workloads: DeploymentWorkloads
) -> None:
    fake.update("Deployment", STABLE, {"spec": {"replicas": 4}}, NAMESPACE)
    workloads.apply(TrackSpec("stable", "0.3.0", 2))
    stable = deployment(fake, STABLE)
    assert stable["spec"]["replicas"] == 4
    assert container(stable, "backend")["image"].endswith(":0.3.0")


def test_wait_ready_waits_for_the_rollout(
    fake: FakeKubernetes, workloads: DeploymentWorkloads
) -> None:
    workloads.apply(TrackSpec("canary", "0.3.0", 1))
    assert workloads.ready("canary") is False
    timer = threading.Timer(0.5, fake.mark_rolled_out, args=(CANARY, NAMESPACE))
    timer.start()
    started = time.monotonic()
    workloads.wait_ready("canary", 10)
    assert time.monotonic() - started >= 0.4
    assert workloads.ready("canary") is True


def test_wait_ready_times_out_with_the_reason(
    fake: FakeKubernetes, workloads: DeploymentWorkloads
) -> None:
    fake.mark_rolled_out(CANARY, NAMESPACE)
    workloads.apply(TrackSpec("canary", "0.3.0", 1))
    with pytest.raises(RetryableError, match="observe the new spec"):
        workloads.wait_ready("canary", 0.3)


def test_a_progress_deadline_is_permanent(
    fake: FakeKubernetes, workloads: DeploymentWorkloads
) -> None:
    workloads.apply(TrackSpec("canary", "0.3.0", 1))
    generation = deployment(fake, CANARY)["metadata"]["generation"]
    fake.update(
        "Deployment",
        CANARY,
        {
            "status": {
                "observedGeneration": generation,
                "conditions": [
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": "ReplicaSet has timed out progressing.",
                    }
                ],
            }
        },
        NAMESPACE,
    )
    with pytest.raises(PermanentError, match=r"progress deadline.*timed out"):
        workloads.wait_ready("canary", 5)


def test_a_restarted_canary_is_not_ready(
    fake: FakeKubernetes, workloads: DeploymentWorkloads
) -> None:
    workloads.apply(TrackSpec("canary", "0.3.0", 1))
    fake.mark_rolled_out(CANARY, NAMESPACE)
    assert workloads.ready("canary") is True
    assert fake.restart_pods(CANARY, NAMESPACE) == 1
    assert workloads.ready("canary") is False


def test_remove_scales_to_zero_and_keeps_the_deployment(
    fake: FakeKubernetes, workloads: DeploymentWorkloads
) -> None:
    workloads.remove("canary")
    assert deployment(fake, CANARY)["spec"]["replicas"] == 0
    assert workloads.get("canary") is None
    with pytest.raises(RetryableError, match="not running"):
        workloads.wait_ready("canary", 1)


def test_a_missing_deployment_names_the_chart_setting(workloads: DeploymentWorkloads) -> None:
    assert workloads.get("blue") is None
    workloads.remove("blue")
    with pytest.raises(PermanentError, match=r"backend-blue not found.*blueGreen.enabled=true"):
        workloads.apply(TrackSpec("blue", "0.3.0", 1))


def test_api_errors_are_typed(fake: FakeKubernetes, workloads: DeploymentWorkloads) -> None:
    fake.fail_next("PATCH", "/deployments/", 403)
    with pytest.raises(PermanentError, match=r"patch deployment .*canary was refused \(403\)"):
        workloads.apply(TrackSpec("canary", "0.3.0", 1))
    fake.fail_next("PATCH", "/deployments/", 422)
    with pytest.raises(PermanentError, match=r"rejected \(422\)"):
        workloads.apply(TrackSpec("canary", "0.3.0", 1))
    fake.fail_next("GET", "/deployments/", 500)
    with pytest.raises(RetryableError, match="500"):
        workloads.get("canary")
    fake.fail_next("PATCH", "/deployments/", 409)
    workloads.apply(TrackSpec("canary", "0.3.0", 1))  # a conflict is retried on a fresh read
    assert workloads.get("canary") == TrackSpec("canary", "0.3.0", 1)


def test_an_unreachable_api_server_is_retryable() -> None:
    from kubernetes import client

    from testsupport.ports import free_port

    configuration = client.Configuration(host=f"http://127.0.0.1:{free_port()}")
    configuration.retries = 0
    workloads = DeploymentWorkloads(KubeApi(client.ApiClient(configuration), NAMESPACE), "fd")
    with pytest.raises(RetryableError, match="unreachable"):
        workloads.get("canary")


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
