"""`flightdeck backup`: run, verify, restore, list and prune MongoDB backups; the scheduler.

Settings come from FLIGHTDECK_BACKUP_* environment variables (see docs/backup.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from flightdeck.backup import engine
from flightdeck.backup.schedule import run_schedule
from flightdeck.backup.settings import load_settings
from flightdeck.core import terminal
from flightdeck.core.errors import ConfigError

app = typer.Typer(help="MongoDB backups: run, verify, restore, list, prune, schedule.")

BackupId = Annotated[str, typer.Argument(help="A backup id, or 'latest'.")]
FromStore = Annotated[
    str | None, typer.Option("--from", help="Read from this store: local or azure.")
]
Now = Annotated[str | None, typer.Option("--now", hidden=True, help="Clock override (ISO 8601).")]


def _now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--now: {value!r} is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command()
def run(now: Now = None) -> None:
    """Take one backup now (the Kubernetes CronJob calls this)."""
    manifest = engine.run_backup(load_settings(), now=_now(now))
    terminal.success(
        f"backup {manifest.id}: {len(manifest.collections)} collections, "
        f"{manifest.dump_size} bytes dumped, {manifest.stored_size} bytes stored "
        f"in {manifest.duration_seconds:.1f} s"
    )
    terminal.stdout.print(manifest.id)


@app.command()
def verify(backup_id: BackupId = "latest", source: FromStore = None) -> None:
    """Re-read a backup, check its SHA-256, test-restore it and compare it with its manifest."""
    record = engine.verify_backup(load_settings(), backup_id, source)
    terminal.success(f"backup {record.id} in {record.store} verified")


@app.command()
def restore(
    backup_id: BackupId = "latest",
    to: Annotated[str | None, typer.Option("--to", help="Target database.")] = None,
    drop: Annotated[bool, typer.Option("--drop", help="Replace non-empty collections.")] = False,
    source: FromStore = None,
) -> None:
    """Restore a backup into its database (or --to another one)."""
    result = engine.restore_backup(load_settings(), backup_id, to, drop, source)
    terminal.success(
        f"restored backup {result.manifest.id} from {result.store} into {result.database} "
        f"in {result.seconds:.1f} s (RTO)"
    )


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List complete backups, newest first."""
    listed = engine.list_backups(load_settings())
    if as_json:
        terminal.print_json(
            [
                {
                    "id": e.manifest.id,
                    "time": e.manifest.time.isoformat(),
                    "stored_size": e.manifest.stored_size,
                    "stores": e.stores,
                    "verified": e.verified,
                }
                for e in listed
            ]
        )
        return
    verified = {True: "ok", False: "FAILED", None: "-"}
    terminal.print_table(
        None,
        ["id", "time", "size", "stores", "verified"],
        [
            (
                e.manifest.id,
                e.manifest.time.isoformat(timespec="seconds"),
                e.manifest.stored_size,
                ",".join(e.stores),
                verified[e.verified],
            )
            for e in listed
        ],
    )


@app.command()
def prune(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would go.")] = False,
    now: Now = None,
) -> None:
    """Delete backups past retention (7 days local, 30 days Azure by default)."""
    deletions = engine.prune(load_settings(), now=_now(now), dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    for deletion in deletions:
        terminal.stdout.print(f"{verb} {deletion.store}:{deletion.key} ({deletion.reason})")
    if not deletions:
        terminal.info("nothing to prune")


@app.command()
def schedule(
    verify_after: Annotated[bool, typer.Option("--verify/--no-verify")] = True,
    prune_after: Annotated[bool, typer.Option("--prune/--no-prune")] = True,
) -> None:
    """Run backups on FLIGHTDECK_BACKUP_SCHEDULE (cron, default every 6 hours), forever."""
    run_schedule(load_settings(), verify=verify_after, prune_after=prune_after)
