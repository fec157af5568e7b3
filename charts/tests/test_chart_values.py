"""The document's numbers are what renders: HPA, resources, probes, volumes, routing, schedule."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml

from testsupport.helmchart import ROOT, Rendered, container, pod_spec, render

pytestmark = pytest.mark.unit

Render = Callable[[str], Rendered]


def test_backend_hpa_resources_and_probes(rendered: Render) -> None:
    r = rendered("default")
    hpa = r.get("HorizontalPodAutoscaler", "backend")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)
    targets = {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]
    }
    assert targets == {"cpu": 70, "memory": 80}
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert hpa["scaleTargetRef"]["name"] == "fd-flightdeck-backend"
    deployment = r.get("Deployment", "backend")
    assert deployment["spec"]["template"]["metadata"]["labels"]["version"] == "stable"
    c = container(deployment, "backend")
    assert c["resources"] == {
        "requests": {"cpu": "200m", "memory": "256Mi"},
        "limits": {"cpu": "1000m", "memory": "512Mi"},
    }
    live, ready, start = c["livenessProbe"], c["readinessProbe"], c["startupProbe"]
    assert (live["httpGet"]["path"], live["periodSeconds"], live["timeoutSeconds"]) == (
        "/health/live",
        30,
        5,
    )
    assert (ready["httpGet"]["path"], ready["periodSeconds"], ready["timeoutSeconds"]) == (
        "/health/ready",
        10,
        3,
    )
    assert (start["httpGet"]["path"], start["periodSeconds"], start["failureThreshold"]) == (
        "/health/startup",
        5,
        30,
    )
    assert c["ports"][0]["containerPort"] == 8000
    env = {e["name"]: e for e in c["env"]}
    assert env["APP_TRACK"]["value"] == "stable"
    assert env["MONGODB_URI"]["value"].startswith("mongodb://$(MONGODB_USERNAME):")
    assert "replicaSet=rs0" in env["MONGODB_URI"]["value"]
    service = r.get("Service", "backend")["spec"]
    assert service["type"] == "ClusterIP"
    assert service["selector"]["version"] == "stable"


def test_frontend_numbers(rendered: Render) -> None:
    r = rendered("default")
    hpa = r.get("HorizontalPodAutoscaler", "frontend")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 8)
    assert {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]
    } == {"cpu": 70, "memory": 80}
    c = container(r.get("Deployment", "frontend"), "frontend")
    assert c["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    }
    assert (c["livenessProbe"]["httpGet"]["path"], c["livenessProbe"]["periodSeconds"]) == ("/", 30)
    assert (c["readinessProbe"]["httpGet"]["path"], c["readinessProbe"]["periodSeconds"]) == (
        "/",
        10,
    )


def test_mongodb_replica_set_volume_and_probes(rendered: Render) -> None:
    sts = rendered("default").get("StatefulSet", "mongodb")
    c = container(sts, "mongodb")
    assert c["image"].split(":")[1].startswith("7.0")
    assert "--replSet=rs0" in c["args"]
    assert c["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "2000m", "memory": "2Gi"},
    }
    assert c["livenessProbe"]["tcpSocket"]["port"] == "mongodb"
    assert c["ports"][0]["containerPort"] == 27017
    assert c["livenessProbe"]["periodSeconds"] == 30
    assert "ping" in " ".join(c["readinessProbe"]["exec"]["command"])
    assert c["readinessProbe"]["periodSeconds"] == 10
    claim = sts["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["accessModes"] == ["ReadWriteOnce"]
    assert claim["resources"]["requests"]["storage"] == "20Gi"


def test_uploads_volume_is_shared_by_every_backend_track(rendered: Render) -> None:
    for scenario in ("default", "canary", "blue-green"):
        r = rendered(scenario)
        pvc = r.get("PersistentVolumeClaim", "uploads")["spec"]
        assert pvc["accessModes"] == ["ReadWriteMany"]
        assert pvc["storageClassName"] == "azurefile"
        assert pvc["resources"]["requests"]["storage"] == "50Gi"
        backends = [
            d
            for d in r.all("Deployment")
            if d["metadata"]["labels"]["app.kubernetes.io/component"] == "backend"
        ]
        assert backends
        for d in backends:
            claims = [
                v["persistentVolumeClaim"]["claimName"]
                for v in pod_spec(d)["volumes"]
                if "persistentVolumeClaim" in v
            ]
            assert claims == ["fd-flightdeck-uploads"]


def test_canary_track_service_and_ingress(rendered: Render) -> None:
    assert "fd-flightdeck-backend-canary" not in rendered("default").names("Deployment")
    r = rendered("canary")
    canary = r.get("Deployment", "backend-canary")
    assert canary["spec"]["replicas"] == 1
    assert canary["spec"]["template"]["metadata"]["labels"]["version"] == "canary"
    assert container(canary, "backend")["image"].endswith(":0.2.0")
    assert r.get("Service", "backend-canary")["spec"]["selector"]["version"] == "canary"
    ann = r.get("Ingress", "canary")["metadata"]["annotations"]
    assert ann["nginx.ingress.kubernetes.io/canary"] == "true"
    assert ann["nginx.ingress.kubernetes.io/canary-weight"] == "10"
    assert ann["nginx.ingress.kubernetes.io/canary-by-header"] == "X-Canary"
    assert ann["nginx.ingress.kubernetes.io/canary-by-cookie"] == "canary"
    stable = r.get("Ingress", "")
    assert (
        stable["spec"]["rules"][0]["host"] == r.get("Ingress", "canary")["spec"]["rules"][0]["host"]
    )


def test_stable_ingress_tls_redirect_and_rate_limits(rendered: Render) -> None:
    ingress = rendered("default").get("Ingress", "")
    ann = ingress["metadata"]["annotations"]
    assert ann["cert-manager.io/cluster-issuer"] == "fd-flightdeck-letsencrypt-production"
    assert ann["nginx.ingress.kubernetes.io/force-ssl-redirect"] == "true"
    assert ann["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"
    assert int(ann["nginx.ingress.kubernetes.io/limit-rps"]) > 0
    assert int(ann["nginx.ingress.kubernetes.io/limit-connections"]) > 0
    assert ingress["spec"]["tls"][0]["secretName"] == "fd-flightdeck-tls"
    issuers = rendered("default").all("ClusterIssuer")
    servers = sorted(i["spec"]["acme"]["server"] for i in issuers)
    assert servers == [
        "https://acme-staging-v02.api.letsencrypt.org/directory",
        "https://acme-v02.api.letsencrypt.org/directory",
    ]


def test_blue_green_selector_follows_active_color(rendered: Render) -> None:
    r = rendered("blue-green")
    assert r.names("Deployment") == [
        "fd-flightdeck-backend-blue",
        "fd-flightdeck-backend-green",
        "fd-flightdeck-frontend",
        "fd-flightdeck-metrics",
    ]
    assert r.get("Service", "backend")["spec"]["selector"]["version"] == "green"
    assert r.get("Service", "backend-preview")["spec"]["selector"]["version"] == "blue"
    assert r.get("HorizontalPodAutoscaler", "backend")["spec"]["scaleTargetRef"]["name"] == (
        "fd-flightdeck-backend-green"
    )
    switched = render("blue-green", "--set", "blueGreen.activeColor=blue")
    assert switched.get("Service", "backend")["spec"]["selector"]["version"] == "blue"
    green = container(r.get("Deployment", "backend-green"), "backend")
    assert green["image"] == "ghcr.io/flightdeck/backend:0.2.0"


def test_gateway_api_weights_and_header_match(rendered: Render) -> None:
    r = rendered("gateway-api")
    assert not r.all("Ingress")
    route = r.get("HTTPRoute", "")
    assert route["spec"]["parentRefs"][0]["name"] == "public"
    weighted = [rule for rule in route["spec"]["rules"] if len(rule["backendRefs"]) == 2]
    assert weighted
    for rule in weighted:
        weights = {b["name"]: b["weight"] for b in rule["backendRefs"]}
        assert weights == {"fd-flightdeck-backend": 75, "fd-flightdeck-backend-canary": 25}
    header_rules = [rule for rule in route["spec"]["rules"] if "headers" in rule["matches"][0]]
    assert header_rules
    assert header_rules[0]["matches"][0]["headers"][0] == {
        "type": "Exact",
        "name": "X-Canary",
        "value": "always",
    }
    redirect = r.get("HTTPRoute", "https-redirect")["spec"]["rules"][0]["filters"][0]
    assert redirect["requestRedirect"]["scheme"] == "https"


def test_backup_cronjob_every_six_hours_with_secrets(rendered: Render) -> None:
    job = rendered("default").get("CronJob", "backup")
    assert job["spec"]["schedule"] == "0 */6 * * *"
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    c = container(job, "backup")
    # run, verify (the Azure copy: the local one is on the pod's scratch volume), prune
    assert c["args"] == ["backup", "cycle", "--verify-from", "azure", "--json"]
    assert c["image"].startswith("ghcr.io/flightdeck/flightdeck:")
    secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in c["env"] if "valueFrom" in e}
    assert secrets == {"flightdeck-backup", "flightdeck-mongodb"}


def test_backup_metrics_reach_the_metrics_endpoint(rendered: Render) -> None:
    """The CronJob writes backup.prom to a volume the metrics endpoint serves; the endpoint reads
    the rollout ConfigMaps with a Role that can do nothing else; a ServiceMonitor scrapes it as
    job "flightdeck" (the job of the local platform, so the same rules apply)."""
    r = rendered("default")
    job, endpoint = r.get("CronJob", "backup"), r.get("Deployment", "metrics")
    job_env = {e["name"]: e.get("value") for e in container(job, "backup")["env"]}
    job_mounts = {m["name"]: m["mountPath"] for m in container(job, "backup")["volumeMounts"]}
    job_volumes = {v["name"]: v for v in pod_spec(job)["volumes"]}
    written_to = next(
        n for n, path in job_mounts.items() if path == job_env["FLIGHTDECK_BACKUP_METRICS_DIR"]
    )
    claim = job_volumes[written_to]["persistentVolumeClaim"]["claimName"]
    assert claim == "fd-flightdeck-backup-metrics"
    pvc = r.get("PersistentVolumeClaim", "backup-metrics")["spec"]
    assert pvc["accessModes"] == ["ReadWriteMany"]
    assert pvc["storageClassName"] == "azurefile"

    served = container(endpoint, "metrics")
    assert served["args"][:3] == ["metrics", "serve", "--target=kubernetes"]
    served_dir = next(a.split("=", 1)[1] for a in served["args"] if a.startswith("--dir="))
    (mount,) = [m for m in served["volumeMounts"] if m["mountPath"] == served_dir]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod_spec(endpoint)["volumes"] if v["name"] == mount["name"]]
    assert volume["persistentVolumeClaim"]["claimName"] == claim
    env = {e["name"]: e for e in served["env"]}
    assert env["FLIGHTDECK_FULLNAME"]["value"] == "fd-flightdeck"
    assert env["FLIGHTDECK_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    port = served["ports"][0]
    assert served["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}

    assert pod_spec(endpoint)["serviceAccountName"] == "fd-flightdeck-metrics"
    assert r.get("Role", "metrics")["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}
    ]
    binding = r.get("RoleBinding", "metrics")
    assert binding["subjects"][0]["name"] == "fd-flightdeck-metrics"

    service = r.get("Service", "metrics")
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    assert service["metadata"]["labels"]["flightdeck.io/job"] == "flightdeck"
    for key, value in service["spec"]["selector"].items():
        assert endpoint["spec"]["template"]["metadata"]["labels"][key] == value
    monitor = r.get("ServiceMonitor", "flightdeck")["spec"]
    assert monitor["jobLabel"] == "flightdeck.io/job"
    assert monitor["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    for key, value in monitor["selector"]["matchLabels"].items():
        assert service["metadata"]["labels"][key] == value


def test_without_the_endpoint_or_backups() -> None:
    off = render("default", "--set", "metricsEndpoint.enabled=false")
    assert off.names("PersistentVolumeClaim") == ["fd-flightdeck-uploads"]
    assert "fd-flightdeck-metrics" not in off.names("Deployment")
    assert "fd-flightdeck-flightdeck" not in off.names("ServiceMonitor")
    job_env = {
        e["name"]: e["value"]
        for e in container(off.get("CronJob", "backup"), "backup")["env"]
        if "value" in e
    }
    assert job_env["FLIGHTDECK_BACKUP_METRICS_DIR"] == "/scratch/metrics"
    no_backups = render("default", "--set", "backup.enabled=false")
    endpoint = container(no_backups.get("Deployment", "metrics"), "metrics")
    assert not [a for a in endpoint["args"] if a.startswith("--dir")]
    assert "fd-flightdeck-backup-metrics" not in no_backups.names("PersistentVolumeClaim")


def test_external_mongodb(rendered: Render) -> None:
    r = rendered("external-mongodb")
    assert not r.all("StatefulSet")
    env = {e["name"]: e for e in container(r.get("Deployment", "backend"), "backend")["env"]}
    assert env["MONGODB_URI"]["valueFrom"]["secretKeyRef"] == {
        "name": "flightdeck-external-mongodb",
        "key": "mongodb-uri",
    }


def test_every_pod_is_hardened(rendered: Render) -> None:
    for scenario in ("default", "canary", "blue-green"):
        for obj in rendered(scenario).objects:
            if obj["kind"] not in {"Deployment", "StatefulSet", "CronJob", "Pod"}:
                continue
            pod = pod_spec(obj)
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
            for c in pod["containers"] + pod.get("initContainers", []):
                sc = c["securityContext"]
                assert sc["readOnlyRootFilesystem"] is True, c["name"]
                assert sc["allowPrivilegeEscalation"] is False, c["name"]
                assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
                assert "resources" in c, c["name"]
            if obj["kind"] != "Pod":
                sa = pod["serviceAccountName"]
                # Only the metrics endpoint calls the API (it reads the rollout ConfigMaps).
                calls_the_api = sa == "fd-flightdeck-metrics"
                assert pod["automountServiceAccountToken"] is calls_the_api, sa


def test_standard_labels_everywhere(rendered: Render) -> None:
    for obj in rendered("canary").objects:
        labels = obj["metadata"]["labels"]
        for key in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/managed-by",
            "helm.sh/chart",
        ):
            assert key in labels, (obj["kind"], obj["metadata"]["name"], key)


def test_rbac_is_namespaced_and_has_no_secrets(rendered: Render) -> None:
    r = rendered("default")
    assert not [o for o in r.objects if o["kind"] in {"ClusterRole", "ClusterRoleBinding"}]
    rules = r.get("Role", "flightdeck")["rules"]
    assert all("secrets" not in rule["resources"] for rule in rules)
    assert all("*" not in rule["verbs"] and "delete" not in rule["verbs"] for rule in rules)
    binding = r.get("RoleBinding", "flightdeck")
    assert binding["subjects"][0]["name"] == "fd-flightdeck-flightdeck"
    assert r.names("Role") == ["fd-flightdeck-flightdeck", "fd-flightdeck-metrics"]


def test_network_policies_default_deny_and_flows(rendered: Render) -> None:
    r = rendered("default")
    deny = r.get("NetworkPolicy", "default-deny")["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny
    mongo = r.get("NetworkPolicy", "mongodb")["spec"]
    sources = {
        p["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for p in mongo["ingress"][0]["from"]
    }
    assert sources == {"backend", "backup", "mongodb"}
    backend_egress = r.get("NetworkPolicy", "backend")["spec"]["egress"]
    assert backend_egress[0]["ports"] == [{"port": 27017, "protocol": "TCP"}]
    metrics = r.get("NetworkPolicy", "metrics")["spec"]
    assert metrics["ingress"][0]["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    assert metrics["ingress"][0]["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert {p["port"] for p in metrics["egress"][0]["ports"]} == {443, 6443}


def test_namespace_with_pod_security_labels() -> None:
    r = render("default", "--set", "namespace.create=true", "--set", "namespace.name=prod")
    labels = r.all("Namespace")[0]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {
        o["metadata"].get("namespace")
        for o in r.objects
        if o["kind"] not in {"Namespace", "ClusterIssuer"}
    } == {"prod"}


def test_pdbs_and_helm_test_hook(rendered: Render) -> None:
    r = rendered("default")
    assert r.get("PodDisruptionBudget", "backend")["spec"]["minAvailable"] == 1
    assert r.get("PodDisruptionBudget", "frontend")["spec"]["minAvailable"] == 1
    test_pod = r.get("Pod", "test-connection")
    assert test_pod["metadata"]["annotations"]["helm.sh/hook"] == "test"


def test_values_have_a_comment_each() -> None:
    """Helm best practice: every value is documented by a comment above it, or above the small
    map it belongs to (requests: {cpu, memory} share one comment)."""
    text = (ROOT / "charts/flightdeck/values.yaml").read_text()
    lines = text.splitlines()

    def indent(line: str) -> int:
        return len(line) - len(line.lstrip())

    undocumented = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "-")) or ":" not in stripped:
            continue
        key, _, value = stripped.partition(":")
        follows_list = i + 1 < len(lines) and lines[i + 1].strip().startswith("-")
        if not value.strip() and not follows_list:
            continue  # a map: its leaves are checked
        j = i - 1
        while j >= 0 and indent(lines[j]) == indent(line) and not lines[j].strip().startswith("#"):
            j -= 1  # siblings documented together
        documented = lines[j].strip().startswith("#") or (
            indent(lines[j]) < indent(line) and lines[j - 1].strip().startswith("#")
        )
        if not documented:
            undocumented.append(key)
    assert not undocumented, undocumented
    assert yaml.safe_load(text)
