"""The pipeline runner: the stages in order, one approval, a record of every stage, a summary.

The runner knows nothing of what a stage does: each stage is a `StageAction` that the engine's
composition root supplies (`engines/pipeline.py` for the local engine). The rules live here:

- stages run in the order of `STAGES`; `--from` and `--skip` leave stages out, and the summary
  says which and why;
- before a stage that needs an approval (production) the `Approver` is asked; without one the
  pipeline stops there, with its own exit code (4), and production is not touched;
- a stage that fails stops the pipeline: the stages after it do not run, except those that
  report (`Stage.always`: notify), which run with the failure in the summary. The failed stage
  and its reason are in the summary and the exit code is 1. Whatever the stage changed, it
  undoes itself (the staging track is removed, blue-green switches back): the runner never
  leaves a half-done stage to the next one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from flightdeck.core.errors import FlightdeckError
from flightdeck.core.files import write_atomically
from flightdeck.history import HistoryStore, record_pipeline_run
from flightdeck.pipeline.stages import STAGES, Stage, StageName, stage_named

StageStatus = Literal["running", "passed", "failed", "skipped", "not run", "not approved"]
Outcome = Literal["succeeded", "failed", "not approved"]

EXIT_CODES: dict[Outcome, int] = {"succeeded": 0, "failed": 1, "not approved": 4}
"""0 every stage that ran passed, 1 a stage failed, 4 stopped before production: no approval
(2 stays the usage and configuration error of every command)."""


class StageFailed(FlightdeckError):
    """A stage did its work and found a failure (a test, a smoke test, a rolled back release)."""


@dataclass(frozen=True)
class Release:
    """What the pipeline delivers: a version label and the commit it is built from."""

    version: str
    commit: str | None = None
    uncommitted_changes: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    """Environment for the new version's processes (`--set`)."""


@dataclass
class StageResult:
    stage: Stage
    status: StageStatus
    detail: str = ""
    seconds: float | None = None
    """How long it ran; None when it did not run here (or its runner does not say)."""
    links: dict[str, str] = field(default_factory=dict)
    """Where to look: a report, a log, a dashboard."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.stage.number,
            "stage": self.stage.name,
            "title": self.stage.title,
            "status": self.status,
            "detail": self.detail,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "links": dict(self.links),
        }


@dataclass(frozen=True)
class StageReport:
    """What a stage that passed says about itself."""

    detail: str
    links: Mapping[str, str] = field(default_factory=dict)


@dataclass
class PipelineRun:
    run_id: str
    release: Release
    directory: Path
    """Where the stages' logs, the summary and the reports of this run are written."""
    started_at: datetime
    finished_at: datetime | None = None
    results: list[StageResult] = field(default_factory=list)
    approval: str | None = None
    """Who or what approved production, or why it was not approved; None if never asked."""
    links: dict[str, str] = field(default_factory=dict)
    """Links for the whole run (dashboards, Prometheus)."""

    @property
    def failed(self) -> StageResult | None:
        return next((result for result in self.results if result.status == "failed"), None)

    @property
    def outcome(self) -> Outcome:
        if self.failed is not None:
            return "failed"
        if any(result.status == "not approved" for result in self.results):
            return "not approved"
        return "succeeded"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    def result(self, name: StageName) -> StageResult | None:
        return next((result for result in self.results if result.stage.name == name), None)

    def log(self, name: StageName) -> Path:
        """The stage's log: the output of the programs it runs."""
        return self.directory / f"{stage_named(name).number}-{name}.log"

    def as_dict(self) -> dict[str, Any]:
        failed = self.failed
        return {
            "run_id": self.run_id,
            "version": self.release.version,
            "commit": self.release.commit,
            "uncommitted_changes": self.release.uncommitted_changes,
            "outcome": self.outcome,
            "failed_stage": failed.stage.name if failed else None,
            "reason": failed.detail if failed else None,
            "approval": self.approval,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "directory": str(self.directory),
            "stages": [result.as_dict() for result in self.results],
            "links": dict(self.links),
        }


class StageAction(Protocol):
    def __call__(self, run: PipelineRun) -> StageReport:
        """Do the stage's work; raise StageFailed (or any FlightdeckError) with the reason."""
        ...


@dataclass(frozen=True)
class Approval:
    granted: bool
    by: str
    """How it was decided: `--approve`, a person at the terminal, or why nobody could."""


Approver = Callable[[Stage, Release], Approval]


class Progress(Protocol):
    def running(self, stage: Stage, run: PipelineRun) -> AbstractContextManager[object]:
        """Shown while the stage runs (a spinner, a line)."""
        ...

    def stage_finished(self, result: StageResult, run: PipelineRun) -> None:
        """The stage's result, as soon as it is known."""
        ...


def run_pipeline(
    actions: Mapping[StageName, StageAction],
    run: PipelineRun,
    approve: Approver,
    progress: Progress,
    start_from: StageName | None = None,
    skip: Iterable[StageName] = (),
) -> PipelineRun:
    """Run the stages in order (see the module's docstring for the rules); returns `run`."""
    missing = [stage.name for stage in STAGES if stage.name not in actions]
    if missing:
        raise ValueError(f"no action for the stages {', '.join(missing)}")
    skipped = set(skip)
    reached_start = start_from is None
    stopped: StageResult | None = None
    run.directory.mkdir(parents=True, exist_ok=True)
    for stage in STAGES:
        reached_start = reached_start or stage.name == start_from
        if not reached_start:
            run.results.append(StageResult(stage, "skipped", f"--from {start_from}"))
            continue
        if stage.name in skipped:
            run.results.append(StageResult(stage, "skipped", "--skip"))
            continue
        if stopped is not None and not stage.always:
            run.results.append(StageResult(stage, "not run", f"stage {stopped.stage.name} stopped"))
            continue
        if stage.approval and stopped is None:
            approval = approve(stage, run.release)
            run.approval = approval.by
            if not approval.granted:
                stopped = StageResult(stage, "not approved", approval.by)
                run.results.append(stopped)
                progress.stage_finished(stopped, run)
                continue
        result = run_stage(stage, actions[stage.name], run, progress)
        if result.status == "failed" and stopped is None:
            stopped = result
    run.finished_at = datetime.now(UTC)
    return run


def run_stage(
    stage: Stage, action: StageAction, run: PipelineRun, progress: Progress
) -> StageResult:
    """Run one stage, record its result in `run` (a failure is a result, never an exception)."""
    started = time.monotonic()
    # Appended before the action runs: the notify stage reports the run as it stands.
    result = StageResult(stage, "running", "this stage")
    run.results.append(result)
    try:
        with progress.running(stage, run):
            report = action(run)
    except (FlightdeckError, OSError) as exc:
        result.status, result.detail = "failed", str(exc) or type(exc).__name__
        if run.log(stage.name).exists():
            result.links["log"] = str(run.log(stage.name))
    else:
        result.status, result.detail = "passed", report.detail
        result.links.update(report.links)
    result.seconds = time.monotonic() - started
    progress.stage_finished(result, run)
    return result


def save_run(run: PipelineRun) -> Path:
    """Keep the run's record (what `--json` prints) as `run.json` in its directory."""
    path = run.directory / "run.json"
    write_atomically(path, json.dumps(run.as_dict(), indent=2, sort_keys=True) + "\n")
    return path


HISTORY_OUTCOMES: dict[Outcome, Literal["succeeded", "failed", "cancelled"]] = {
    "succeeded": "succeeded",
    "failed": "failed",
    "not approved": "cancelled",
}


def record_run(store: HistoryStore, run: PipelineRun, committed_at: datetime | None) -> None:
    """Append the finished run to the delivery history (the KPIs' deployment time and, with
    the commit's time, lead time); raises what the store raises."""
    failed = run.failed
    release = run.release
    record_pipeline_run(
        store,
        run.run_id,
        version=release.version,
        started_at=run.started_at,
        finished_at=run.finished_at or datetime.now(UTC),
        outcome=HISTORY_OUTCOMES[run.outcome],
        commit=release.commit,
        # A checkout with changes is not the commit: no lead time from it.
        committed_at=None if release.uncommitted_changes else committed_at,
        reason=(f"stage {failed.stage.name}: {failed.detail}"[:2000] if failed else None),
        stages={result.stage.name: result.status for result in run.results},
    )
