"""Whole rollouts through `--target kubernetes`, the real command line, on the installed chart.

For each case, on the test control plane: the chart installed in its own namespace; a real
Prometheus that scrapes (as job "backend") the request metrics of the namespace's Ready backend
pods, served by testsupport/podtraffic.py with the numbers the test sets per version (kwok pods
serve no traffic), and (as job "flightdeck") `flightdeck metrics serve --target kubernetes` run
as the chart's metrics ServiceAccount; the smoke tests' ingress URL points at a real backend
(FastAPI on FerretDB) started as the new version's track (no ingress controller or container
runs here). Then `python -m flightdeck <strategy> start --target kubernetes` runs as the chart's
flightdeck ServiceAccount, with FLIGHTDECK_* settings and a kubeconfig, to its end.

A strategy is a `Strategy` row: how the chart is installed, the spec, and what "promoted" and
"rolled back" mean on the cluster: a canary with ingress-nginx and with Gateway API, and
blue-green on the chart's blue-green mode (the Services' selectors switched; the smoke tests'
preview URL is the real backend started as the new colour).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from flightdeck.kubernetes.api import KubeApi
from flightdeck.routers import Routing
from flightdeck.routers.gateway_api import GatewayApiRouter
from flightdeck.routers.ingress_nginx import IngressNginxRouter
from testsupport.backend import BackendProcess
from testsupport.chartcluster import ChartCluster, Release
from testsupport.ferretdb import FerretDB
from testsupport.podtraffic import Behaviour, PodTraffic
from testsupport.ports import free_port, wait_for_port
from testsupport.processes import stop_process
from testsupport.prometheus import Prometheus
from testsupport.waiting import wait_until

pytestmark = pytest.mark.integration

RELEASE = "fd"
NAMESPACES = itertools.count()
FAILING = Behaviour(error_rate=0.3)
TIMINGS: dict[str, Any] = {
    "analysis": {
        "judge": "threshold",  # steps of a few seconds: a pass after a fixed time
        "interval": "2s",
        "window": "6s",
        "min_requests": 5,
        "inconclusive": {"policy": "rollback", "limit": 5},
    },
    "smoke_tests": {"timeout": "10s"},
    "timeouts": {"candidate_ready": "60s", "baseline_ready": "60s"},
}


# -- what differs between strategies ---------------------------------------------------------------
Check = Callable[["ClusterRollout", dict[str, Any]], None]


@dataclass(frozen=True)
class Strategy:
    name: str
    command: str  # the command family: flightdeck <command> start
    scenario: str  # ci/<scenario>-values.yaml
    router: str  # FLIGHTDECK_ROUTER
    candidate_track: str  # the track the new version runs as before it is promoted
    serving: str  # the Deployment (after the fullname) that serves when the test starts
    spec: dict[str, Any]
    promoted: Check  # (rollout, the record) on the cluster after a promotion
    rolled_back: Check  # (rollout, the record) after a rollback

    def __str__(self) -> str:
        return self.name


def version_of(deployment: dict[str, Any]) -> tuple[str, str, str]:
    """(image tag, APP_VERSION, flightdeck.io/image-tag label) of the backend container."""
    template = deployment["spec"]["template"]
    (container,) = [c for c in template["spec"]["containers"] if c["name"] == "backend"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    return (
        container["image"].rsplit(":", 1)[1],
        env["APP_VERSION"],
        template["metadata"]["labels"]["flightdeck.io/image-tag"],
    )


def rolled_out(deployment: dict[str, Any]) -> bool:
    status, wanted = deployment.get("status") or {}, deployment["spec"]["replicas"]
    return bool(
        status.get("observedGeneration") == deployment["metadata"]["generation"]
        and status.get("updatedReplicas", 0) == wanted
        and status.get("readyReplicas", 0) == wanted
        and status.get("replicas", 0) == wanted
    )


def canary_routing(rollout: ClusterRollout) -> Routing:
    """The routing as the live objects say (read by flightdeck's own routers)."""
    with rollout.release.cc.cluster.api_client() as api_client:
        api = KubeApi(api_client, rollout.release.namespace)
        router = (
            GatewayApiRouter(api, rollout.release.fullname)
            if rollout.strategy.router == "gateway-api"
            else IngressNginxRouter(api, rollout.release.fullname)
        )
        return router.current()


def canary_promoted(rollout: ClusterRollout, record: dict[str, Any]) -> None:
    release, version = rollout.release, record["version"]
    stable = release.live("Deployment", f"{release.fullname}-backend")
    assert rolled_out(stable), stable["status"]  # the controller waited for it
    assert version_of(stable) == (version, version, version)
    canary = release.live("Deployment", f"{release.fullname}-backend-canary")
    assert canary["spec"]["replicas"] == 0
    assert canary_routing(rollout) == Routing()
    weights = [run["weight"] for run in record["analyses"]]
    assert sorted(set(weights)) == [20, 50], weights
    assert all(run["result"] == "pass" for run in record["analyses"]), record["analyses"]


def canary_rolled_back(rollout: ClusterRollout, record: dict[str, Any]) -> None:
    release = rollout.release
    stable = release.live("Deployment", f"{release.fullname}-backend")
    assert version_of(stable) == (rollout.stable_version,) * 3
    assert rolled_out(stable)
    assert release.live("Deployment", f"{release.fullname}-backend-canary")["spec"]["replicas"] == 0
    assert canary_routing(rollout) == Routing()
    failed = record["analyses"][-1]
    assert failed["result"] == "fail", record["analyses"]
    error_rate = next(check for check in failed["checks"] if check["name"] == "error_rate")
    assert 0.2 < error_rate["value"] < 0.4, error_rate  # the 30% the pods' metrics say


CANARY_STEPS = {
    "type": "canary",
    "steps": [{"weight": 20, "hold": "3s"}, {"weight": 50, "hold": "3s"}],
}
CANARY = Strategy(
    name="canary-ingress-nginx",
    command="canary",
    scenario="canary",
    router="ingress-nginx",
    candidate_track="canary",
    serving="backend",
    spec={**TIMINGS, "strategy": CANARY_STEPS},
    promoted=canary_promoted,
    rolled_back=canary_rolled_back,
)
CANARY_GATEWAY = replace(
    CANARY, name="canary-gateway-api", scenario="gateway-api", router="gateway-api"
)


def colours(rollout: ClusterRollout) -> tuple[str, str, dict[str, Any]]:
    """(serving colour, preview colour, the HPA) as the live objects say."""
    release = rollout.release
    service = release.live("Service", f"{release.fullname}-backend")
    preview = release.live("Service", f"{release.fullname}-backend-preview")
    hpa = release.live("HorizontalPodAutoscaler", f"{release.fullname}-backend")
    return service["spec"]["selector"]["version"], preview["spec"]["selector"]["version"], hpa


def bluegreen_promoted(rollout: ClusterRollout, record: dict[str, Any]) -> None:
    release, version = rollout.release, record["version"]
    serving, preview, hpa = colours(rollout)
    assert (serving, preview) == ("blue", "green")  # ci/blue-green-values.yaml starts on green
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{release.fullname}-backend-blue"
    blue = release.live("Deployment", f"{release.fullname}-backend-blue")
    assert rolled_out(blue), blue["status"]
    assert version_of(blue) == (version, version, version)
    assert release.live("Deployment", f"{release.fullname}-backend-green")["spec"]["replicas"] == 0
    assert all(run["result"] == "pass" for run in record["analyses"]), record["analyses"]
    assert record["baseline_figures"]["error_rate"] is not None  # green measured before


def bluegreen_rolled_back(rollout: ClusterRollout, record: dict[str, Any]) -> None:
    release = rollout.release
    serving, _, hpa = colours(rollout)
    assert serving == "green"
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{release.fullname}-backend-green"
    green = release.live("Deployment", f"{release.fullname}-backend-green")
    assert version_of(green) == (rollout.stable_version,) * 3
    assert rolled_out(green)
    assert release.live("Deployment", f"{release.fullname}-backend-blue")["spec"]["replicas"] == 0
    assert any(e["message"].startswith("switched back") for e in record["events"])
    failed = record["analyses"][-1]
    assert failed["result"] == "fail", record["analyses"]


BLUE_GREEN = Strategy(
    name="bluegreen-service",
    command="bluegreen",
    scenario="blue-green",
    router="bluegreen-service",
    candidate_track="blue",
    serving="backend-green",
    spec={**TIMINGS, "strategy": {"type": "bluegreen", "monitor": "6s"}},
    promoted=bluegreen_promoted,
    rolled_back=bluegreen_rolled_back,
)
PROMOTED = [CANARY, CANARY_GATEWAY, BLUE_GREEN]
ROLLED_BACK = [CANARY, BLUE_GREEN]


# -- the bench ---------------------------------------------------------------------------------
@dataclass
class ClusterRollout:
    """A release, the metrics around it, and the CLI's environment."""

    strategy: Strategy
    release: Release
    traffic: PodTraffic
    prometheus: Prometheus
    directory: Path
    ferretdb: FerretDB
    stable_version: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    backends: list[BackendProcess] = field(default_factory=list)

    @property
    def incidents(self) -> Path:
        return self.directory / "incidents.jsonl"

    def cluster_env(self, service_account: str) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.release.kubeconfig(service_account)),
            "FLIGHTDECK_NAMESPACE": self.release.namespace,
            "FLIGHTDECK_RELEASE": self.release.name,
        }

    def serve_flightdeck_metrics(self, port: int) -> None:
        """`flightdeck metrics serve` as the chart's metrics Deployment runs it (its account)."""
        log = (self.directory / "metrics-serve.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "flightdeck", "metrics", "serve", "--target=kubernetes",
             f"--port={port}"],
            env=self.cluster_env(f"{self.release.fullname}-metrics"),
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.processes.append(process)
        wait_for_port(port, timeout=30)

    def smoke_backend(self, version: str) -> str:
        """A real backend answering as the new version's track, for the smoke tests."""
        backend = BackendProcess(
            env={
                "MONGODB_URI": self.ferretdb.uri,
                "MONGODB_DATABASE": f"rollout_{self.release.namespace.replace('-', '_')}",
                "UPLOAD_DIR": str(self.directory / "uploads"),
                "APP_VERSION": version,
                "APP_TRACK": self.strategy.candidate_track,
            },
            log_path=self.directory / f"backend-{version}.log",
        )
        backend.start(wait_for="/health/ready")
        self.backends.append(backend)
        return backend.url

    def start(self, version: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
        """`flightdeck <strategy> start --target kubernetes` to its end; (result, record)."""
        spec = self.directory / f"rollout-{version}.yaml"
        spec.write_text(yaml.safe_dump(self.strategy.spec))
        smoke_url = self.smoke_backend(version)
        env = {
            **self.cluster_env(self.release.flightdeck_account),
            "FLIGHTDECK_ROUTER": self.strategy.router,
            "FLIGHTDECK_PROMETHEUS_URL": self.prometheus.url,
            "FLIGHTDECK_INGRESS_URL": smoke_url,
            "FLIGHTDECK_PREVIEW_URL": smoke_url,
            "FLIGHTDECK_INCIDENTS_FILE": str(self.incidents),
            "FLIGHTDECK_LEASE_SECONDS": "15",
            "FLIGHTDECK_HISTORY": "jsonl",
            "FLIGHTDECK_HISTORY_FILE": str(self.directory / "history.jsonl"),
        }
        result = subprocess.run(
            [sys.executable, "-m", "flightdeck", self.strategy.command, "start",
             "--target", "kubernetes", "--version", version, "--spec", str(spec), "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )  # fmt: skip
        assert result.stdout, result.stderr
        return result, json.loads(result.stdout)

    def query(self, expression: str) -> list[dict[str, Any]]:
        answer = httpx.get(
            f"{self.prometheus.url}/api/v1/query", params={"query": expression}, timeout=10
        ).json()
        assert answer["status"] == "success", answer
        results: list[dict[str, Any]] = answer["data"]["result"]
        return results

    def stop(self) -> None:
        for process in self.processes:
            stop_process(process)
        for backend in self.backends:
            backend.stop()
        self.prometheus.stop()
        self.traffic.stop()


@pytest.fixture
def cluster_rollout(
    request: pytest.FixtureRequest,
    chart_cluster: ChartCluster,
    ferretdb: FerretDB,
    tmp_path: Path,
) -> Iterator[ClusterRollout]:
    strategy: Strategy = request.param
    namespace = f"rollout-{next(NAMESPACES)}-{strategy.name}"
    with chart_cluster.release(RELEASE, namespace, strategy.scenario) as release:
        traffic = PodTraffic(chart_cluster.http(), namespace)
        traffic.start()
        metrics_port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {"job_name": "backend", "static_configs": [{"targets": [traffic.target]}]},
                {
                    "job_name": "flightdeck",
                    "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}],
                },
            ],
        }
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        prometheus = Prometheus(tmp_path / "prometheus", config=tmp_path / "prometheus.yml")
        rollout = ClusterRollout(strategy, release, traffic, prometheus, tmp_path, ferretdb)
        try:
            prometheus.start()
            rollout.serve_flightdeck_metrics(metrics_port)
            serving = release.live("Deployment", f"{release.fullname}-{strategy.serving}")
            rollout.stable_version = version_of(serving)[0]
            yield rollout
        finally:
            rollout.stop()


def phase_metric(rollout: ClusterRollout, phase: str) -> float | None:
    found = rollout.query(
        f'flightdeck_rollout_phase{{job="flightdeck",rollout="backend",phase="{phase}"}}'
    )
    return float(found[0]["value"][1]) if found else None


@pytest.mark.parametrize("cluster_rollout", PROMOTED, indirect=True, ids=str)
def test_a_healthy_version_is_promoted(cluster_rollout: ClusterRollout) -> None:
    rollout = cluster_rollout
    result, record = rollout.start("0.5.0")
    assert result.returncode == 0, result.stderr
    assert record["phase"] == "Succeeded", record["events"]
    rollout.strategy.promoted(rollout, record)
    assert not rollout.incidents.exists()
    # The rollout metrics reach Prometheus from the rollout's ConfigMap, no file involved.
    wait_until(lambda: phase_metric(rollout, "Succeeded") == 1, timeout=30, what="Succeeded")
    info = rollout.query('flightdeck_rollout_info{job="flightdeck",rollout="backend"}')
    assert info[0]["metric"]["version"] == "0.5.0"
    assert info[0]["metric"]["stable_version"] == rollout.stable_version


@pytest.mark.parametrize("cluster_rollout", ROLLED_BACK, indirect=True, ids=str)
def test_a_failing_version_is_rolled_back(cluster_rollout: ClusterRollout) -> None:
    rollout = cluster_rollout
    rollout.traffic.behaviours["0.6.0"] = FAILING
    result, record = rollout.start("0.6.0")
    assert result.returncode == 1, result.stderr
    assert record["phase"] == "RolledBack", record["events"]
    assert "error_rate" in (record["reason"] or ""), record["reason"]
    rollout.strategy.rolled_back(rollout, record)
    (incident,) = rollout.incidents.read_text().splitlines()
    assert "ollout of 0.6.0 rolled back" in incident
    wait_until(lambda: phase_metric(rollout, "RolledBack") == 1, timeout=30, what="RolledBack")
    rollbacks = rollout.query(
        'flightdeck_rollout_rollbacks_total{job="flightdeck",rollout="backend"}'
    )
    assert float(rollbacks[0]["value"][1]) == 1
