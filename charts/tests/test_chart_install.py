"""Every ci/ scenario installed for real on the test control plane (testsupport/kubecluster.py).

For each scenario, in its own namespace (Pod Security `restricted` enforced): the Secrets it
references, `helm install --wait` (Deployments and the StatefulSet become Ready through kwok,
PVCs are bound), every object of the release read back from the API server, the backup and
metrics wiring (a Job made from the backup CronJob is admitted and completes, the metrics
Service has the endpoint's pod behind it, the ServiceMonitors select their Services, the API
server's RBAC gives the metrics endpoint ConfigMaps and nothing else), `helm test` (its pod
completes through kwok: no container runs), `helm upgrade --wait` with changed values,
`helm uninstall`. Anything the API server refuses fails the install with its message.
"""

from __future__ import annotations

from typing import Any

import pytest

from testsupport.chartcluster import ChartCluster, checked
from testsupport.helmchart import SCENARIOS
from testsupport.waiting import wait_until

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
    backups_and_metrics_are_wired(chart_cluster, namespace, f"{release}-flightdeck", objects)

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


def backups_and_metrics_are_wired(
    cc: ChartCluster, namespace: str, fullname: str, objects: list[dict[str, Any]]
) -> None:
    api = f"/namespaces/{namespace}"
    with cc.http() as http:
        # A backup run now, as `kubectl create job --from=cronjob/...` makes it: the API server
        # admits its pod (restricted Pod Security), the volumes bind, the Job completes (kwok).
        cronjob = checked(http.get(f"/apis/batch/v1{api}/cronjobs/{fullname}-backup"))
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": f"{fullname}-backup-now",
                # Owned by the CronJob, as kubectl makes it: uninstalling removes it with its
                # pod, which would otherwise hold the metrics volume (PVC protection).
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "CronJob",
                        "name": cronjob["metadata"]["name"],
                        "uid": cronjob["metadata"]["uid"],
                    }
                ],
            },
            "spec": cronjob["spec"]["jobTemplate"]["spec"],
        }
        checked(http.post(f"/apis/batch/v1{api}/jobs", json=job))

        def job_complete() -> bool:
            status = checked(http.get(f"/apis/batch/v1{api}/jobs/{job['metadata']['name']}"))
            return any(
                c["type"] == "Complete" and c["status"] == "True"
                for c in (status.get("status") or {}).get("conditions") or []
            )

        wait_until(job_complete, timeout=60, what="the backup Job to complete")
        claim = checked(http.get(f"/api/v1{api}/persistentvolumeclaims/{fullname}-backup-metrics"))
        assert claim["status"]["phase"] == "Bound", claim["status"]
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]

        # The metrics Service routes to the endpoint's pod (the EndpointSlice controller agrees).
        def endpoint_addresses() -> list[str]:
            slices = checked(
                http.get(
                    f"/apis/discovery.k8s.io/v1{api}/endpointslices",
                    params={"labelSelector": f"kubernetes.io/service-name={fullname}-metrics"},
                )
            )["items"]
            return [
                address
                for piece in slices
                for endpoint in piece.get("endpoints") or []
                if (endpoint.get("conditions") or {}).get("ready")
                for address in endpoint["addresses"]
            ]

        (address,) = wait_until(endpoint_addresses, timeout=30, what="the metrics Service's pod")
        pods = checked(
            http.get(f"/api/v1{api}/pods", params={"fieldSelector": f"status.podIP={address}"})
        )
        assert pods["items"][0]["metadata"]["labels"]["app.kubernetes.io/component"] == "metrics"

        # Each ServiceMonitor selects a Service of the release, on a port that Service has.
        monitors = [o for o in objects if o["kind"] == "ServiceMonitor"]
        for monitor in monitors:
            selector = monitor["spec"]["selector"]["matchLabels"]
            labels = ",".join(f"{key}={value}" for key, value in selector.items())
            services = checked(http.get(f"/api/v1{api}/services", params={"labelSelector": labels}))
            (service,) = services["items"]
            ports = {port["name"] for port in service["spec"]["ports"]}
            assert monitor["spec"]["endpoints"][0]["port"] in ports, (monitor, ports)

        # What the metrics endpoint may do, as the API server's RBAC decides it.
        def allowed(verb: str, resource: str, group: str = "") -> bool:
            review = {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": f"system:serviceaccount:{namespace}:{fullname}-metrics",
                    "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
                    "resourceAttributes": {
                        "namespace": namespace,
                        "verb": verb,
                        "group": group,
                        "resource": resource,
                    },
                },
            }
            answer = checked(
                http.post("/apis/authorization.k8s.io/v1/subjectaccessreviews", json=review)
            )
            return bool(answer["status"].get("allowed"))

        assert allowed("list", "configmaps")
        assert allowed("get", "configmaps")
        assert not allowed("update", "configmaps")
        assert not allowed("get", "secrets")
        assert not allowed("patch", "deployments", "apps")
