"""`flightdeck pipeline run` end to end on a local platform of this module's own.

The command runs as a user runs it (a subprocess without a terminal), against a whole local
platform: a good release goes from the build to production; a release whose new colour fails
the production monitor is switched back and the pipeline fails at stage 5; a release that
fails its staging smoke tests never reaches production; without an approval nothing reaches
production. After each run production serves what it should, and no staging or candidate track
is left behind. Notifications go to a recording webhook. The rollout commands that the
workflows call besides (`bluegreen start --report`, the backstop's `canary tick --if-running`)
run on the same platform at the end.

Stage 1 (`scripts/test.sh --fast`: the linters and the unit tier) is left out with `--skip`:
`make test` runs exactly that already, and running it again inside this test would double it.
The platform is this module's own because blue-green rollouts change which track serves.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from flightdeck.engines.local import LocalPlatform, local_history
from testsupport.platform import running_platform
from testsupport.traffic import Traffic
from testsupport.webhook import Recorder, recording

pytestmark = pytest.mark.e2e

VERSIONS = (f"5.{n}.0" for n in itertools.count(1))
COLOURS = ("blue", "green")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    with running_platform(
        tmp_path_factory.mktemp("pipeline"),
        rate_limit={"requests_per_second": 5000, "burst": 5000},
    ) as started:
        yield started


@pytest.fixture(scope="module")
def webhook() -> Iterator[Recorder]:
    with recording() as server:
        yield server


@pytest.fixture(scope="module")
def spec(platform: LocalPlatform, webhook: Recorder) -> Path:
    """The production rollout, short: an 8 s monitor judged every 2 s, behind a manual gate
    (which the pipeline opens: production was approved before the stage)."""
    path = platform.config.run_dir.parent / "production.yaml"
    body: dict[str, Any] = {
        "name": "backend",
        "strategy": {"type": "bluegreen", "monitor": "8s", "auto_promotion": False},
        "analysis": {
            "interval": "2s",
            "window": "4s",
            "min_requests": 5,
            "inconclusive": {"policy": "rollback", "limit": 4},
            # Two shared cores: P95s of tens of ms jump; judge ratios only above 250 ms (the
            # bad version adds 300 ms).
            "thresholds": {"p95_ratio_floor_seconds": 0.25},
        },
        "timeouts": {"candidate_ready": "60s", "baseline_ready": "60s"},
        "notifications": {"urls": [f"json://{webhook.url}/pipeline"]},
    }
    path.write_text(yaml.safe_dump(body))
    return path


def pipeline(platform: LocalPlatform, spec: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    """Run the pipeline as a script does: no terminal on stdin. Exit code, JSON, stderr."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "flightdeck",
            "pipeline",
            "run",
            "--config",
            str(platform.config.run_dir.parent / "flightdeck.yaml"),
            "--spec",
            str(spec),
            "--traffic",
            "20",
            "--json",
            *args,
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    result = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, result, done.stderr


def statuses(result: dict[str, Any]) -> dict[str, str]:
    return {stage["stage"]: stage["status"] for stage in result["stages"]}


def serving(platform: LocalPlatform) -> tuple[str, str]:
    active = platform.router.current().active
    spec = platform.workloads.get(active)
    assert spec is not None, f"nothing runs on the serving track {active}"
    return active, spec.version


def only_serving_runs(platform: LocalPlatform) -> None:
    """No staging colour and no candidate left: only the serving track runs."""
    active = platform.router.current()
    assert active.preview is None
    assert not active.canary_active
    for track in ("canary", *COLOURS):
        if track != active.active:
            assert platform.workloads.get(track) is None, f"{track} was left running"


def titles(webhook: Recorder) -> list[str]:
    return [request["body"]["title"] for request in webhook.requests]


def test_a_good_release_goes_from_the_build_to_production(
    platform: LocalPlatform, spec: Path, webhook: Recorder
) -> None:
    before, _ = serving(platform)
    version = next(VERSIONS)
    code, result, stderr = pipeline(
        platform, spec, "--skip", "validate", "--approve", "--version", version
    )
    assert code == 0, stderr
    assert result["outcome"] == "succeeded"
    assert statuses(result) == {
        "validate": "skipped",
        "build": "passed",
        "backup": "passed",
        "staging": "passed",
        "production": "passed",
        "validate-deployment": "passed",
        "notify": "passed",
    }
    assert result["approval"] == "--approve"
    assert "the manual gate opens: production was approved for this stage" in stderr
    active, running = serving(platform)
    assert active != before
    assert running == version
    only_serving_runs(platform)
    stages = {stage["stage"]: stage for stage in result["stages"]}
    assert "verified in azure" in stages["backup"]["detail"]
    assert (
        "wheels flightdeck-0.1.0-py3-none-any.whl, flightdeck_backend" in stages["build"]["detail"]
    )
    assert "5 smoke tests passed" in stages["staging"]["detail"]
    assert (
        "every check passed (replicas, scaling, metrics, smoke)"
        in stages["validate-deployment"]["detail"]
    )
    directory = Path(result["directory"])
    assert (directory / "frontend" / "index.html").is_file()
    assert "<html" in (directory / "production-report.html").read_text()
    summary = (directory / "summary.md").read_text()
    assert f"## Release {version}: delivered to production" in summary
    assert "validate (--skip)" in summary
    assert json.loads((directory / "run.json").read_text())["outcome"] == "succeeded"
    assert f"Release {version}: delivered to production" in titles(webhook)
    assert f"Blue-green rollout of {version} promoted" in titles(webhook)
    runs = [
        entry
        for entry in local_history(platform.context).read()
        if entry.kind == "pipeline.run" and entry.version == version
    ]
    assert [(entry.outcome, entry.details["run"]) for entry in runs] == [
        ("succeeded", result["run_id"])
    ]


def test_a_release_failing_its_monitor_is_switched_back_and_fails_at_stage_5(
    platform: LocalPlatform, spec: Path, webhook: Recorder
) -> None:
    before = serving(platform)
    version = next(VERSIONS)
    code, result, stderr = pipeline(
        platform,
        spec,
        "--from",
        "staging",
        "--approve",
        "--version",
        version,
        "--set",
        "FAULT_LATENCY_MS=300",
    )
    assert code == 1, stderr
    assert result["outcome"] == "failed"
    assert result["failed_stage"] == "production"
    assert "switched back" in result["reason"]
    assert "p95" in result["reason"]
    assert statuses(result) == {
        "validate": "skipped",
        "build": "skipped",
        "backup": "skipped",
        "staging": "passed",
        "production": "failed",
        "validate-deployment": "not run",
        "notify": "passed",
    }
    assert "stage 5 (Deploy to production)" in stderr or "Deploy to production" in stderr
    assert serving(platform) == before
    only_serving_runs(platform)
    assert f"Release {version}: failed at stage 5 (Deploy to production)" in titles(webhook)


def test_a_rollout_that_pauses_is_aborted_rather_than_left_waiting(
    platform: LocalPlatform, spec: Path, tmp_path: Path
) -> None:
    """Without requests the monitor has nothing to judge: it ends without a decision and the
    spec says pause; nobody would resume it, so the pipeline aborts it, switching back."""
    body = yaml.safe_load(spec.read_text())
    body["analysis"]["inconclusive"] = {"policy": "pause", "limit": 2}
    pausing = tmp_path / "pausing.yaml"
    pausing.write_text(yaml.safe_dump(body))
    before = serving(platform)
    code, result, stderr = pipeline(
        platform, pausing, "--from", "production", "--approve", "--version", next(VERSIONS),
        "--traffic", "0",
    )  # fmt: skip
    assert code == 1, stderr
    assert result["failed_stage"] == "production"
    # The default (sequential) judge: no decision by the monitor's end plus its grace.
    assert result["reason"].startswith("the rollout paused (no decision in the monitor"), result
    assert "the pipeline aborted it: blue-green rollout" in result["reason"]
    assert "switched back" in result["reason"]
    assert serving(platform) == before
    only_serving_runs(platform)


def test_a_release_failing_staging_never_reaches_production(
    platform: LocalPlatform, spec: Path
) -> None:
    before = serving(platform)
    code, result, _ = pipeline(
        platform,
        spec,
        "--from",
        "staging",
        "--approve",
        "--version",
        next(VERSIONS),
        "--set",
        "FAULT_ERROR_RATE=1",
    )
    assert code == 1
    assert result["failed_stage"] == "staging"
    assert "smoke test" in result["reason"]
    assert statuses(result)["production"] == "not run"
    assert result["approval"] is None
    assert serving(platform) == before
    only_serving_runs(platform)


def test_without_an_approval_nothing_reaches_production(
    platform: LocalPlatform, spec: Path, webhook: Recorder
) -> None:
    before = serving(platform)
    version = next(VERSIONS)
    code, result, stderr = pipeline(platform, spec, "--from", "staging", "--version", version)
    assert code == 4, stderr
    assert result["outcome"] == "not approved"
    assert statuses(result)["staging"] == "passed"
    assert statuses(result)["production"] == "not approved"
    assert statuses(result)["validate-deployment"] == "not run"
    assert statuses(result)["notify"] == "passed"
    assert "--approve" in result["approval"]
    assert "no --approve and no terminal" in stderr
    assert serving(platform) == before
    only_serving_runs(platform)
    assert f"Release {version}: stopped before production: not approved" in titles(webhook)


def test_the_serving_version_again_is_refused_before_any_stage(
    platform: LocalPlatform, spec: Path
) -> None:
    _, version = serving(platform)
    runs = platform.config.run_dir / "pipeline"
    before = sorted(runs.iterdir())
    code, result, stderr = pipeline(platform, spec, "--approve", "--version", version)
    assert code == 2
    assert result == {}
    assert f"--version {version} is already the serving version" in stderr
    assert sorted(runs.iterdir()) == before


def test_the_backups_the_pipeline_made_are_listed_verified(platform: LocalPlatform) -> None:
    env = {**os.environ, "FLIGHTDECK_BACKUP_ENV_FILE": str(platform.run_dir.root / "backup.env")}
    listed = subprocess.run(
        [sys.executable, "-m", "flightdeck", "backup", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    backups = json.loads(listed.stdout)
    assert any(entry["verified"] and len(entry["stores"]) == 2 for entry in backups), backups


# -- the rollout commands the workflows call ------------------------------------------------------


def flightdeck(platform: LocalPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "flightdeck",
            *args,
            "--config",
            str(platform.config.run_dir.parent / "flightdeck.yaml"),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_blue_green_start_writes_its_report(
    platform: LocalPlatform, spec: Path, tmp_path: Path
) -> None:
    version = next(VERSIONS)
    report = tmp_path / "rollout-report.html"
    body = yaml.safe_load(spec.read_text())
    body["strategy"]["auto_promotion"] = True  # no gate: nobody would `promote` here
    ungated = tmp_path / "ungated.yaml"
    ungated.write_text(yaml.safe_dump(body))
    with Traffic(platform, rate=20):
        done = flightdeck(
            platform, "bluegreen", "start", "--version", version, "--spec", str(ungated),
            "--report", str(report),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert serving(platform)[1] == version
    html = report.read_text()
    assert f"-&gt; {version}" in html or f"-> {version}" in html
    assert "Succeeded" in html


def test_the_backstop_tick_does_nothing_when_no_rollout_runs(platform: LocalPlatform) -> None:
    backstop = flightdeck(platform, "canary", "tick", "--if-running")
    assert backstop.returncode == 0, backstop.stderr
    assert "no rollout 'backend' is running (the last one ended Succeeded)" in backstop.stderr
    plain = flightdeck(platform, "canary", "tick")
    assert plain.returncode == 0  # the last rollout succeeded: its exit code
    assert "Succeeded" in plain.stdout
