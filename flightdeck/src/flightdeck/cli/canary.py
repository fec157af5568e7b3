"""`flightdeck canary start | status | watch | promote | abort | resume | tick`.

Exit codes: 0 promoted (or still running, for `status` and `tick`), 1 rolled back or aborted,
2 usage or configuration error, 3 another controller drives the rollout.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from flightdeck import terminal
from flightdeck.engine.controller import Controller, Target, utc_now
from flightdeck.engine.record import RolloutRecord
from flightdeck.engine.spec import RolloutSpec, format_duration, load_rollout_spec
from flightdeck.errors import ConfigError
from flightdeck.state import LockedError
from flightdeck.targets import targets
from flightdeck.validation import check_name, check_version, parse_env_assignments

app = typer.Typer(help="Canary rollouts with automatic analysis, promotion and rollback.")

TargetOption = Annotated[
    str, typer.Option("--target", "-t", help="The engine: local or kubernetes.")
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", envvar="FLIGHTDECK_CONFIG", help="Platform config file."),
]
SpecOption = Annotated[
    Path | None,
    typer.Option("--spec", "-s", help="Rollout spec (YAML); the document's defaults if omitted."),
]
NameOption = Annotated[
    str,
    typer.Option(
        "--name",
        help="The rollout's name (lower-case letters, digits and '-').",
        callback=lambda value: check_name(value) if value is not None else value,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _controller(target: str, spec: RolloutSpec, config: Path | None) -> Controller:
    built: Target = targets.create(target, spec, config)
    return Controller(built)


def _spec_for(name: str, spec_path: Path | None) -> RolloutSpec:
    spec = load_rollout_spec(spec_path)
    if spec_path is None and name != spec.name:
        spec = spec.model_copy(update={"name": name})
    return spec


def _exit_code(record: RolloutRecord) -> int:
    return 1 if record.phase in ("RolledBack", "Aborted") else 0


def render(record: RolloutRecord, now: datetime | None = None) -> Group:
    """The live view: phase, weight, each check against its threshold, time in step."""
    now = now or utc_now()
    steps = record.spec.steps
    header = Text.assemble(
        (f"{record.name}", "bold"),
        f"  {record.stable_version} -> {record.version}  ",
        (record.phase, "bold cyan" if not record.finished else "bold"),
        f"  weight {record.weight}%",
    )
    lines: list[Table | Text] = [header]
    if 0 <= record.step < len(steps) and record.step_started_at and not record.finished:
        in_step = f"{(now - record.step_started_at).total_seconds():.0f}s"
        lines.append(
            Text(
                f"step {record.step + 1}/{len(steps)} at {steps[record.step].weight}%: "
                f"{in_step} of {format_duration(steps[record.step].hold)}, "
                f"passing windows {record.step_passes}, "
                f"inconclusive streak {record.inconclusive_streak}"
            )
        )
    if record.last_analysis:
        table = Table(
            title=f"analysis at {record.last_analysis.at:%H:%M:%S}: {record.last_analysis.result}",
            title_justify="left",
        )
        for column in ("check", "value", "threshold", "result"):
            table.add_column(column)
        for check in record.last_analysis.checks:
            style = {"pass": "green", "fail": "red"}.get(check["result"], "yellow")
            value = "no data" if check["value"] is None else f"{check['value']:.4g}"
            table.add_row(
                check["name"],
                value,
                f"{check['threshold']:.4g}",
                Text(check["result"], style=style),
            )
        lines.append(table)
    for event in record.events[-6:]:
        lines.append(Text(f"{event.at:%H:%M:%S} {event.phase:<13} {event.message}", style="dim"))
    return Group(*lines)


def drive_with_view(controller: Controller, name: str, as_json: bool = False) -> RolloutRecord:
    """Run the rollout to its end with a live view (plain event lines without a terminal)."""
    shown = 0
    current: RolloutRecord | None = controller.load(name)

    def view() -> Group:
        return render(current) if current else Group()

    with terminal.live(view) as redraw:

        def on_tick(record: RolloutRecord) -> None:
            nonlocal shown, current
            current = record
            if not terminal.stderr.is_terminal and not as_json:
                for event in record.events[shown:]:
                    terminal.info(f"{event.at:%H:%M:%S} {event.phase:<13} {event.message}")
            shown = len(record.events)
            redraw()

        return controller.run(name, on_tick)


def _finish(record: RolloutRecord, as_json: bool) -> None:
    if as_json:
        terminal.print_json(record.model_dump(mode="json"))
    elif record.finished:
        (terminal.success if record.phase == "Succeeded" else terminal.error)(
            f"{record.name}: {record.phase}" + (f" ({record.reason})" if record.reason else "")
        )
    raise typer.Exit(_exit_code(record))


@app.command()
def start(
    version: Annotated[str, typer.Option("--version", "-v", help="The new version label.")],
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="KEY=VAL environment for the canary (a variable name; the value at most "
            "4096 characters, no control characters).",
        ),
    ] = None,
    spec: SpecOption = None,
    target: TargetOption = "local",
    config: ConfigOption = None,
    detach: Annotated[
        bool, typer.Option(help="Only create the rollout; `tick` or `watch` drive it.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Start a canary of VERSION and drive it to promotion or rollback."""
    check_version(version)
    rollout = load_rollout_spec(spec)
    env = parse_env_assignments(sets or [])
    controller = _controller(target, rollout, config)
    record = controller.start(rollout, version, env)
    if detach:
        terminal.success(
            f"rollout {record.name} of {version} created; drive it with `flightdeck canary watch`"
        )
        return
    _finish(drive_with_view(controller, record.name, as_json), as_json)


@app.command()
def status(
    name: NameOption = "backend",
    target: TargetOption = "local",
    config: ConfigOption = None,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a rollout's phase, weight, last analysis and recent events."""
    record = _controller(target, _spec_for(name, spec), config).load(name)
    if record is None:
        raise ConfigError(f"there is no rollout {name!r}")
    if as_json:
        terminal.print_json(record.model_dump(mode="json"))
    else:
        terminal.stdout.print(render(record))
    raise typer.Exit(_exit_code(record))


@app.command()
def watch(
    name: NameOption = "backend",
    target: TargetOption = "local",
    config: ConfigOption = None,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Drive a rollout to its end with a live view (refused if another controller drives it)."""
    controller = _controller(target, _spec_for(name, spec), config)
    _finish(drive_with_view(controller, name, as_json), as_json)


@app.command()
def tick(
    name: NameOption = "backend",
    target: TargetOption = "local",
    config: ConfigOption = None,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Advance a rollout by one step, for schedulers (cron, a GitHub Actions schedule)."""
    record = _controller(target, _spec_for(name, spec), config).tick(name)
    if not as_json:
        terminal.stdout.print(render(record))
    _finish(record, as_json)


def _request(action: str, name: str, target: str, config: Path | None, spec: Path | None) -> None:
    controller = _controller(target, _spec_for(name, spec), config)
    controller.request(name, action)
    try:
        record = controller.tick(name)  # act now when no controller is running
    except LockedError:
        terminal.success(f"{action} requested; the running controller will act on its next tick")
        return
    terminal.stdout.print(render(record))
    if record.finished:
        raise typer.Exit(_exit_code(record))


@app.command()
def promote(
    name: NameOption = "backend",
    target: TargetOption = "local",
    config: ConfigOption = None,
    spec: SpecOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Skip the remaining analysis and promote the canary now."""
    if not yes and not typer.confirm(f"Promote rollout {name!r} without the remaining analysis?"):
        raise typer.Exit(2)
    _request("promote", name, target, config, spec)


@app.command()
def abort(
    name: NameOption = "backend",
    target: TargetOption = "local",
    config: ConfigOption = None,
    spec: SpecOption = None,
) -> None:
    """Roll back now."""
    _request("abort", name, target, config, spec)


@app.command()
def resume(
    name: NameOption = "backend",
    target: TargetOption = "local",
    config: ConfigOption = None,
    spec: SpecOption = None,
) -> None:
    """Resume a paused rollout (the current step starts over)."""
    _request("resume", name, target, config, spec)
