"""The runner: cron timing with a controllable clock, real backups, failures keep it going."""

import base64
import datetime as dt
import os
from pathlib import Path

import pytest

from flightdeck.backup import engine
from flightdeck.backup.schedule import next_runs, run_schedule
from flightdeck.backup.settings import BackupSettings
from flightdeck.core.errors import ConfigError
from testsupport import BIN_DIR
from testsupport.ferretdb import FerretDB

pytestmark = pytest.mark.unit


def test_default_schedule_is_every_six_hours() -> None:
    start = dt.datetime(2026, 5, 1, 1, 30, tzinfo=dt.UTC)
    runs = next_runs(BackupSettings().schedule, start, 3)
    assert [r.hour for r in runs] == [6, 12, 18]


def test_invalid_cron_names_the_setting() -> None:
    with pytest.raises(ConfigError, match="FLIGHTDECK_BACKUP_SCHEDULE"):
        next_runs("every day", dt.datetime.now(dt.UTC), 1)


@pytest.mark.integration
def test_runner_sleeps_until_each_slot_and_survives_a_failure(
    tmp_path: Path, ferretdb: FerretDB
) -> None:
    now = [dt.datetime(2026, 5, 1, 5, 0, tzinfo=dt.UTC)]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += dt.timedelta(seconds=seconds)

    settings = BackupSettings(
        mongodb_uri=ferretdb.uri,  # type: ignore[arg-type]
        database="bk_schedule",
        local_dir=tmp_path / "backups",
        metrics_dir=tmp_path / "metrics",
        key=base64.b64encode(os.urandom(32)).decode(),  # type: ignore[arg-type]
        mongodump=str(BIN_DIR / "mongodump"),
        mongorestore=str(BIN_DIR / "mongorestore"),
    )
    failures = run_schedule(settings, clock=lambda: now[0], sleep=sleep, max_runs=2)
    assert failures == 0
    assert slept == [3600.0, 6 * 3600.0]
    ids = [e.manifest.id for e in engine.list_backups(settings).backups]
    assert [i[:16] for i in ids] == [
        "20260501T120000Z",
        "20260501T060000Z",
    ]
    assert all(e.verified for e in engine.list_backups(settings).backups)

    broken = settings.model_copy(update={"mongodump": str(tmp_path / "missing")})
    assert run_schedule(broken, clock=lambda: now[0], sleep=sleep, max_runs=1) == 1
    prom = (settings.metrics_dir / "backup.prom").read_text()
    assert "flightdeck_backup_failures_total 1.0" in prom
