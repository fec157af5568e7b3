"""One backup cycle: take a backup, verify it, prune; each step recorded with its outcome.

`flightdeck backup cycle` runs one cycle (what a Kubernetes CronJob runs); the local runner
(`flightdeck backup schedule`) runs one at each slot of the cron schedule. A step that fails,
whatever the error, is recorded as failed with its reason and the later steps still run:
prune runs after a failed backup (it never deletes the newest backup nor the newest verified
one), and a verify that fails in any way publishes a failed verify result, so that the
BackupVerifyFailed alert fires.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from flightdeck.backup import metrics
from flightdeck.backup.engine import describe_failure, prune, run_backup, utcnow, verify_backup
from flightdeck.backup.manifest import Manifest
from flightdeck.backup.settings import BackupSettings
from flightdeck.core import terminal

Status = Literal["ok", "failed", "skipped"]


@dataclass
class StepOutcome:
    step: str
    status: Status
    detail: str
    seconds: float = 0.0


@dataclass
class CycleResult:
    steps: list[StepOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(step.status != "failed" for step in self.steps)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "steps": [asdict(step) for step in self.steps]}


def run_cycle(
    settings: BackupSettings,
    verify: bool = True,
    prune_after: bool = True,
    clock: Callable[[], datetime] = utcnow,
    verify_from: str | None = None,
) -> CycleResult:
    """Run, then verify the new backup, then prune; never raises for a step's failure.

    `verify_from` names the store whose copy is verified (default: the first that has it, the
    local directory first); a Kubernetes CronJob verifies the Azure copy, since its local
    directory is a scratch volume that goes with the pod.
    """
    result = CycleResult()

    def step(name: str, action: Callable[[], str]) -> bool:
        started = time.monotonic()
        try:
            detail = action()
        except Exception as exc:
            outcome = StepOutcome(name, "failed", describe_failure(exc))
            terminal.error(f"{name}: {outcome.detail}")
        else:
            outcome = StepOutcome(name, "ok", detail)
            terminal.success(f"{name}: {detail}")
        outcome.seconds = round(time.monotonic() - started, 3)
        result.steps.append(outcome)
        return outcome.status == "ok"

    made: list[Manifest] = []

    def backup() -> str:
        manifest = run_backup(settings, now=clock())
        made.append(manifest)
        return f"backup {manifest.id}, {manifest.stored_size} bytes stored"

    step("run", backup)
    if verify and made:
        if not step("verify", lambda: _verify(settings, made[0].id, verify_from)):
            _publish_failed_verify(settings)
    elif verify:
        result.steps.append(StepOutcome("verify", "skipped", "no new backup to verify"))
    if prune_after:
        step("prune", lambda: _prune(settings, clock()))
    return result


def _verify(settings: BackupSettings, backup_id: str, store: str | None) -> str:
    record = verify_backup(settings, backup_id, store)
    return f"backup {record.id} verified in {record.store}"


def _prune(settings: BackupSettings, now: datetime) -> str:
    deletions = prune(settings, now=now)
    for deletion in deletions:
        terminal.info(f"pruned {deletion.store}:{deletion.key} ({deletion.reason})")
    return f"{len(deletions)} objects deleted"


def _publish_failed_verify(settings: BackupSettings) -> None:
    """verify_backup publishes its own failures; this covers those before it got that far."""
    try:
        metrics.record_verify(settings.metrics_dir, ok=False)
    except Exception as exc:
        terminal.error(f"verify: cannot publish the result: {describe_failure(exc)}")
