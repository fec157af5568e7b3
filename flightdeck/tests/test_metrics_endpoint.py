"""`flightdeck metrics serve`: backup text files and rollout records served as one exposition.

The records come from real rollouts on the controller rig (testsupport/rollout_rig.py) in a file
state store, the backup metrics from the backup code's own writer; what is served is checked
by promtool, Prometheus's own parser and linter, and scraped by a real Prometheus that
evaluates the repository's backup alert rules.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from flightdeck.backup import metrics as backup_metrics
from flightdeck.cli import main
from flightdeck.core.errors import ConfigError
from flightdeck.engines import rollout_state
from flightdeck.metrics.endpoint import MetricsEndpoint
from flightdeck.rollout.exporter import RolloutRecordsCollector
from flightdeck.state.file import FileStateStore
from testsupport import REPO_ROOT
from testsupport.platform import write_platform_config
from testsupport.ports import free_port, wait_for_port
from testsupport.processes import stop_process
from testsupport.prometheus import Prometheus
from testsupport.rollout_rig import SPEC, Rig, make_rig, run_for
from testsupport.tools import required_tool
from testsupport.waiting import wait_until

pytestmark = pytest.mark.integration


def exposition(endpoint: MetricsEndpoint) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(endpoint)
    return generate_latest(registry).decode()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def promtool_check(text: str) -> None:
    result = subprocess.run(
        [required_tool("promtool"), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return make_rig(tmp_path)


def two_rollouts(rig: Rig) -> None:
    """`backend` rolled back by its analysis, then `api` progressing at 10%."""
    controller, _, _, metrics, _, clock, _ = rig
    controller.start(SPEC, "2.0.0", {})
    controller.tick("backend")
    metrics.canary["error_rate"] = 0.2
    assert run_for(controller, clock, 40) == "RolledBack"
    metrics.canary["error_rate"] = 0.0
    controller.start(SPEC.model_copy(update={"name": "api"}), "2.0.0", {})
    assert controller.tick("api").phase == "Progressing"


@pytest.mark.unit
def test_records_are_served_as_the_controller_writes_them(rig: Rig, tmp_path: Path) -> None:
    two_rollouts(rig)
    clock = rig[5]
    collector = RolloutRecordsCollector(FileStateStore(tmp_path / "state"), clock)
    served = exposition(MetricsEndpoint([], {"rollouts": collector.collect}))
    promtool_check(served)
    written = "".join(path.read_text() for path in sorted((tmp_path / "metrics").glob("*.prom")))
    assert {**samples(written)} == {
        key: value for key, value in samples(served).items() if "source_up" not in key[0]
    }
    found = samples(served)
    assert (
        found[
            (
                "flightdeck_rollout_phase",
                frozenset({("rollout", "backend"), ("phase", "RolledBack")}),
            )
        ]
        == 1
    )
    assert (
        found[
            ("flightdeck_rollout_phase", frozenset({("rollout", "api"), ("phase", "Progressing")}))
        ]
        == 1
    )
    assert found[("flightdeck_rollout_rollbacks_total", frozenset({("rollout", "backend")}))] == 1
    assert found[("flightdeck_canary_weight", frozenset({("rollout", "api")}))] == 10
    assert found[("flightdeck_metrics_source_up", frozenset({("source", "rollouts")}))] == 1


@pytest.mark.unit
def test_files_and_records_are_merged_and_a_broken_source_is_left_out(
    rig: Rig, tmp_path: Path
) -> None:
    two_rollouts(rig)
    backups = tmp_path / "backups-metrics"
    backup_metrics.record_failure(backups)
    backup_metrics.record_verify(backups, ok=True)
    (backups / "broken.prom").write_text("this is { not a metric\n")
    rig_files = tmp_path / "metrics"  # rollout-*.prom: the same series as the records
    endpoint = MetricsEndpoint(
        [backups, rig_files],
        {"rollouts": RolloutRecordsCollector(FileStateStore(tmp_path / "state"), rig[5]).collect},
    )
    served = exposition(endpoint)
    promtool_check(served)  # no family twice, no series twice
    found = samples(served)
    assert found[("flightdeck_backup_failures_total", frozenset())] == 1
    assert found[("flightdeck_backup_last_verify_success", frozenset())] == 1
    up = {
        dict(labels)["source"]: value
        for (name, labels), value in found.items()
        if name == "flightdeck_metrics_source_up"
    }
    assert up == {
        "rollouts": 1,
        "backup.prom": 1,
        "broken.prom": 0,
        "rollout-api.prom": 1,
        "rollout-backend.prom": 1,
    }


@pytest.mark.unit
def test_an_unreadable_store_is_reported_and_the_files_are_still_served(tmp_path: Path) -> None:
    backups = tmp_path / "backups-metrics"
    backup_metrics.record_verify(backups, ok=False)

    def store_down() -> list[object]:
        from flightdeck.core.errors import RetryableError

        raise RetryableError("list configmaps: the API server is unreachable")

    served = exposition(MetricsEndpoint([backups], {"rollouts": store_down}))  # type: ignore[dict-item]
    found = samples(served)
    assert found[("flightdeck_backup_last_verify_success", frozenset())] == 0
    assert found[("flightdeck_metrics_source_up", frozenset({("source", "rollouts")}))] == 0


def test_the_command_serves_over_http(tmp_path: Path) -> None:
    backups = tmp_path / "metrics"
    backup_metrics.record_verify(backups, ok=True)
    port = free_port()
    command = [sys.executable, "-m", "flightdeck", "metrics", "serve", "--no-rollouts"]
    process = subprocess.Popen(
        [*command, "--dir", str(backups), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            metrics = client.get("/metrics")
            assert metrics.status_code == 200
            assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
            assert "flightdeck_backup_last_verify_success 1.0" in metrics.text
            assert client.get("/healthz").text == "ok\n"
            assert client.get("/other").status_code == 404
        busy = subprocess.run(
            [*command, "--port", str(port)], capture_output=True, text=True, check=False
        )
        assert busy.returncode == 2, busy.stderr
        assert f"--port {port}: cannot listen: Address already in use" in busy.stderr
    finally:
        stop_process(process)


def test_backup_metrics_reach_prometheus_and_the_backup_alerts(tmp_path: Path) -> None:
    """A real Prometheus with the repository's backup rules scrapes the endpoint (job
    "flightdeck"): with backup.prom served, BackupMissing's "no metrics" rule has nothing to
    fire on, and a failed verify fires BackupVerifyFailed."""
    backups = tmp_path / "metrics"
    backup_metrics.update(backups, last_success_timestamp_seconds=time.time())
    backup_metrics.record_verify(backups, ok=False)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "flightdeck", "metrics", "serve", "--no-rollouts",
         "--dir", str(backups), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(REPO_ROOT / "monitoring/prometheus/rules/backup.yaml")],
        "scrape_configs": [
            {"job_name": "flightdeck", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    prometheus = Prometheus(tmp_path / "prometheus", config=tmp_path / "prometheus.yml")
    required_tool("prometheus")
    try:
        wait_for_port(port)
        prometheus.start()

        def query(expression: str) -> list[dict[str, object]]:
            answer = httpx.get(
                f"{prometheus.url}/api/v1/query", params={"query": expression}, timeout=5
            ).json()
            result: list[dict[str, object]] = answer["data"]["result"]
            return result

        def firing() -> set[str]:
            alerts = httpx.get(f"{prometheus.url}/api/v1/alerts", timeout=5).json()
            return {
                alert["labels"]["alertname"]
                for alert in alerts["data"]["alerts"]
                if alert["state"] == "firing"
            }

        wait_until(lambda: "BackupVerifyFailed" in firing(), timeout=30, what="BackupVerifyFailed")
        assert query('flightdeck_backup_last_verify_success{job="flightdeck"}')
        assert query("absent(flightdeck_backup_last_success_timestamp_seconds)") == []
        assert "BackupMissing" not in firing()
    finally:
        prometheus.stop()
        stop_process(process)


@pytest.mark.unit
def test_each_engine_says_where_its_records_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_platform_config(tmp_path)
    local = rollout_state("local", config)
    assert isinstance(local, FileStateStore)
    assert local.directory == tmp_path / "run" / "state" / "rollouts"
    with pytest.raises(ConfigError, match=r"unknown engine 'cloud' \(known: kubernetes, local\)"):
        rollout_state("cloud", None)
    for name in list(os.environ):
        if name.startswith("FLIGHTDECK_"):
            monkeypatch.delenv(name)
    # The records need only where the release is, none of the rollout settings.
    with pytest.raises(ConfigError) as missing:
        rollout_state("kubernetes", None)
    assert str(missing.value) == (
        "--target kubernetes: FLIGHTDECK_NAMESPACE: is not set; FLIGHTDECK_RELEASE: is not set"
    )


@pytest.mark.unit
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "localhost;rm"], "is not an IP address"),
        (["--port", "0"], "should be greater than or equal to 1"),
        (["--dir", "/etc/hostname"], "is a file"),
    ],
)
def test_bad_options_are_usage_errors(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as ended:
        main(["metrics", "serve", "--no-rollouts", *args])
    assert ended.value.code == 2
    assert message in " ".join(capsys.readouterr().err.split())
