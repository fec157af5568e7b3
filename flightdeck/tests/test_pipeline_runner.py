"""The pipeline runner's rules, with stage actions that only record that they ran.

The actions stand in for the stages' work (tested on the real platform in
tests/e2e/test_pipeline.py); what is under test here is the order, `--from`/`--skip`, the
approval gate, what a failure stops and what still runs, the exit codes and the summary.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flightdeck import cli
from flightdeck.core.errors import ConfigError
from flightdeck.history import history_store
from flightdeck.pipeline.commands import run_logged
from flightdeck.pipeline.release import commit_version, github_version, resolve_release
from flightdeck.pipeline.runner import (
    Approval,
    PipelineRun,
    Release,
    StageFailed,
    StageReport,
    StageResult,
    record_run,
    run_pipeline,
    save_run,
)
from flightdeck.pipeline.stages import STAGE_NAMES, STAGES, Stage, StageName, stage_named
from flightdeck.pipeline.summary import markdown

pytestmark = pytest.mark.unit

SHA = "0123456789abcdef0123456789abcdef01234567"


class Recorder:
    """Stage actions that record their calls; `fail` makes a stage fail with a reason."""

    def __init__(self, fail: dict[StageName, str] | None = None) -> None:
        self.ran: list[StageName] = []
        self.fail = fail or {}
        self.seen_by_notify: dict[str, str] = {}

    def actions(self) -> dict[StageName, object]:
        def action(name: StageName) -> object:
            def run(state: PipelineRun) -> StageReport:
                self.ran.append(name)
                if name == "notify":
                    self.seen_by_notify = {r.stage.name: r.status for r in state.results}
                if name in self.fail:
                    raise StageFailed(self.fail[name])
                return StageReport(f"{name} done", {f"{name} log": f"/logs/{name}"})

            return run

        return {name: action(name) for name in STAGE_NAMES}


class Progress:
    def __init__(self) -> None:
        self.finished: list[StageResult] = []

    @contextlib.contextmanager
    def running(self, stage: Stage, run: PipelineRun) -> Iterator[None]:
        yield

    def stage_finished(self, result: StageResult, run: PipelineRun) -> None:
        self.finished.append(result)


def approve(granted: bool) -> object:
    def decide(stage: Stage, release: Release) -> Approval:
        return Approval(granted, "--approve" if granted else "nobody to ask")

    return decide


def new_run(tmp_path: Path) -> PipelineRun:
    return PipelineRun("run-1", Release("2.0.0", SHA), tmp_path / "run", datetime.now(UTC))


def go(tmp_path: Path, recorder: Recorder, granted: bool = True, **options: object) -> PipelineRun:
    return run_pipeline(
        recorder.actions(),  # type: ignore[arg-type]
        new_run(tmp_path),
        approve=approve(granted),  # type: ignore[arg-type]
        progress=Progress(),
        **options,  # type: ignore[arg-type]
    )


def statuses(run: PipelineRun) -> dict[str, str]:
    return {result.stage.name: result.status for result in run.results}


def test_the_stages_are_the_architectures_seven_in_order() -> None:
    assert [stage.number for stage in STAGES] == list(range(1, 8))
    assert [stage.name for stage in STAGES] == list(STAGE_NAMES)
    assert [stage.name for stage in STAGES if stage.approval] == ["production"]
    assert [stage.name for stage in STAGES if stage.always] == ["notify"]


def test_an_unknown_stage_name_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="'deploy' is not a stage; the stages: validate, build"):
        stage_named("deploy", "--from")


def test_a_good_run_runs_every_stage_in_order(tmp_path: Path) -> None:
    recorder = Recorder()
    run = go(tmp_path, recorder)
    assert recorder.ran == list(STAGE_NAMES)
    assert set(statuses(run).values()) == {"passed"}
    assert run.outcome == "succeeded"
    assert run.exit_code == 0
    assert run.approval == "--approve"
    assert run.finished_at is not None
    assert all(result.seconds is not None for result in run.results)


def test_a_failed_stage_stops_the_pipeline_but_the_failure_is_still_reported(
    tmp_path: Path,
) -> None:
    recorder = Recorder(fail={"staging": "smoke test version failed: version is '1.0.0'"})
    run = go(tmp_path, recorder)
    assert recorder.ran == ["validate", "build", "backup", "staging", "notify"]
    assert statuses(run) == {
        "validate": "passed",
        "build": "passed",
        "backup": "passed",
        "staging": "failed",
        "production": "not run",
        "validate-deployment": "not run",
        "notify": "passed",
    }
    assert recorder.seen_by_notify["staging"] == "failed"
    assert recorder.seen_by_notify["notify"] == "running"
    assert run.failed is not None
    assert run.failed.stage.name == "staging"
    assert run.outcome == "failed"
    assert run.exit_code == 1
    assert run.approval is None  # never asked: production was not reached
    summary = markdown(run)
    assert "failed at stage 4 (Deploy to staging)" in summary
    assert "smoke test version failed: version is '1.0.0'" in summary


def test_without_approval_production_is_never_touched(tmp_path: Path) -> None:
    recorder = Recorder()
    run = go(tmp_path, recorder, granted=False)
    assert "production" not in recorder.ran
    assert "validate-deployment" not in recorder.ran
    assert recorder.ran[-1] == "notify"
    assert statuses(run)["production"] == "not approved"
    assert run.outcome == "not approved"
    assert run.exit_code == 4
    assert "stopped before production: not approved" in markdown(run)


def test_from_and_skip_leave_stages_out_and_say_so(tmp_path: Path) -> None:
    recorder = Recorder()
    run = go(tmp_path, recorder, start_from="backup", skip=["staging"])
    assert recorder.ran == ["backup", "production", "validate-deployment", "notify"]
    assert statuses(run)["validate"] == statuses(run)["build"] == "skipped"
    assert run.result("build").detail == "--from backup"  # type: ignore[union-attr]
    assert run.result("staging").detail == "--skip"  # type: ignore[union-attr]
    summary = markdown(run)
    assert "left out: validate (--from backup), build (--from backup), staging (--skip)" in summary
    assert run.outcome == "succeeded"


def test_a_failure_in_the_reporting_stage_fails_the_run(tmp_path: Path) -> None:
    run = go(tmp_path, Recorder(fail={"notify": "the summary could not be sent"}))
    assert run.outcome == "failed"
    assert run.failed is not None
    assert run.failed.stage.name == "notify"


def test_the_run_is_saved_as_json(tmp_path: Path) -> None:
    run = go(tmp_path, Recorder(fail={"production": "blue-green rollout RolledBack"}))
    saved = json.loads(save_run(run).read_text())
    assert saved["outcome"] == "failed"
    assert saved["failed_stage"] == "production"
    assert saved["reason"] == "blue-green rollout RolledBack"
    assert saved["version"] == "2.0.0"
    assert saved["commit"] == SHA
    assert [stage["stage"] for stage in saved["stages"]] == list(STAGE_NAMES)


def test_the_summary_is_markdown_that_user_text_cannot_break(tmp_path: Path) -> None:
    run = go(tmp_path, Recorder(fail={"backup": "a | b\n## not a heading"}))
    summary = markdown(run)
    assert "a \\| b ## not a heading" in summary
    assert "\n## not a heading" not in summary
    assert "- backup: backup log: /logs/backup" not in summary  # a failed stage has no report
    assert "- build: build log: /logs/build" in summary


def test_a_run_goes_into_the_delivery_history(tmp_path: Path) -> None:
    store = history_store("jsonl", tmp_path / "history.jsonl")
    committed = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    failed = go(tmp_path, Recorder(fail={"production": "rolled back: p95 0.41s > 1.5x"}))
    record_run(store, failed, committed)
    declined = go(tmp_path, Recorder(), granted=False)
    declined.run_id = "run-2"
    record_run(store, declined, committed)
    entries = {entry.kind: entry for entry in store.read() if entry.kind != "change"}
    runs = [entry for entry in store.read() if entry.kind == "pipeline.run"]
    assert [entry.outcome for entry in runs] == ["failed", "cancelled"]
    assert runs[0].reason == "stage production: rolled back: p95 0.41s > 1.5x"
    assert runs[0].details["stages"]["production"] == "failed"
    assert runs[1].details["stages"]["production"] == "not approved"
    assert runs[0].version == "2.0.0"
    assert runs[0].commit == SHA
    assert entries["pipeline.run"].started_at is not None
    changes = [entry for entry in store.read() if entry.kind == "change"]
    assert [(c.version, c.commit, c.committed_at) for c in changes] == [("2.0.0", SHA, committed)]


def test_a_checkout_with_changes_gives_no_lead_time(tmp_path: Path) -> None:
    store = history_store("jsonl", tmp_path / "history.jsonl")
    run = PipelineRun(
        "run-3", Release("2.0.1", SHA, uncommitted_changes=True), tmp_path, datetime.now(UTC)
    )
    record_run(store, run, datetime(2026, 11, 30, tzinfo=UTC))
    assert [entry.kind for entry in store.read()] == ["pipeline.run"]


def test_run_logged_names_the_command_its_exit_code_and_last_line(tmp_path: Path) -> None:
    log = tmp_path / "stage.log"
    with pytest.raises(
        StageFailed,
        match=r"`sh -c 'echo one; echo two >&2; exit 3'` failed "
        r"with exit code 3: two",
    ):
        run_logged(["sh", "-c", "echo one; echo two >&2; exit 3"], log, cwd=tmp_path)
    assert log.read_text().splitlines()[1:] == ["one", "two"]
    with pytest.raises(StageFailed, match="no-such-program is not installed"):
        run_logged(["no-such-program"], log, cwd=tmp_path)


def test_github_versions() -> None:
    assert github_version("refs/tags/v1.4.0", SHA) == "1.4.0"
    assert github_version("refs/heads/main", SHA) == "sha-0123456"
    assert github_version("refs/heads/main", SHA, "1.5.0-rc.1") == "1.5.0-rc.1"
    for ref, sha, requested in (
        ("refs/tags/v1;rm -rf", SHA, None),
        ("refs/heads/main", "not-a-sha", None),
        ("refs/heads/main", SHA, "$(id)"),
    ):
        with pytest.raises(ConfigError) as error:
            github_version(ref, sha, requested)
        assert error.value.exit_code == 2


def test_a_release_is_named_after_its_commit(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tmp_path), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    git("init", "-q")
    (tmp_path / "file").write_text("one")
    git("add", "file")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = git("rev-parse", "HEAD")
    release = resolve_release(tmp_path, None, None, {})
    assert release == Release(commit_version(head), head, False, {})
    (tmp_path / "file").write_text("two")
    dirty = resolve_release(tmp_path, None, None, {"A": "b"})
    assert dirty.version == f"sha-{head[:7]}-dirty"
    assert dirty.uncommitted_changes
    assert resolve_release(tmp_path, "3.0.0", "abcdef1", {}).commit == "abcdef1"
    with pytest.raises(ConfigError, match="--commit 'HEAD' is not a commit id"):
        resolve_release(tmp_path, None, "HEAD", {})
    with pytest.raises(ConfigError, match="--version is needed"):
        resolve_release(tmp_path / "nothing", None, None, {})


def flightdeck(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The CLI's exit code, stdout and stderr."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(list(args))
    output = capsys.readouterr()
    return int(exit_info.value.code or 0), output.out, output.err


def test_the_cli_refuses_bad_stage_names_with_exit_code_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = flightdeck(capsys, "pipeline", "run", "--skip", "everything")
    assert code == 2
    assert "--skip 'everything' is not a stage" in err


def test_notify_writes_the_github_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FLIGHTDECK_NOTIFY_URLS", raising=False)
    summary = tmp_path / "step-summary.md"
    summary.write_text("earlier step\n")
    results = [f"--result={name}=success" for name in STAGE_NAMES if name != "notify"]
    code, out, err = flightdeck(
        capsys,
        "pipeline",
        "notify",
        "--ref=refs/tags/v3.1.0",
        f"--sha={SHA}",
        *results[:-1],
        "--result=validate-deployment=failure",
        "--link=run=https://github.com/o/r/actions/runs/7",
        f"--summary-file={summary}",
        "--grafana-url=https://grafana.example",
        "--json",
    )
    assert code == 0, err
    text = summary.read_text()
    assert text.startswith("earlier step\n## Release 3.1.0: failed at stage 6")
    assert "https://grafana.example/d/flightdeck-app-overview" in text
    assert "- run: https://github.com/o/r/actions/runs/7" in text
    assert json.loads(out)["stages"][-1]["status"] == "passed"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--result=build=success"], "--result is missing for the stages validate, backup"),
        (["--result=build=ok"], "a GitHub job result is one of success, failure"),
        (["--result=deploy=success"], "--result 'deploy' is not a stage"),
        (
            [*(f"--result={n}=success" for n in STAGE_NAMES[:-1]), "--started-at=12:00"],
            "--started-at '12:00' is not an ISO 8601 time",
        ),
        (
            [*(f"--result={n}=success" for n in STAGE_NAMES[:-1]), "--link=x=javascript:alert(1)"],
            "--link 'x=javascript:alert(1)': expected NAME=https://...",
        ),
    ],
)
def test_notify_refuses_bad_input(
    arguments: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = flightdeck(
        capsys,
        "pipeline",
        "notify",
        "--ref=refs/heads/main",
        f"--sha={SHA}",
        f"--summary-file={tmp_path / 'summary.md'}",
        *arguments,
    )
    assert code == 2
    assert message in " ".join(err.split())
    assert not (tmp_path / "summary.md").exists()
