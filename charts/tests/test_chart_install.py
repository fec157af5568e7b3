"""Every ci/ scenario installed for real on the test control plane (testsupport/kubecluster.py).

For each scenario, in its own namespace (Pod Security `restricted` enforced): the Secrets it
references, `helm install --wait` (Deployments and the StatefulSet become Ready through kwok,
PVCs are bound), every object of the release read back from the API server, `helm test` (its
pod completes through kwok: no container runs), `helm upgrade --wait` with changed values,
`helm uninstall`. Anything the API server refuses fails the install with its message.
"""

from __future__ import annotations

from typing import Any

import pytest

from testsupport.chartcluster import ChartCluster
from testsupport.helmchart import SCENARIOS

pytestmark = pytest.mark.integration

WORKLOADS = ("Deployment", "StatefulSet")


def ready(workload: dict[str, Any]) -> bool:
    """Rolled out as `helm --wait` and `kubectl rollout status` understand it."""
    spec, status = workload["spec"], workload.get("status") or {}
    wanted = spec.get("replicas", 1)
    return bool(
        status.get("observedGeneration", 0) >= workload["metadata"]["generation"]
        and status.get("readyReplicas", 0) == wanted
        and status.get("updatedReplicas", 0) == wanted
    )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_install_test_upgrade_uninstall(chart_cluster: ChartCluster, scenario: str) -> None:
    namespace, release = f"chart-{scenario}", f"fd-{scenario}"
    chart_cluster.install(release, namespace, scenario)

    objects = chart_cluster.manifest(release, namespace)
    kinds = {obj["kind"] for obj in objects}
    assert {"Deployment", "Service", "NetworkPolicy", "CronJob"} <= kinds, kinds
    for obj in objects:
        live = chart_cluster.get(chart_cluster.path(obj, namespace))
        assert live is not None, f"{obj['kind']} {obj['metadata']['name']} is not on the server"
        if obj["kind"] in WORKLOADS:
            assert ready(live), f"{obj['kind']} {obj['metadata']['name']}: {live.get('status')}"
    # The optional objects render when the cluster serves their API: it has their CRDs.
    if scenario != "monitoring-off":
        assert {"ServiceMonitor", "PrometheusRule"} <= kinds, kinds
    if scenario == "gateway-api":
        assert "HTTPRoute" in kinds
    assert "ClusterIssuer" in kinds

    tested = chart_cluster.helm_ok(namespace, "test", release, "-n", namespace, "--timeout", "2m")
    assert "Phase:          Succeeded" in tested.stdout, tested.stdout

    chart_cluster.upgrade(release, namespace, scenario, "--set", "commonLabels.upgraded=yes")
    status = chart_cluster.helm_ok(namespace, "status", release, "-n", namespace)
    assert "REVISION: 2" in status.stdout, status.stdout
    assert "STATUS: deployed" in status.stdout, status.stdout
    for obj in chart_cluster.manifest(release, namespace):
        live = chart_cluster.get(chart_cluster.path(obj, namespace))
        assert live is not None, f"{obj['kind']} {obj['metadata']['name']} gone after upgrade"
        labels = live["metadata"].get("labels") or {}
        assert labels.get("upgraded") == "yes", f"{obj['kind']} {obj['metadata']['name']}"
        if obj["kind"] in WORKLOADS:
            assert ready(live), f"{obj['kind']} {obj['metadata']['name']}: {live.get('status')}"

    chart_cluster.helm_ok(namespace, "uninstall", release, "-n", namespace, "--wait")
    for obj in objects:
        kept = (obj["metadata"].get("annotations") or {}).get("helm.sh/resource-policy")
        live = chart_cluster.get(chart_cluster.path(obj, namespace))
        if kept == "keep":
            assert live is not None, f"{obj['kind']} {obj['metadata']['name']} was not kept"
        else:
            assert live is None, f"{obj['kind']} {obj['metadata']['name']} left after uninstall"
