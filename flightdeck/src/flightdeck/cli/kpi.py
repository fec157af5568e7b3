"""`flightdeck kpi` and `flightdeck history`: the delivery KPIs and the history they come from.

`kpi` prints each KPI over a window (default: the last 30 days) with its value, the
architecture's target, pass or fail, and its DORA level; `--json` for machines. It also rewrites
the delivery metrics file (`delivery.prom`) the Delivery dashboard reads. docs/kpis.md defines
every KPI.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from flightdeck.cli.options import ConfigOption, JsonOption, TargetOption
from flightdeck.core import terminal
from flightdeck.core.errors import ConfigError, FlightdeckError
from flightdeck.core.git import check_commit, commit_time
from flightdeck.engines import rollout_target
from flightdeck.history import HistoryStore, record_change
from flightdeck.history.kpis import parse_window
from flightdeck.rollout.kpi import KpiReport, counts, kpi_report, write_delivery_metrics
from flightdeck.rollout.target import Target

SinceOption = Annotated[
    str,
    typer.Option(
        "--since",
        help="The window: a duration back from now (30d, 12h, 90m, 2w) or an ISO 8601 time.",
    ),
]


def window_start(since: str, now: datetime) -> datetime:
    try:
        return parse_window(since, now)
    except ValueError as exc:
        raise ConfigError(f"--since {exc}") from None


def history_of(target: Target, engine: str) -> HistoryStore:
    if target.history is None:
        raise ConfigError(f"--target {engine} keeps no delivery history")
    return target.history


def render_kpis(report: KpiReport) -> None:
    figures = report.figures
    rows = []
    for result in report.results:
        verdict = (
            Text("no data", "yellow")
            if result.met is None
            else Text("pass", "green")
            if result.met
            else Text("FAIL", "red")
        )
        rows.append(
            (
                result.kpi.label,
                result.display,
                result.kpi.target,
                verdict,
                result.level,
                "-" if result.samples is None else str(result.samples),
            )
        )
    terminal.print_table(
        f"Delivery KPIs from {figures.since:%Y-%m-%d %H:%M} to {figures.until:%Y-%m-%d %H:%M} UTC "
        f"({figures.days:.4g} days)",
        ["KPI", "value", "target", "pass/fail", "DORA level", "samples"],
        rows,
    )
    numbers = counts(figures)
    terminal.info(
        f"{numbers['rollouts_started']} rollouts started, {numbers['production_changes']} "
        f"production changes, {numbers['deployments']} deployments, "
        f"{numbers['failed_changes']} failed changes, {numbers['rollbacks_before_traffic']} "
        f"rolled back before taking traffic, {numbers['incidents']} incidents "
        f"({numbers['open_incidents']} open)."
    )
    for result in report.results:
        if result.note:
            terminal.info(f"{result.kpi.key}: {result.note}", style="dim")
    since = figures.history_since
    terminal.info(
        "Targets: the architecture document; DORA levels: the 2023 State of DevOps report "
        f"(docs/kpis.md). History since {since:%Y-%m-%d %H:%M} UTC."
        if since
        else "Targets: the architecture document; DORA levels: the 2023 State of DevOps report "
        "(docs/kpis.md). The history is empty.",
        style="dim",
    )


def kpi(
    since: SinceOption = "30d",
    as_json: JsonOption = False,
    target: TargetOption = "local",
    config: ConfigOption = None,
) -> None:
    """Delivery KPIs over a window: value, target, pass/fail and DORA level (docs/kpis.md)."""
    now = datetime.now(UTC)
    start = window_start(since, now)
    engine = rollout_target(target, config)
    entries = history_of(engine, target).read()
    report = kpi_report(entries, engine.metrics, start, now)
    if engine.metrics_dir is not None:
        try:
            write_delivery_metrics(entries, engine.metrics_dir, now)
        except OSError as exc:
            terminal.warning(f"the delivery metrics could not be written: {exc}")
    if as_json:
        terminal.print_json(report.as_dict())
    else:
        render_kpis(report)


def history(
    since: SinceOption = "30d",
    as_json: JsonOption = False,
    target: TargetOption = "local",
    config: ConfigOption = None,
) -> None:
    """List the delivery history's entries of a window, oldest first."""
    start = window_start(since, datetime.now(UTC))
    entries = history_of(rollout_target(target, config), target).read(start)
    if as_json:
        terminal.print_json([entry.model_dump(mode="json") for entry in entries])
        return
    terminal.print_table(
        None,
        ["time (UTC)", "kind", "rollout / id", "version", "outcome", "decision and reason"],
        [
            (
                f"{entry.at:%Y-%m-%d %H:%M:%S}",
                entry.kind,
                entry.rollout or entry.id,
                entry.version or "-",
                entry.outcome or "-",
                " ".join(part for part in (entry.decision, entry.reason) if part) or "-",
            )
            for entry in entries
        ],
    )


def record_commit(
    target: Target, version: str, commit: str, committed: str | None, where: Path
) -> None:
    """Write the change (version -> commit, commit time) for lead time; never fails a rollout."""
    check_commit(commit)
    if committed is not None:
        try:
            moment = datetime.fromisoformat(committed.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"--commit-time {committed!r} is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            raise ConfigError(f"--commit-time {committed!r}: give the time zone (Z or +hh:mm)")
    else:
        found = commit_time(commit, where)
        if found is None:
            raise ConfigError(
                f"--commit {commit}: git does not know it here ({where}); give --commit-time"
            )
        moment = found
    if target.history is None:
        return
    try:
        record_change(target.history, version, commit, moment)
    except FlightdeckError as exc:
        terminal.warning(f"the commit of {version} is not in the delivery history: {exc}")


def register(app: typer.Typer) -> None:
    app.command()(kpi)
    app.command()(history)
