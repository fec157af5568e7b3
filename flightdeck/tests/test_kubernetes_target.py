"""`--target kubernetes`: settings, the kubeconfig connection, and the same engine end to end.

The controller drives the chart's objects (helm template of the canary scenario) in the fake API
server through the official client loaded from a kubeconfig, exactly as against a cluster.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from flightdeck.core.errors import ConfigError
from flightdeck.engines import rollout_target
from flightdeck.kubernetes.settings import load_kubernetes_settings
from flightdeck.rollout.controller import Controller
from flightdeck.rollout.spec import RolloutSpec
from flightdeck.routers import Routing
from testsupport.fake_kubernetes import FakeKubernetes
from testsupport.helmchart import NAMESPACE, render

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


def test_missing_settings_name_the_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("FLIGHTDECK_RELEASE", "fd")
    with pytest.raises(ConfigError) as caught:
        load_kubernetes_settings()
    message = str(caught.value)
    for name in ("FLIGHTDECK_NAMESPACE", "FLIGHTDECK_PROMETHEUS_URL", "FLIGHTDECK_INGRESS_URL"):
        assert f"{name}: is not set" in message
    assert "FLIGHTDECK_RELEASE" not in message


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
def cluster(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as fake:
        fake.auto_rollout = True  # the installed release is rolled out
        fake.install(render("canary").objects, NAMESPACE)
        fake.update("Deployment", CANARY, {"spec": {"replicas": 0}}, NAMESPACE)
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": fake.url}}],
            "users": [{"name": "flightdeck", "user": {"token": "not-a-secret"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "flightdeck"}}],
            "current-context": "fake",
        }
        (tmp_path / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
        clean_env.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
        clean_env.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        for name, value in {
            "NAMESPACE": NAMESPACE,
            "RELEASE": "fd",
            "PROMETHEUS_URL": "http://127.0.0.1:9",  # never queried: no analysis window ends
            "INGRESS_URL": "https://127.0.0.1:9",
            "INCIDENTS_FILE": str(tmp_path / "incidents.jsonl"),
            "LEASE_SECONDS": "15",
            "HISTORY": "jsonl",
            "HISTORY_FILE": str(tmp_path / "history.jsonl"),
        }.items():
            clean_env.setenv(f"FLIGHTDECK_{name}", value)
        yield fake


def test_the_engine_drives_the_chart_objects(cluster: FakeKubernetes, tmp_path: Path) -> None:
    spec = RolloutSpec.model_validate({"smoke_tests": {"enabled": False}})
    target = rollout_target("kubernetes", None)
    controller = Controller(target)

    controller.start(spec, "0.9.0", {"FAULT_LATENCY_MS": "5"})
    record = controller.tick("backend")
    assert record.phase == "Progressing", record.events
    assert record.weight == 10
    assert target.router.current() == Routing(canary_active=True, canary_weight=10)
    ingress = cluster.get("Ingress", "fd-flightdeck-canary", NAMESPACE)
    assert ingress is not None
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "10"
    canary = cluster.get("Deployment", CANARY, NAMESPACE)
    assert canary is not None
    assert canary["spec"]["replicas"] == 1
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.9.0")

    configmap = cluster.get("ConfigMap", "fd-flightdeck-rollout-backend", NAMESPACE)
    assert configmap is not None
    assert json.loads(configmap["data"]["record.json"])["phase"] == "Progressing"
    lease = cluster.get("Lease", "fd-flightdeck-rollout-backend", NAMESPACE)
    assert lease is not None
    assert "holderIdentity" not in lease["spec"], "the lease is released after the tick"

    controller.request("backend", "abort")
    record = controller.tick("backend")
    assert record.phase == "Aborted"
    assert target.router.current() == Routing()
    canary = cluster.get("Deployment", CANARY, NAMESPACE)
    assert canary is not None
    assert canary["spec"]["replicas"] == 0
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
    cluster: FakeKubernetes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FLIGHTDECK_HISTORY")
    with pytest.raises(ConfigError, match="FLIGHTDECK_HISTORY_MONGODB_URI is not set"):
        rollout_target("kubernetes", None)
    monkeypatch.setenv("FLIGHTDECK_HISTORY", "sqlite")
    with pytest.raises(ConfigError, match="FLIGHTDECK_HISTORY: Input should be 'mongodb'"):
        rollout_target("kubernetes", None)
