"""The fake API server answers like Kubernetes, or the other kubernetes tests prove nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flightdeck.core.errors import PermanentError, RetryableError
from flightdeck.kubernetes.api import DEPLOYMENT, POD, ConflictError, KubeApi
from testsupport.fake_kubernetes import FakeKubernetes

pytestmark = pytest.mark.integration

DEPLOY = {
    "kind": "Deployment",
    "metadata": {"name": "web", "annotations": {"a": "1", "b": "2"}},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "web:1"}]},
        },
    },
}


@pytest.fixture
def api() -> Iterator[tuple[FakeKubernetes, KubeApi]]:
    with FakeKubernetes() as fake:
        fake.add(DEPLOY)
        yield fake, KubeApi(fake.api_client(), "default")


def test_resource_version_and_generation(api: tuple[FakeKubernetes, KubeApi]) -> None:
    _, kube = api
    first = kube.get(DEPLOYMENT, "web")
    assert first is not None
    assert first["spec"]["replicas"] == 1  # defaulted
    annotated = kube.patch(DEPLOYMENT, "web", {"metadata": {"annotations": {"c": "3"}}})
    assert int(annotated["metadata"]["resourceVersion"]) > int(first["metadata"]["resourceVersion"])
    assert annotated["metadata"]["generation"] == first["metadata"]["generation"]
    scaled = kube.patch(DEPLOYMENT, "web", {"spec": {"replicas": 3}})
    assert scaled["metadata"]["generation"] == first["metadata"]["generation"] + 1


def test_merge_patch_semantics(api: tuple[FakeKubernetes, KubeApi]) -> None:
    _, kube = api
    patched = kube.patch(DEPLOYMENT, "web", {"metadata": {"annotations": {"a": None, "b": "9"}}})
    assert patched["metadata"]["annotations"] == {"b": "9"}
    containers = [{"name": "web", "image": "web:2"}, {"name": "sidecar", "image": "s:1"}]
    patched = kube.patch(
        DEPLOYMENT, "web", {"spec": {"template": {"spec": {"containers": containers}}}}
    )
    assert patched["spec"]["template"]["spec"]["containers"] == containers  # lists are replaced


def test_stale_resource_versions_conflict(api: tuple[FakeKubernetes, KubeApi]) -> None:
    _, kube = api
    stale = kube.get(DEPLOYMENT, "web")
    assert stale is not None
    kube.patch(DEPLOYMENT, "web", {"spec": {"replicas": 2}})
    with pytest.raises(ConflictError, match="has been modified"):
        kube.patch(
            DEPLOYMENT,
            "web",
            {"metadata": {"resourceVersion": stale["metadata"]["resourceVersion"]}},
        )
    with pytest.raises(ConflictError, match="has been modified"):
        kube.replace(DEPLOYMENT, stale)
    with pytest.raises(ConflictError, match="already exists"):
        kube.create(DEPLOYMENT, {"metadata": {"name": "web"}, "spec": DEPLOY["spec"]})


def test_writes_keep_status_apart_and_validate(api: tuple[FakeKubernetes, KubeApi]) -> None:
    fake, kube = api
    fake.mark_rolled_out("web")
    patched = kube.patch(DEPLOYMENT, "web", {"status": {"replicas": 99}, "spec": {"replicas": 2}})
    assert patched["status"]["replicas"] == 1, "status only changes through the subresource"
    with pytest.raises(PermanentError, match=r"rejected \(422\).*must be a string"):
        kube.patch(DEPLOYMENT, "web", {"metadata": {"labels": {"n": 1}}})
    with pytest.raises(PermanentError, match=r"^deployment nope not found: hint$"):
        kube.patch(DEPLOYMENT, "nope", {}, hint="hint")


def test_pods_are_listed_by_label_selector(api: tuple[FakeKubernetes, KubeApi]) -> None:
    fake, kube = api
    kube.patch(DEPLOYMENT, "web", {"spec": {"replicas": 2}})
    fake.mark_rolled_out("web")
    assert len(kube.list(POD, {"app": "web"})) == 2
    assert kube.list(POD, {"app": "other"}) == []


def test_only_merge_patches_are_understood(api: tuple[FakeKubernetes, KubeApi]) -> None:
    fake, kube = api
    kube.api_client.configuration.retries = 0
    with pytest.raises(PermanentError, match="415"):
        kube._request(
            "patch",
            "PATCH",
            DEPLOYMENT,
            "web",
            "deployment web",
            body={},
            content_type="application/strategic-merge-patch+json",
        )
    fake.fail_next("GET", "/deployments/web", 429)
    with pytest.raises(RetryableError, match="429"):
        kube.get(DEPLOYMENT, "web")
