"""`flightdeck validate`: the pipeline's stage 6 against what serves users now (docs/validate.md).

Exit codes: 0 when every check that ran passed, 1 when one failed (named on stderr), 2 for bad
flags or settings.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.text import Text

from flightdeck.cli.options import ConfigOption, JsonOption, TargetOption
from flightdeck.core import terminal
from flightdeck.core.errors import ConfigError
from flightdeck.core.validation import format_duration, parse_duration
from flightdeck.engines import validation_target
from flightdeck.validate.checks import CHECKS, DEFAULT_RESTART_WINDOW, ValidationOptions, validate
from flightdeck.validate.report import ValidationReport

RESULT_STYLES = {True: ("ok", "green"), False: ("FAIL", "bold red")}


def _duration(option: str, value: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None


def print_report(report: ValidationReport) -> None:
    serving = ", ".join(
        f"{serving.track} {serving.version or '(not running)'}" for serving in report.serving
    )
    rows: list[tuple[str | Text, ...]] = []
    for check in report.checks:
        if check.status == "skipped":
            rows.append((check.name, "-", Text("skipped", style="yellow"), "--skip"))
            continue
        for index, finding in enumerate(check.findings):
            label, style = RESULT_STYLES[finding.ok]
            name = check.name if index == 0 else ""
            rows.append((name, finding.subject, Text(label, style=style), finding.detail))
    terminal.print_table(
        f"flightdeck validate --target {report.engine}: serving {serving or 'unknown'}",
        ["check", "subject", "result", "detail"],
        rows,
    )


def validate_command(
    config: ConfigOption = None,
    target: TargetOption = "local",
    restart_window: Annotated[
        str,
        typer.Option(
            "--restart-window",
            help="A replica that restarted within this window fails (e.g. 10m, 1h, 90s).",
        ),
    ] = format_duration(DEFAULT_RESTART_WINDOW),
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds per request of the smoke tests.")
    ] = 10.0,
    skip: Annotated[
        list[str] | None,
        typer.Option("--skip", help=f"Leave a check out (repeatable): {', '.join(CHECKS)}."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check the deployment that serves users: replicas, scaling, metrics, smoke tests.

    Exit 0 when every check passes, 1 when one fails.
    """
    options = ValidationOptions(
        restart_window=_duration("--restart-window", restart_window),
        timeout=timeout,
        skip=frozenset(skip or ()),
    )
    report = validate(validation_target(target, config), options)
    if as_json:
        terminal.print_json(report.as_dict())
    else:
        print_report(report)
    if not report.passed:
        terminal.error(f"validation failed: {', '.join(report.failed)}")
        raise typer.Exit(report.exit_code)
    terminal.success("every check passed")


def register(app: typer.Typer) -> None:
    app.command("validate")(validate_command)
