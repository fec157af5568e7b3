"""`flightdeck pipeline staging --target kubernetes` (release.yml's stage 4) on the real control
plane: `helm upgrade --install --wait` of the checkout's chart with deploy/staging-values.yaml,
then the checks of `flightdeck validate` in the staging namespace.

What this control plane cannot show is left out with `--skip-check` (docs/kubernetes.md): no
container runs, so nothing answers the smoke tests or serves metrics, and without a metrics API
the autoscalers never report ScalingActive. The replicas check runs: every pod of the serving
track is running, Ready and never restarted, as kwok reports them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testsupport.chartcluster import ChartCluster, install_crds
from testsupport.kubecluster import KubeCluster

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = RELEASE = "staging"
BACKEND = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{RELEASE}-flightdeck-backend"
FRONTEND = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{RELEASE}-flightdeck-frontend"
UNSEEN_HERE = ("--skip-check", "smoke", "--skip-check", "metrics", "--skip-check", "scaling")


@pytest.fixture(scope="module")
def cluster(
    kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ChartCluster]:
    install_crds(kube_cluster)
    charts = ChartCluster(kube_cluster, tmp_path_factory.mktemp("staging") / "helm")
    charts.create_namespace(NAMESPACE)
    charts.create_secrets(NAMESPACE, "default")
    yield charts
    charts.helm(NAMESPACE, "uninstall", RELEASE, "-n", NAMESPACE, "--wait")


def staging(cluster: ChartCluster, version: str, *args: str) -> tuple[int, dict[str, Any], str]:
    home = cluster.helm_home
    env = {
        **os.environ,
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": str(cluster.cluster.kubeconfig),
        "FLIGHTDECK_NAMESPACE": NAMESPACE,
        "FLIGHTDECK_RELEASE": RELEASE,
        # Required settings; nothing here serves them, and the checks that use them are skipped.
        "FLIGHTDECK_PROMETHEUS_URL": "http://127.0.0.1:9",
        "FLIGHTDECK_INGRESS_URL": "https://127.0.0.1:9",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "flightdeck",
            "pipeline",
            "staging",
            "--target",
            "kubernetes",
            "--version",
            version,
            "--settle",
            "90",
            "--json",
            # Run from the checkout (the chart and values are found there, as on a runner), but
            # the records go to the test's own folder, not the checkout's .flightdeck.
            "--records",
            str(cluster.helm_home.parent / "records"),
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}, done.stderr


def image_tag(cluster: ChartCluster, path: str) -> str:
    deployment = cluster.get(path)
    assert deployment is not None, path
    image: str = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    return image.rsplit(":", 1)[1]


def stage(result: dict[str, Any]) -> dict[str, Any]:
    (only,) = [entry for entry in result["stages"] if entry["status"] != "not run"]
    return only  # type: ignore[no-any-return]


def test_a_release_is_installed_then_rolled_to_the_next_one(cluster: ChartCluster) -> None:
    values = ("--values", "deploy/staging-values.yaml")
    for version in ("0.5.0", "0.6.0"):
        code, result, stderr = staging(cluster, version, *values, *UNSEEN_HERE)
        assert code == 0, stderr
        entry = stage(result)
        assert entry["stage"] == "staging"
        assert entry["status"] == "passed"
        assert f"helm upgrade of release {RELEASE} in {NAMESPACE} to {version}" in entry["detail"]
        assert "every check passed (replicas)" in entry["detail"]
        assert image_tag(cluster, BACKEND) == version
        assert image_tag(cluster, FRONTEND) == version
    history = cluster.helm("history", RELEASE, "-n", NAMESPACE, "-o", "json")
    assert [revision["status"] for revision in json.loads(history.stdout)] == [
        "superseded",
        "deployed",
    ]


def test_a_failing_upgrade_fails_the_stage_and_names_helms_reason(
    cluster: ChartCluster, tmp_path: Path
) -> None:
    bad = tmp_path / "bad-values.yaml"
    bad.write_text("backend:\n  replicas: many\n")
    before = image_tag(cluster, BACKEND)
    code, result, stderr = staging(
        cluster, "0.7.0", "--values", "deploy/staging-values.yaml", "--values", str(bad),
        *UNSEEN_HERE,
    )  # fmt: skip
    assert code == 1, stderr
    entry = stage(result)
    assert entry["status"] == "failed"
    assert "helm" in entry["detail"]
    assert "exit code 1" in entry["detail"]
    log = Path(entry["links"]["log"])
    assert log.is_relative_to(cluster.helm_home.parent / "records")
    assert "replicas" in log.read_text()
    assert image_tag(cluster, BACKEND) == before


def test_a_missing_values_file_is_a_usage_error(cluster: ChartCluster) -> None:
    code, result, stderr = staging(cluster, "0.8.0", "--values", "deploy/no-such-values.yaml")
    assert code == 2
    assert result == {}
    assert "--values deploy/no-such-values.yaml: no such file" in stderr
