"""`flightdeck validate --target local` on the real platform: healthy, a replica killed or
stopped, a Prometheus target down, Prometheus itself down; the table, the JSON and exit codes.

Every test leaves the platform as it found it: a killed replica is restarted on purpose (which
starts its restart history anew, like a new pod), a stopped one started again, the scrape targets
rewritten, and the last assertion of each test is that the platform validates again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flightdeck.engines import validation_target
from flightdeck.engines.local import LocalPlatform
from flightdeck.metrics.prometheus import PrometheusProvider
from flightdeck.validate.checks import ValidationOptions, validate
from flightdeck.validate.report import CheckReport, ValidationReport
from testsupport.waiting import wait_until

pytestmark = pytest.mark.e2e

DEAD_TARGET = "127.0.0.1:9"  # the discard port: nothing listens there


def config_file(platform: LocalPlatform) -> Path:
    """The platform's config file (testsupport.platform writes it next to the run directory)."""
    path = platform.run_dir.root.parent / "flightdeck.yaml"
    assert path.is_file(), path
    return path


def flightdeck(platform: LocalPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "250"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "flightdeck",
            "validate",
            "--config",
            str(config_file(platform)),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )


def run(platform: LocalPlatform, **options: Any) -> ValidationReport:
    """The validation in this process (what the command runs, without starting Python again)."""
    return validate(validation_target("local", config_file(platform)), ValidationOptions(**options))


def check(report: ValidationReport | dict[str, Any], name: str) -> Any:
    checks = report["checks"] if isinstance(report, dict) else report.checks
    (found,) = [
        item for item in checks if (item["name"] if isinstance(item, dict) else item.name) == name
    ]
    return found


def failing(check_report: CheckReport) -> dict[str, str]:
    return {finding.subject: finding.detail for finding in check_report.problems}


def prometheus(platform: LocalPlatform) -> PrometheusProvider:
    return PrometheusProvider(f"http://127.0.0.1:{platform.config.ports.prometheus}")


def validated(platform: LocalPlatform, timeout: float = 60) -> ValidationReport:
    """The report once every check passes (Prometheus scrapes a restarted replica within its
    scrape interval); the last report in the failure message otherwise."""
    reports: list[ValidationReport] = []

    def passes() -> bool:
        reports.append(run(platform))
        return reports[-1].passed

    try:
        wait_until(passes, timeout=timeout, interval=1, what="validate to pass")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{json.dumps(reports[-1].as_dict(), indent=1)}") from None
    return reports[-1]


def test_a_healthy_platform_passes_with_a_table_and_exit_0(platform: LocalPlatform) -> None:
    validated(platform)
    result = flightdeck(platform)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "every check passed" in result.stderr
    version = platform.workloads.get("stable")
    assert version is not None
    assert f"flightdeck validate --target local: serving stable {version.version}" in result.stdout
    lines = result.stdout.splitlines()
    for name in ("replicas", "scaling", "metrics", "smoke"):
        assert any(line.startswith(f"│ {name} ") for line in lines), result.stdout
    for replica in platform.context.tracks.load()["stable"].replicas:
        assert any(replica.name in line and " ok " in line for line in lines), result.stdout
    assert "FAIL" not in result.stdout


def test_the_json_report(platform: LocalPlatform) -> None:
    validated(platform)
    result = flightdeck(platform, "--json", "--restart-window", "5m", "--skip", "smoke")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    stable = platform.workloads.get("stable")
    assert stable is not None
    assert report["engine"] == "local"
    assert report["passed"] is True
    assert report["failed"] == []
    assert report["restart_window_seconds"] == 300
    assert report["serving"] == [{"track": "stable", "version": stable.version}]
    assert [(item["name"], item["status"]) for item in report["checks"]] == [
        ("replicas", "pass"),
        ("scaling", "pass"),
        ("metrics", "pass"),
        ("smoke", "skipped"),
    ]
    replicas = [replica.name for replica in platform.context.tracks.load()["stable"].replicas]
    subjects = [finding["subject"] for finding in check(report, "replicas")["findings"]]
    assert subjects == ["track stable", *replicas]
    metrics = {finding["subject"] for finding in check(report, "metrics")["findings"]}
    assert f"http_requests_total (stable {stable.version})" in metrics
    assert f"http_request_duration_seconds_bucket (stable {stable.version})" in metrics
    for item in report["checks"]:
        for finding in item["findings"]:
            assert set(finding) == {"subject", "ok", "detail"}
            assert finding["ok"] is True


def test_usage_and_config_errors_exit_2(platform: LocalPlatform, tmp_path: Path) -> None:
    bad_window = flightdeck(platform, "--restart-window", "soon")
    assert bad_window.returncode == 2
    assert "--restart-window: 'soon' is not a duration" in bad_window.stderr
    elsewhere = tmp_path / "flightdeck.yaml"
    elsewhere.write_text(f"run_dir: {tmp_path / 'run'}\n")
    not_up = subprocess.run(
        [sys.executable, "-m", "flightdeck", "validate", "--config", str(elsewhere)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert not_up.returncode == 2
    assert "the local platform is not up" in not_up.stderr


def test_a_prometheus_target_down_fails_the_metrics_check(platform: LocalPlatform) -> None:
    validated(platform)
    targets = platform.run_dir.conf / "targets" / "backend.json"
    groups = json.loads(targets.read_text())
    stable = platform.workloads.get("stable")
    assert stable is not None
    # A target Prometheus discovers but cannot scrape, labelled like the stable replicas.
    labels = {"track": "stable", "version": stable.version}
    targets.write_text(json.dumps([*groups, {"targets": [DEAD_TARGET], "labels": labels}]))
    dead = f'up{{job="backend",instance="{DEAD_TARGET}"}}'
    try:
        wait_until(
            lambda: prometheus(platform).query(dead) == 0,
            timeout=60,
            what="Prometheus to find the dead target down",
        )
        result = flightdeck(platform, "--json")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "validation failed: metrics" in result.stderr
        report = json.loads(result.stdout)
        assert report["failed"] == ["metrics"]
        problems = [f for f in check(report, "metrics")["findings"] if not f["ok"]]
        replicas = len(platform.context.tracks.load()["stable"].replicas)
        assert problems == [
            {
                "subject": "backend targets",
                "ok": False,
                "detail": f"1 of {replicas + 1} down "
                '(they are listed by `up{job="backend"} == 0`)',
            }
        ]
    finally:
        platform.workloads.write_scrape_targets()
    wait_until(
        lambda: prometheus(platform).query(dead) is None,
        timeout=60,
        what="Prometheus to drop the dead target",
    )
    validated(platform)


def test_prometheus_down_fails_the_metrics_check_with_the_reason(platform: LocalPlatform) -> None:
    validated(platform)
    platform.supervisor.stop_process("prometheus", "prometheus")
    try:
        report = run(platform, skip=frozenset({"smoke"}))
    finally:
        platform.supervisor.start_process("prometheus", "prometheus")
    assert report.failed == ["metrics"]
    (finding,) = check(report, "metrics").findings
    assert finding.detail.startswith(
        f"could not check: Prometheus at http://127.0.0.1:{platform.config.ports.prometheus} "
        "did not answer"
    )
    validated(platform)


def test_a_killed_replica_fails_the_replicas_check_for_the_restart_window(
    platform: LocalPlatform,
) -> None:
    validated(platform)
    replica = platform.context.tracks.load()["stable"].replicas[-1]
    info = platform.supervisor.process(replica.name, replica.name)
    assert info is not None
    os.kill(info["pid"], signal.SIGKILL)
    try:
        # supervisord starts it again at once: it runs, but it restarted.
        wait_until(
            lambda: (
                (now := platform.supervisor.process(replica.name, replica.name))
                and now["pid"] != info["pid"]
                and now["statename"] == "RUNNING"
            ),
            timeout=30,
            what=f"supervisord to restart {replica.name}",
        )
        platform.workloads.wait_ready("stable", 30)
        result = flightdeck(platform, "--json", "--skip", "smoke")
        assert result.returncode == 1, result.stdout + result.stderr
        report = json.loads(result.stdout)
        assert "replicas" in report["failed"]
        assert "validation failed: replicas" in result.stderr
        findings = {f["subject"]: f for f in check(report, "replicas")["findings"]}
        assert findings[replica.name]["ok"] is False
        assert (
            "(terminated by SIGKILL; not expected), within the 10m restart window"
            in (findings[replica.name]["detail"])
        )
        others = [name for name, f in findings.items() if name not in (replica.name,)]
        assert all(findings[name]["ok"] for name in others), findings

        # Outside a shorter window, the same restart passes.
        wait_until(
            lambda: "replicas" not in run(platform, restart_window=timedelta(seconds=1)).failed,
            timeout=30,
            what="the restart to fall outside a 1s window",
        )
    finally:
        # Restarted on purpose: a new history, as a new pod would have.
        platform.supervisor.stop_process(replica.name, replica.name)
        platform.supervisor.start_process(replica.name, replica.name)
        platform.workloads.wait_ready("stable", 30)
    validated(platform)


def test_a_stopped_replica_fails_the_replicas_and_scaling_checks(platform: LocalPlatform) -> None:
    validated(platform)
    replica = platform.context.tracks.load()["stable"].replicas[0]
    platform.supervisor.stop_process(replica.name, replica.name)
    try:
        report = run(platform, skip=frozenset({"smoke", "metrics"}))
    finally:
        platform.supervisor.start_process(replica.name, replica.name)
        platform.workloads.wait_ready("stable", 30)
    assert report.failed == ["replicas", "scaling"]
    assert failing(check(report, "replicas")) == {
        replica.name: f"not running (STOPPED, port {replica.port}, /health/ready: not asked)"
    }
    replicas = platform.config.backend.replicas
    assert failing(check(report, "scaling")) == {
        "track stable": f"{replicas} configured (flightdeck.yaml backend.replicas), "
        f"{replicas - 1} running"
    }
    validated(platform)
