"""`flightdeck validate --target kubernetes` on the real control plane with the chart installed.

The release is the chart's `canary` scenario, installed by helm into its own namespace; the
canary is parked by flightdeck's own providers, so stable serves alone until a test starts it.
What the API server reports is real: the Deployments, the pods kwok runs, the HPAs as the real
HPA controller writes them (with no metrics API in this cluster it reports ScalingActive False,
FailedGetResourceMetric).

What the fake kubelet never produces is staged through the API on the status subresource, as a
kubelet or the HPA controller would write it:
- a container restart (`restartCount`, `lastState.terminated`) and a pod that is not Ready;
- a working HPA (ScalingActive True, current metrics). The HPA controller rewrites its status
  every 15 s, so a staged status counts only when its resourceVersion is still the staged one
  after the validation read it (`with_staged_hpas` stages again otherwise).

No container runs, so the pods serve no metrics and no ingress routes: Prometheus is the real
binary scraping a real backend process per track (its own /metrics), one static target per pod
labelled `namespace` and `pod` as the chart's ServiceMonitor labels them; the public ingress URL
of the smoke tests is the stable backend process. The smoke tests are left out (`--skip smoke`)
while a canary is active: nothing here routes `X-Canary: always` to a canary.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from flightdeck import cli
from flightdeck.core.tracks import Track, TrackSpec
from flightdeck.engines import validation_target
from flightdeck.kubernetes.api import DEPLOYMENT, KubeApi
from flightdeck.metrics.prometheus import PrometheusProvider
from flightdeck.routers import Routing
from flightdeck.routers.ingress_nginx import IngressNginxRouter
from flightdeck.validate.checks import ValidationOptions, validate
from flightdeck.validate.report import CheckReport, ValidationReport
from flightdeck.workloads.deployments import DeploymentWorkloads
from testsupport.backend import BackendProcess
from testsupport.chartcluster import ChartCluster, checked, install_crds
from testsupport.ferretdb import FerretDB
from testsupport.kubecluster import KubeCluster
from testsupport.prometheus import Prometheus
from testsupport.waiting import wait_until

pytestmark = pytest.mark.integration

NAMESPACE = RELEASE = "validate"
FULLNAME = f"{RELEASE}-flightdeck"
CANARY_VERSION = "0.2.0"
HPAS = (f"{FULLNAME}-backend", f"{FULLNAME}-frontend")
NO_SMOKE = frozenset({"smoke"})
REPLICAS_AND_METRICS = frozenset({"scaling", "smoke"})


def hpa_path(name: str) -> str:
    return f"/apis/autoscaling/v2/namespaces/{NAMESPACE}/horizontalpodautoscalers/{name}"


def pod_path(name: str) -> str:
    return f"/api/v1/namespaces/{NAMESPACE}/pods/{name}"


def timestamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Release:
    """The installed release, its stand-in metrics endpoints and the Prometheus scraping them."""

    cc: ChartCluster
    api: KubeApi
    stable_version: str
    backends: dict[Track, BackendProcess]
    prometheus: Prometheus
    scrape_config: Path

    @property
    def workloads(self) -> DeploymentWorkloads:
        return DeploymentWorkloads(self.api, FULLNAME, poll_seconds=0.2)

    @property
    def router(self) -> IngressNginxRouter:
        return IngressNginxRouter(self.api, FULLNAME)

    def pods(self, track: Track) -> list[str]:
        """The names of the track's pods of its current image."""
        deployment = self.api.get(DEPLOYMENT, self.workloads.deployment_name(track))
        assert deployment is not None
        return sorted(
            pod["metadata"]["name"]
            for pod in self.workloads.current_pods(deployment)
            if not pod["metadata"].get("deletionTimestamp")
        )

    def merge_patch(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.cc.http() as http:
            return checked(
                http.patch(
                    path,
                    content=json.dumps(body),
                    headers={"Content-Type": "application/merge-patch+json"},
                )
            )

    def get(self, path: str) -> dict[str, Any]:
        found = self.cc.get(path)
        assert found is not None, path
        return found

    def scrape(self, *tracks: Track) -> None:
        """Scrape each pod of `tracks` at its track's backend process; wait until all are up."""
        groups = [
            {
                "targets": [f"127.0.0.1:{self.backends[track].port}"],
                "labels": {"namespace": NAMESPACE, "pod": pod, "track": track},
            }
            for track in tracks
            for pod in self.pods(track)
        ]
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                {"job_name": "backend", "honor_labels": True, "static_configs": groups}
            ],
        }
        self.scrape_config.write_text(yaml.safe_dump(config))
        httpx.post(f"{self.prometheus.url}/-/reload", timeout=10).raise_for_status()
        metrics = PrometheusProvider(self.prometheus.url)
        wait_until(
            lambda: (
                metrics.query('count(up{job="backend"})') == len(groups)
                and metrics.query('sum(up{job="backend"})') == len(groups)
            ),
            timeout=60,
            what=f"Prometheus to scrape {len(groups)} targets",
        )


@pytest.fixture(scope="module")
def release(
    kube_cluster: KubeCluster, ferretdb: FerretDB, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Release]:
    directory = tmp_path_factory.mktemp("validate-kubernetes")
    install_crds(kube_cluster)
    cc = ChartCluster(kube_cluster, directory / "helm")
    cc.install(RELEASE, NAMESPACE, "canary")
    backends: dict[Track, BackendProcess] = {}
    prometheus: Prometheus | None = None
    try:
        with kube_cluster.api_client() as api_client:
            api = KubeApi(api_client, NAMESPACE)
            workloads = DeploymentWorkloads(api, FULLNAME, poll_seconds=0.2)
            IngressNginxRouter(api, FULLNAME).apply(Routing())
            workloads.remove("canary")
            stable = workloads.get("stable")
            assert stable is not None
            # The HPA controller scales stable from the chart's 1 replica to its minReplicas.
            wait_until(
                lambda: (
                    (workloads.get("stable") or stable).replicas == 2 and workloads.ready("stable")
                ),
                timeout=90,
                what="the HPA to scale stable to its 2 minReplicas",
            )
            versions: dict[Track, str] = {"stable": stable.version, "canary": CANARY_VERSION}
            for track, version in versions.items():
                backends[track] = BackendProcess(
                    env={
                        "MONGODB_URI": ferretdb.uri,
                        "MONGODB_DATABASE": "test_validate_kubernetes",
                        "UPLOAD_DIR": str(directory / "uploads"),
                        "APP_VERSION": version,
                        "APP_TRACK": track,
                    },
                    log_path=directory / f"backend-{track}.log",
                )
                backends[track].start(wait_for="/health/ready")
            scrape_config = directory / "prometheus.yml"
            scrape_config.write_text(yaml.safe_dump({"scrape_configs": []}))
            prometheus = Prometheus(
                directory / "prometheus",
                config=scrape_config,
                extra_args=("--web.enable-lifecycle",),
            )
            prometheus.start()
            found = Release(cc, api, stable.version, backends, prometheus, scrape_config)
            found.scrape("stable")
            yield found
    finally:
        if prometheus is not None:
            prometheus.stop()
        for backend in backends.values():
            backend.stop()
        cc.helm_ok(NAMESPACE, "uninstall", RELEASE, "-n", NAMESPACE, "--wait")


@pytest.fixture(autouse=True)
def settings(release: Release, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--target kubernetes` settings for the release, as docs/kubernetes.md lists them."""
    monkeypatch.setenv("KUBECONFIG", str(release.cc.cluster.kubeconfig))
    monkeypatch.setenv("FLIGHTDECK_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("FLIGHTDECK_RELEASE", RELEASE)
    monkeypatch.setenv("FLIGHTDECK_PROMETHEUS_URL", release.prometheus.url)
    monkeypatch.setenv("FLIGHTDECK_INGRESS_URL", release.backends["stable"].url)
    for name in ("FLIGHTDECK_ROUTER", "FLIGHTDECK_FULLNAME", "FLIGHTDECK_KUBE_CONTEXT"):
        monkeypatch.delenv(name, raising=False)


def run(**options: Any) -> ValidationReport:
    """The validation in this process, through the kubernetes composition root."""
    return validate(validation_target("kubernetes", None), ValidationOptions(**options))


def command(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`flightdeck validate --target kubernetes ARGS` through the CLI's entry point."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["validate", "--target", "kubernetes", *args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def check(report: ValidationReport, name: str) -> CheckReport:
    (found,) = [item for item in report.checks if item.name == name]
    return found


def details(check_report: CheckReport) -> dict[str, str]:
    return {finding.subject: finding.detail for finding in check_report.findings}


def problems(check_report: CheckReport) -> dict[str, str]:
    return {finding.subject: finding.detail for finding in check_report.problems}


# -- autoscalers -------------------------------------------------------------------------------

WORKING = {"averageUtilization": 35, "averageValue": "35m"}


def working_hpa(current_replicas: int = 2) -> dict[str, Any]:
    """An HPA status as the controller writes it when the metrics API answers."""
    now = timestamp(datetime.now(UTC))
    return {
        "currentReplicas": current_replicas,
        "desiredReplicas": current_replicas,
        "currentMetrics": [
            {"type": "Resource", "resource": {"name": "cpu", "current": WORKING}},
            {
                "type": "Resource",
                "resource": {
                    "name": "memory",
                    "current": {"averageUtilization": 41, "averageValue": "110Mi"},
                },
            },
        ],
        "conditions": [
            {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale",
             "message": "recommended size matches current size", "lastTransitionTime": now},
            {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound",
             "message": "the HPA was able to successfully calculate a replica count",
             "lastTransitionTime": now},
            {"type": "ScalingLimited", "status": "False", "reason": "DesiredWithinRange",
             "message": "the desired count is within the acceptable range",
             "lastTransitionTime": now},
        ],
    }  # fmt: skip


def with_staged_hpas(
    release: Release, statuses: dict[str, dict[str, Any]], action: Callable[[], Any]
) -> Any:
    """Run `action` while the HPAs carry the staged statuses, and its result.

    The HPA controller rewrites each status within 15 s; when it did so while `action` ran, the
    action saw its status rather than the staged one, and runs again on a fresh staging.
    """
    for _ in range(5):
        staged = {
            name: release.merge_patch(f"{hpa_path(name)}/status", {"status": status})
            for name, status in statuses.items()
        }
        result = action()
        if all(
            release.get(hpa_path(name))["metadata"]["resourceVersion"]
            == hpa["metadata"]["resourceVersion"]
            for name, hpa in staged.items()
        ):
            return result
    raise AssertionError("the HPA controller rewrote a staged status during every attempt")


def controller_found_no_metrics(release: Release) -> bool:
    """Whether the HPA controller's own status (no metrics API) is on every HPA of the release
    (and not a status that a test staged)."""
    return all(
        any(
            condition["type"] == "ScalingActive"
            and condition["status"] == "False"
            and condition.get("reason") == "FailedGetResourceMetric"
            for condition in (release.get(hpa_path(name)).get("status") or {}).get("conditions")
            or []
        )
        for name in HPAS
    )


def test_hpas_without_a_metrics_api_fail_the_scaling_check_as_the_controller_reports_them(
    release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    wait_until(lambda: controller_found_no_metrics(release), timeout=60, what="the HPA controller")
    code, out, err = command(capsys, "--json")
    assert code == 1, out + err
    assert "validation failed: scaling" in err
    report = json.loads(out)
    assert report["failed"] == ["scaling"]
    assert report["serving"] == [{"track": "stable", "version": release.stable_version}]
    (scaling,) = [item for item in report["checks"] if item["name"] == "scaling"]
    assert [finding["subject"] for finding in scaling["findings"]] == [f"hpa {n}" for n in HPAS]
    for finding in scaling["findings"]:
        assert finding["ok"] is False
        assert finding["detail"].startswith(
            "ScalingActive is False: FailedGetResourceMetric: the HPA was unable to compute the "
            "replica count"
        ), finding
        assert "no metric has a current value" in finding["detail"]


def test_a_healthy_release_passes_every_check(
    release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    statuses = {name: working_hpa() for name in HPAS}
    code, out, err = with_staged_hpas(release, statuses, lambda: command(capsys, "--json"))
    assert code == 0, out + err
    assert "every check passed" in err
    report = json.loads(out)
    assert report["passed"] is True
    assert [(item["name"], item["status"]) for item in report["checks"]] == [
        ("replicas", "pass"),
        ("scaling", "pass"),
        ("metrics", "pass"),
        ("smoke", "pass"),
    ]
    findings = {
        item["name"]: {finding["subject"]: finding["detail"] for finding in item["findings"]}
        for item in report["checks"]
    }
    backend = f"{FULLNAME}-backend"
    assert findings["scaling"][f"hpa {backend}"] == (
        f"ScalingActive, deployment {backend}: 2 replicas (min 2, max 10); cpu 35%, memory 41%"
    )
    assert findings["replicas"]["track stable"] == f"version {release.stable_version}, 2 replicas"
    selector = f'job="backend",namespace="{NAMESPACE}"'
    for pod in release.pods("stable"):
        assert findings["replicas"][pod].startswith(
            "running and ready, no restarts (phase Running, node "
        )
        assert findings["metrics"][pod] == f'target up: up{{{selector},pod="{pod}"}}'
    assert findings["metrics"]["backend targets"] == "all 2 up"
    assert findings["smoke"]["stable: version"] == (
        f"version {release.stable_version} on the stable track"
    )


def test_an_hpa_outside_its_range_fails_the_scaling_check(release: Release) -> None:
    statuses = {HPAS[0]: working_hpa(current_replicas=12), HPAS[1]: working_hpa()}
    report = with_staged_hpas(release, statuses, lambda: run(skip=NO_SMOKE))
    assert report.failed == ["scaling"]
    assert list(problems(check(report, "scaling"))) == [f"hpa {HPAS[0]}"]
    assert (
        "12 replicas, outside min 2 and max 10"
        in problems(check(report, "scaling"))[f"hpa {HPAS[0]}"]
    )


# -- pods ----------------------------------------------------------------------------------------


def container_statuses(release: Release, pod: str, **changes: Any) -> list[dict[str, Any]]:
    statuses: list[dict[str, Any]] = release.get(pod_path(pod))["status"]["containerStatuses"]
    return [{**status, **changes} for status in statuses]


def test_a_container_restart_within_the_window_fails_the_replicas_check(
    release: Release,
) -> None:
    pod = release.pods("stable")[0]
    finished = datetime.now(UTC) - timedelta(seconds=90)
    restarted: dict[str, Any] = {
        "restartCount": 1,
        "lastState": {
            "terminated": {
                "exitCode": 137,
                "reason": "OOMKilled",
                "startedAt": timestamp(finished - timedelta(hours=1)),
                "finishedAt": timestamp(finished),
            }
        },
    }
    release.merge_patch(
        f"{pod_path(pod)}/status",
        {"status": {"containerStatuses": container_statuses(release, pod, **restarted)}},
    )
    report = run(skip=REPLICAS_AND_METRICS)
    assert report.failed == ["replicas"]
    assert list(problems(check(report, "replicas"))) == [pod]
    assert re.match(
        r"restarted 1m \d+s ago \(container backend: OOMKilled, exit code 137\), within the "
        r"10m restart window, 1 restart in all \(phase Running, node ",
        problems(check(report, "replicas"))[pod],
    ), problems(check(report, "replicas"))[pod]

    # The same restart two hours ago: outside the window, unless the window is longer.
    old = datetime.now(UTC) - timedelta(hours=2)
    restarted["lastState"]["terminated"]["finishedAt"] = timestamp(old)
    release.merge_patch(
        f"{pod_path(pod)}/status",
        {"status": {"containerStatuses": container_statuses(release, pod, **restarted)}},
    )
    report = run(skip=REPLICAS_AND_METRICS)
    assert report.passed, report.as_dict()
    assert (
        "1 restart, the last 2h 0m ago, before the 10m window"
        in details(check(report, "replicas"))[pod]
    )
    assert run(skip=REPLICAS_AND_METRICS, restart_window=timedelta(hours=3)).failed == ["replicas"]


def test_a_pod_that_is_not_ready_fails_the_replicas_check(release: Release) -> None:
    pod = release.pods("stable")[-1]
    conditions = release.get(pod_path(pod))["status"]["conditions"]
    not_ready = [
        {**item, "status": "False", "reason": "ContainersNotReady"}
        if item["type"] in ("Ready", "ContainersReady")
        else item
        for item in conditions
    ]
    release.merge_patch(f"{pod_path(pod)}/status", {"status": {"conditions": not_ready}})
    try:
        # The Deployment controller counts it unavailable too, a moment later.
        def unavailable() -> ValidationReport | None:
            found = run(skip=REPLICAS_AND_METRICS)
            return found if "track stable" in problems(check(found, "replicas")) else None

        report = wait_until(
            unavailable,
            timeout=30,
            what="the Deployment controller to count the pod unavailable",
        )
    finally:
        release.merge_patch(f"{pod_path(pod)}/status", {"status": {"conditions": conditions}})
    assert report is not None
    assert report.failed == ["replicas"]
    found = problems(check(report, "replicas"))
    assert found[pod].startswith("not ready (phase Running, node ")
    assert found[pod].endswith("Ready False: ContainersNotReady)")
    assert found["track stable"].endswith("1 of 2 updated replicas are available")
    wait_until(
        lambda: run(skip=REPLICAS_AND_METRICS).passed, timeout=30, what="the pod Ready again"
    )


# -- metrics -------------------------------------------------------------------------------------


def test_an_active_canary_without_metrics_fails_the_metrics_check_until_it_is_scraped(
    release: Release,
) -> None:
    release.router.apply(Routing(canary_active=True, canary_weight=10))
    try:
        release.workloads.apply(TrackSpec("canary", CANARY_VERSION, 1))
        release.workloads.wait_ready("canary", 60)
        (canary_pod,) = release.pods("canary")
        report = run(skip=REPLICAS_AND_METRICS)
        assert [(s.track, s.version) for s in report.serving] == [
            ("stable", release.stable_version),
            ("canary", CANARY_VERSION),
        ]
        assert check(report, "replicas").status == "pass"
        assert canary_pod in details(check(report, "replicas"))
        assert report.failed == ["metrics"]
        selector = f'job="backend",namespace="{NAMESPACE}"'
        assert problems(check(report, "metrics")) == {
            canary_pod: f'Prometheus has no target for it: no up{{{selector},pod="{canary_pod}"}}',
            f"http_requests_total (canary {CANARY_VERSION})": "no data: no series "
            f'http_requests_total{{{selector},track="canary",version="{CANARY_VERSION}"}}',
            f"http_request_duration_seconds_bucket (canary {CANARY_VERSION})": "no data: no "
            f'series http_request_duration_seconds_bucket{{{selector},track="canary",'
            f'version="{CANARY_VERSION}"}}',
        }
        release.scrape("stable", "canary")
        wait_until(
            lambda: run(skip=REPLICAS_AND_METRICS).passed,
            timeout=30,
            what="the canary's series in Prometheus",
        )
    finally:
        release.router.apply(Routing())
        release.workloads.remove("canary")
        release.scrape("stable")


def test_a_metrics_endpoint_down_fails_the_metrics_check(release: Release) -> None:
    backend = release.backends["stable"]
    metrics = PrometheusProvider(release.prometheus.url)
    backend.stop()
    try:
        wait_until(
            lambda: metrics.query('sum(up{job="backend"})') == 0,
            timeout=30,
            what="Prometheus to find the stable targets down",
        )
        report = run(skip=REPLICAS_AND_METRICS)
    finally:
        backend.start(wait_for="/health/ready")
    assert report.failed == ["metrics"]
    found = problems(check(report, "metrics"))
    selector = f'job="backend",namespace="{NAMESPACE}"'
    for pod in release.pods("stable"):
        assert found[pod] == f'target down: up{{{selector},pod="{pod}"}} is 0'
    assert found["backend targets"] == f"2 of 2 down (they are listed by `up{{{selector}}} == 0`)"
    wait_until(
        lambda: run(skip=REPLICAS_AND_METRICS).passed, timeout=30, what="the targets up again"
    )


# -- settings ------------------------------------------------------------------------------------


def test_a_missing_setting_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FLIGHTDECK_PROMETHEUS_URL")
    code, out, err = command(capsys)
    assert code == 2
    assert "FLIGHTDECK_PROMETHEUS_URL: is not set" in err
    assert out == ""
