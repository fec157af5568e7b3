"""`flightdeck backup`: run, verify, restore, list and prune MongoDB backups; the scheduler.

Settings come from FLIGHTDECK_BACKUP_* environment variables (see docs/backup.md). Every
command ends with a message, never a traceback: failures of MongoDB or of the file system
that the engine did not name itself are reported with their reason (exit code 1).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, ParamSpec, TypeVar

import typer
from pymongo.errors import PyMongoError

from flightdeck.backup import engine
from flightdeck.backup.cycle import run_cycle
from flightdeck.backup.schedule import run_schedule
from flightdeck.backup.settings import load_settings
from flightdeck.backup.stores import open_stores
from flightdeck.core import terminal
from flightdeck.core.errors import ConfigError, PermanentError

app = typer.Typer(help="MongoDB backups: run, verify, restore, list, prune, cycle, schedule.")
P = ParamSpec("P")
R = TypeVar("R")


def command(function: Callable[P, R]) -> Callable[P, R]:
    """A backup command whose MongoDB and file system errors end as a one-line message."""

    @functools.wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except (PyMongoError, OSError) as exc:
            raise PermanentError(engine.describe_failure(exc)) from exc

    return run


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
@command
def run(now: Now = None) -> None:
    """Take one backup now (`cycle` also verifies it and prunes)."""
    manifest = engine.run_backup(load_settings(), now=_now(now))
    terminal.success(
        f"backup {manifest.id}: {len(manifest.collections)} collections, "
        f"{manifest.dump_size} bytes dumped, {manifest.stored_size} bytes stored "
        f"in {manifest.duration_seconds:.1f} s"
    )
    terminal.stdout.print(manifest.id)


@app.command()
@command
def verify(backup_id: BackupId = "latest", source: FromStore = None) -> None:
    """Re-read a backup, check its SHA-256, test-restore it and compare it with its manifest."""
    record = engine.verify_backup(load_settings(), backup_id, source)
    terminal.success(f"backup {record.id} in {record.store} verified")


@app.command()
@command
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
@command
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List complete backups, newest first (exit code 1 when a store cannot be read)."""
    listing = engine.list_backups(load_settings())
    for problem in listing.problems:
        terminal.warning(problem)
    for kind, reason in listing.unavailable.items():
        terminal.error(f"store {kind} is unavailable, its backups are not listed: {reason}")
    _print_listing(listing.backups, as_json)
    if listing.unavailable:
        raise typer.Exit(1)


def _print_listing(listed: list[engine.Listed], as_json: bool) -> None:
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
@command
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


VerifyAfter = Annotated[bool, typer.Option("--verify/--no-verify", help="Verify the new backup.")]
PruneAfter = Annotated[bool, typer.Option("--prune/--no-prune", help="Prune afterwards.")]


@app.command()
def cycle(
    verify_after: VerifyAfter = True,
    prune_after: PruneAfter = True,
    verify_from: Annotated[
        str | None,
        typer.Option(
            "--verify-from",
            help="Verify the copy in this store: local or azure (default: the first that has "
            "it, local first).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the steps as JSON.")] = False,
    now: Now = None,
) -> None:
    """One backup cycle: run, verify, prune, each step recorded (the CronJob runs this).

    A failed step does not stop the later ones; the exit code is 1 if any step failed.
    """
    settings = load_settings()
    when = _now(now)
    if verify_from is not None:
        configured = [store.kind for store in open_stores(settings)]
        if verify_from not in configured:
            raise ConfigError(
                f"--verify-from {verify_from!r}: not a configured store (configured: "
                f"{', '.join(configured)}; azure needs FLIGHTDECK_BACKUP_AZURE_CONNECTION_STRING)"
            )
    result = run_cycle(
        settings,
        verify=verify_after,
        prune_after=prune_after,
        clock=(lambda: when) if when else engine.utcnow,
        verify_from=verify_from,
    )
    if as_json:
        terminal.print_json(result.as_json())
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def schedule(verify_after: VerifyAfter = True, prune_after: PruneAfter = True) -> None:
    """Run a backup cycle on FLIGHTDECK_BACKUP_SCHEDULE (cron, default every 6 hours), forever."""
    run_schedule(load_settings(), verify=verify_after, prune_after=prune_after)
