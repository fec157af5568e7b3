"""`--target kubernetes`: settings, the kubeconfig connection, and the same engine end to end.

The controller drives the chart installed on the real control plane through the official client
loaded from a kubeconfig of the chart's flightdeck ServiceAccount, exactly as a CI job would.
tests/kubernetes/test_rollouts_on_cluster.py runs whole rollouts through the command line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flightdeck.core.errors import ConfigError
from flightdeck.engines import rollout_target
from flightdeck.kubernetes.settings import load_kubernetes_settings
from flightdeck.rollout.controller import Controller
from flightdeck.rollout.spec import RolloutSpec
from flightdeck.routers import Routing
from testsupport.chartcluster import Release

pytestmark = pytest.mark.integration

CANARY = "fd-flightdeck-backend-canary"
VARIABLES = (
    "NAMESPACE", "RELEASE", "PROMETHEUS_URL", "INGRESS_URL", "ROUTER", "FULLNAME",
    "HISTORY", "HISTORY_MONGODB_URI", "HISTORY_DATABASE", "HISTORY_FILE",
)  # fmt: skip


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in VARIABLES:
        monkeypatch.delenv(f"FLIGHTDECK_{name}", raising=False)
    return monkeypatch


@pytest.mark.unit
def test_missing_settings_name_the_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FLIGHTDECK_RELEASE", "fd")
    with pytest.raises(ConfigError) as caught:
        load_kubernetes_settings()
    message = str(caught.value)
    for name in ("FLIGHTDECK_NAMESPACE", "FLIGHTDECK_PROMETHEUS_URL", "FLIGHTDECK_INGRESS_URL"):
        assert f"{name}: is not set" in message
    assert "FLIGHTDECK_RELEASE" not in message


@pytest.mark.unit
def test_a_bad_router_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in {
        "NAMESPACE": "prod",
        "RELEASE": "fd",
        "PROMETHEUS_URL": "http://prometheus:9090",
        "INGRESS_URL": "https://app.example.com",
        "ROUTER": "traefik",
    }.items():
        clean_env.setenv(f"FLIGHTDECK_{name}", value)
    with pytest.raises(ConfigError, match="FLIGHTDECK_ROUTER: Input should be 'ingress-nginx'"):
        load_kubernetes_settings()


@pytest.mark.unit
@pytest.mark.parametrize(
    ("release", "override", "expected"),
    [("fd", None, "fd-flightdeck"), ("flightdeck-prod", None, "flightdeck-prod"), ("x", "y", "y")],
)
def test_the_fullname_follows_the_chart(
    clean_env: pytest.MonkeyPatch, release: str, override: str | None, expected: str
) -> None:
    clean_env.setenv("FLIGHTDECK_NAMESPACE", "prod")
    clean_env.setenv("FLIGHTDECK_RELEASE", release)
    clean_env.setenv("FLIGHTDECK_PROMETHEUS_URL", "http://prometheus:9090")
    clean_env.setenv("FLIGHTDECK_INGRESS_URL", "https://app.example.com")
    if override:
        clean_env.setenv("FLIGHTDECK_FULLNAME", override)
    assert load_kubernetes_settings().chart_fullname == expected


@pytest.mark.unit
def test_without_a_kubeconfig_the_error_says_so(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean_env.setenv("FLIGHTDECK_NAMESPACE", "prod")
    clean_env.setenv("FLIGHTDECK_RELEASE", "fd")
    clean_env.setenv("FLIGHTDECK_PROMETHEUS_URL", "http://prometheus:9090")
    clean_env.setenv("FLIGHTDECK_INGRESS_URL", "https://app.example.com")
    clean_env.setenv("KUBECONFIG", str(tmp_path / "missing"))
    clean_env.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match="no Kubernetes connection"):
        rollout_target("kubernetes", None)


@pytest.fixture
def cluster(chart_deployments: Release, clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Release:
    clean_env.setenv(
        "KUBECONFIG", str(chart_deployments.kubeconfig(chart_deployments.flightdeck_account))
    )
    clean_env.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    for name, value in {
        "NAMESPACE": chart_deployments.namespace,
        "RELEASE": "fd",
        "PROMETHEUS_URL": "http://127.0.0.1:9",  # never queried: no analysis window ends
        "INGRESS_URL": "https://127.0.0.1:9",
        "INCIDENTS_FILE": str(tmp_path / "incidents.jsonl"),
        "LEASE_SECONDS": "15",
        "HISTORY": "jsonl",
        "HISTORY_FILE": str(tmp_path / "history.jsonl"),
    }.items():
        clean_env.setenv(f"FLIGHTDECK_{name}", value)
    chart_deployments.restore("Ingress", "fd-flightdeck-canary")
    chart_deployments.delete_all("/api/v1/configmaps", "app.kubernetes.io/managed-by=flightdeck")
    return chart_deployments


def test_the_engine_drives_the_chart_objects(cluster: Release, tmp_path: Path) -> None:
    spec = RolloutSpec.model_validate(
        {"analysis": {"judge": "threshold"}, "smoke_tests": {"enabled": False}}
    )
    target = rollout_target("kubernetes", None)
    controller = Controller(target)

    controller.start(spec, "0.9.0", {"FAULT_LATENCY_MS": "5"})
    record = controller.tick("backend")
    assert record.phase == "Progressing", record.events
    assert record.weight == 10
    assert target.router.current() == Routing(canary_active=True, canary_weight=10)
    ingress = cluster.live("Ingress", "fd-flightdeck-canary")
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "10"
    canary = cluster.live("Deployment", CANARY)
    assert canary["spec"]["replicas"] == 1
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.9.0")
    assert canary["status"]["readyReplicas"] == 1, "rolled out before the weight moved"

    with cluster.cc.http() as http:
        objects = f"/namespaces/{cluster.namespace}"
        configmap = http.get(f"/api/v1{objects}/configmaps/fd-flightdeck-rollout-backend").json()
        lease = http.get(
            f"/apis/coordination.k8s.io/v1{objects}/leases/fd-flightdeck-rollout-backend"
        ).json()
    assert json.loads(configmap["data"]["record.json"])["phase"] == "Progressing"
    assert "holderIdentity" not in lease["spec"], "the lease is released after the tick"

    controller.request("backend", "abort")
    record = controller.tick("backend")
    assert record.phase == "Aborted"
    assert target.router.current() == Routing()
    assert cluster.live("Deployment", CANARY)["spec"]["replicas"] == 0
    assert "canary removed; stable healthy" in [event.message for event in record.events]
    incidents = (tmp_path / "incidents.jsonl").read_text().splitlines()
    assert len(incidents) == 1
    assert "0.9.0 aborted" in incidents[0]
    history = [json.loads(line) for line in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [entry["kind"] for entry in history] == [
        "rollout.started",
        "rollout.traffic",
        "rollback.decided",
        "rollback.restored",
        "rollout.finished",
    ]
    assert history[2]["decision"] == "abort"


def test_the_history_needs_its_database_unless_a_file_is_chosen(
    cluster: Release, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLIGHTDECK_HISTORY")
    with pytest.raises(ConfigError, match="FLIGHTDECK_HISTORY_MONGODB_URI is not set"):
        rollout_target("kubernetes", None)
    monkeypatch.setenv("FLIGHTDECK_HISTORY", "sqlite")
    with pytest.raises(ConfigError, match="FLIGHTDECK_HISTORY: Input should be 'mongodb'"):
        rollout_target("kubernetes", None)
