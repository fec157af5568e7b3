"""Every rendered object validates strictly against the Kubernetes 1.28 schemas (offline)."""

from __future__ import annotations

from collections.abc import Callable

import kubernetes_validate
import pytest

from testsupport.helmchart import SCENARIOS, Rendered, render

pytestmark = pytest.mark.unit

KUBERNETES_VERSION = "1.28.0"
# Custom resources: kubernetes-validate ships only the built-in APIs. Their shape is asserted
# field by field in test_chart_values.py instead (apiVersion/kind checked here).
CRDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("cert-manager.io/v1", "ClusterIssuer"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_objects_validate_strictly_against_kubernetes_1_28(
    scenario: str, rendered: Callable[[str], Rendered]
) -> None:
    objects = rendered(scenario).objects
    checked = 0
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) in CRDS:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{obj['kind']} {obj['metadata']['name']}: {path}: {exc.message}")
        checked += 1
    assert checked > 10


def test_validation_catches_a_wrong_field() -> None:
    """The validator is strict: an unknown field fails (so the test above can fail)."""
    deployment = render("default").get("Deployment", "backend")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_only_known_custom_resources(scenario: str, rendered: Callable[[str], Rendered]) -> None:
    builtin_groups = {"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2"}
    builtin_groups |= {"networking.k8s.io/v1", "rbac.authorization.k8s.io/v1"}
    for obj in rendered(scenario).objects:
        key = (obj["apiVersion"], obj["kind"])
        assert obj["apiVersion"] in builtin_groups or key in CRDS, key
