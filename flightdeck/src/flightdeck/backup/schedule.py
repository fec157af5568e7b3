"""The runner: a backup cycle (backup, verify, prune) on a cron schedule, every 6 hours by default.

The local platform runs `flightdeck backup schedule` under supervisord; in Kubernetes a CronJob
runs one cycle per slot with `flightdeck backup cycle` (the same steps) and this loop is not
used. A failed cycle is reported and the loop goes on, whatever the failure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from croniter import croniter

from flightdeck.backup.cycle import run_cycle
from flightdeck.backup.engine import utcnow
from flightdeck.backup.settings import BackupSettings
from flightdeck.core import terminal
from flightdeck.core.errors import ConfigError


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
    """Loop forever (or `max_runs` times); a failed cycle is reported and the loop goes on.

    Returns the number of cycles with a failed step (failures are also in the metrics).
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
        if not run_cycle(settings, verify=verify, prune_after=prune_after, clock=clock).ok:
            failures += 1
    return failures
