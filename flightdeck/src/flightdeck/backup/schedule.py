"""The runner: a backup on a cron schedule (every 6 hours by default), then verify and prune.

The local platform runs `flightdeck backup schedule` under supervisord; in Kubernetes a CronJob
runs `flightdeck backup run` instead and this module is not used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from croniter import croniter

from flightdeck.backup.engine import prune, run_backup, utcnow, verify_backup
from flightdeck.backup.settings import BackupSettings
from flightdeck.core import terminal
from flightdeck.core.errors import ConfigError, FlightdeckError


def next_runs(expression: str, after: datetime, count: int) -> list[datetime]:
    if not croniter.is_valid(expression):
        raise ConfigError(f"FLIGHTDECK_BACKUP_SCHEDULE: {expression!r} is not a cron expression")
    schedule = croniter(expression, after)
    return [schedule.get_next(datetime) for _ in range(count)]


def run_schedule(
    settings: BackupSettings,
    verify: bool = True,
    prune_after: bool = True,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
    max_runs: int | None = None,
) -> int:
    """Loop forever (or `max_runs` times); a failed run is reported and the loop goes on.

    Returns the number of failed runs (failures are also counted in the metrics).
    """
    next_runs(settings.schedule, clock(), 1)  # validate before the first wait
    schedule = croniter(settings.schedule, clock())
    runs = failures = 0
    while max_runs is None or runs < max_runs:
        due = schedule.get_next(datetime)
        terminal.info(f"next backup at {due.isoformat()}")
        delay = (due - clock()).total_seconds()
        if delay > 0:
            sleep(delay)
        runs += 1
        try:
            manifest = run_backup(settings, now=clock())
            terminal.success(f"backup {manifest.id}: {manifest.stored_size} bytes stored")
            if verify:
                verify_backup(settings, manifest.id)
                terminal.success(f"backup {manifest.id} verified")
            if prune_after:
                for deletion in prune(settings, now=clock()):
                    terminal.info(f"pruned {deletion.store}:{deletion.key} ({deletion.reason})")
        except FlightdeckError as exc:
            failures += 1
            terminal.error(str(exc))
    return failures
