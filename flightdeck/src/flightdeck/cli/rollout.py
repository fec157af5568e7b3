"""`flightdeck canary|bluegreen start | status | watch | tick | promote | abort | resume`.

One family of commands per strategy, built from the same functions: only `start` differs, by the
strategy it gives a spec that names none. Every other command reads the strategy, and the whole
spec, from the rollout's record, so a scheduled `tick` acts with the spec the rollout was started
with (its notifications, its incident sink), never with defaults.

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

from flightdeck.cli.kpi import record_commit
from flightdeck.cli.options import ConfigOption, JsonOption, NameOption, SpecOption, TargetOption
from flightdeck.core import terminal
from flightdeck.core.errors import ConfigError
from flightdeck.core.files import write_atomically
from flightdeck.core.git import check_commit
from flightdeck.core.validation import check_version, parse_env_assignments
from flightdeck.engines import rollout_target
from flightdeck.rollout.analysis import Figures, bounds_text, numbers_behind
from flightdeck.rollout.controller import Controller, utc_now
from flightdeck.rollout.record import RolloutRecord
from flightdeck.rollout.report import MetricsSampler, render_report
from flightdeck.rollout.spec import (
    BlueGreenStrategy,
    CanaryStrategy,
    RolloutSpec,
    format_duration,
    load_rollout_spec,
)
from flightdeck.state import LockedError

HELP = {
    "canary": "Canary rollouts: a share of the traffic, step by step, under analysis.",
    "bluegreen": "Blue-green rollouts: a full second colour, checked, then one switch.",
}


def _controller(target: str, config: Path | None) -> Controller:
    return Controller(rollout_target(target, config))


def _exit_code(record: RolloutRecord) -> int:
    return 1 if record.phase in ("RolledBack", "Aborted") else 0


def render(record: RolloutRecord, now: datetime | None = None) -> Group:
    """The live view: phase, weight, each check against its threshold, time in step."""
    now = now or utc_now()
    header = Text.assemble(
        (f"{record.name}", "bold"),
        f"  {record.spec.strategy.type}  {record.baseline_version} -> {record.version}  ",
        (record.phase, "bold cyan" if not record.finished else "bold"),
        f"  weight {record.weight}%",
    )
    lines: list[Table | Text] = [header]
    strategy = record.spec.strategy
    if isinstance(strategy, CanaryStrategy):
        steps = strategy.steps
        if 0 <= record.step < len(steps) and record.step_started_at and not record.finished:
            in_step = f"{(now - record.step_started_at).total_seconds():.0f}s"
            judged = (
                f"sequential judge, {record.judge_state.blocks if record.judge_state else 0} "
                "blocks of evidence"
                if record.spec.analysis.judge == "sequential"
                else f"passing windows {record.step_passes}, "
                f"inconclusive streak {record.inconclusive_streak}"
            )
            lines.append(
                Text(
                    f"step {record.step + 1}/{len(steps)} at {steps[record.step].weight}%: "
                    f"{in_step} of {format_duration(steps[record.step].hold)}, {judged}"
                )
            )
    if isinstance(strategy, BlueGreenStrategy) and not record.finished:
        where = (
            f"{record.candidate_track} serves {record.version}; {record.baseline_track} stands by"
            if record.switched_at
            else f"{record.baseline_track} serves {record.baseline_version}; "
            f"{record.candidate_track} has {record.version} on the preview route"
        )
        lines.append(Text(where))
        if record.phase == "Monitoring" and record.switched_at:
            elapsed = f"{(now - record.switched_at).total_seconds():.0f}s"
            lines.append(
                Text(
                    f"monitor: {elapsed} of {format_duration(strategy.monitor)}, "
                    f"clean windows {record.step_passes}, before the switch: "
                    f"{Figures.from_dict(record.baseline_figures).summary()}"
                )
            )
    if record.last_analysis:
        last = record.last_analysis
        repeated = f" ({last.repeats} evaluations in a row)" if last.repeats > 1 else ""
        table = Table(
            title=f"analysis at {last.at:%H:%M:%S}: {last.result}{repeated}",
            title_justify="left",
        )
        for column in ("check", "value", "bounds", "threshold", "result", "behind it"):
            table.add_column(column)
        for check in last.checks:
            style = {"pass": "green", "fail": "red"}.get(check["result"], "yellow")
            value = "no data" if check["value"] is None else f"{check['value']:.4g}"
            table.add_row(
                Text(check["name"]),
                value,
                bounds_text(check),
                f"{check['threshold']:.4g}",
                Text(check["result"], style=style),
                Text(numbers_behind(check)),
            )
        lines.append(table)
    for event in record.events[-6:]:
        repeated = f" (x{event.count})" if event.count > 1 else ""
        lines.append(
            Text(f"{event.at:%H:%M:%S} {event.phase:<13} {event.message}{repeated}", style="dim")
        )
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


def drive_with_report(
    controller: Controller, name: str, as_json: bool, report: Path | None
) -> RolloutRecord:
    """`drive_with_view`, and with `report` the HTML report of the rollout (charts of the new
    version against the serving one from Prometheus, every analysis and decision) at its end."""
    if report is None:
        return drive_with_view(controller, name, as_json)
    started = controller.load(name)
    window = started.spec.analysis.rate_window.total_seconds() if started else 60.0
    with MetricsSampler(controller.target.metrics, window) as sampler:
        record = drive_with_view(controller, name, as_json)
    title = f"Rollout {record.name}: {record.baseline_version} -> {record.version}"
    write_atomically(report, render_report(title, [record], sampler.samples))
    terminal.info(f"report: {report}")
    return record


ReportOption = Annotated[
    Path | None,
    typer.Option(
        "--report",
        help="Write an HTML report of the rollout here at its end (charts and decisions).",
        dir_okay=False,
    ),
]


def _finish(record: RolloutRecord, as_json: bool) -> None:
    if as_json:
        terminal.print_json(record.model_dump(mode="json"))
    elif record.finished:
        (terminal.success if record.phase == "Succeeded" else terminal.error)(
            f"{record.name}: {record.phase}" + (f" ({record.reason})" if record.reason else "")
        )
    raise typer.Exit(_exit_code(record))


def spec_for_strategy(strategy: str, path: Path | None) -> RolloutSpec:
    """The spec file, which must be of this command family's strategy; its defaults if none."""
    if path is None:
        return RolloutSpec.model_validate({"strategy": {"type": strategy}})
    spec = load_rollout_spec(path)
    if spec.strategy.type != strategy:
        raise ConfigError(
            f"{path}: strategy.type is {spec.strategy.type!r}; "
            f"use `flightdeck {spec.strategy.type} start` for it"
        )
    return spec


def make_app(strategy: str) -> typer.Typer:
    """The command family of one strategy (`flightdeck canary ...`, `flightdeck bluegreen ...`)."""
    app = typer.Typer(help=HELP[strategy])

    @app.command()
    def start(
        version: Annotated[
            str, typer.Option("--version", "-v", help="The new version label (a tag).")
        ],
        sets: Annotated[
            list[str] | None,
            typer.Option(
                "--set",
                help="KEY=VAL environment for the new version (a variable name; the value at "
                "most 4096 characters, no control characters).",
            ),
        ] = None,
        spec: SpecOption = None,
        target: TargetOption = "local",
        config: ConfigOption = None,
        detach: Annotated[
            bool, typer.Option(help="Only create the rollout; `tick` or `watch` drive it.")
        ] = False,
        report: ReportOption = None,
        as_json: JsonOption = False,
        commit: Annotated[
            str | None,
            typer.Option(help="The commit VERSION was built from, for lead time (docs/kpis.md)."),
        ] = None,
        commit_time: Annotated[
            str | None,
            typer.Option(help="Its commit time (ISO 8601); default: asked of git here."),
        ] = None,
    ) -> None:
        """Start a rollout of VERSION and drive it to promotion or rollback."""
        check_version(version)
        if commit is not None:
            check_commit(commit)
        rollout = spec_for_strategy(strategy, spec)
        env = parse_env_assignments(sets or [])
        controller = _controller(target, config)
        if commit is not None:
            record_commit(controller.target, version, commit, commit_time, Path.cwd())
        record = controller.start(rollout, version, env)
        if detach:
            terminal.success(
                f"rollout {record.name} of {version} created; drive it with "
                f"`flightdeck {strategy} watch --name {record.name}`"
            )
            return
        _finish(drive_with_report(controller, record.name, as_json, report), as_json)

    @app.command()
    def status(
        name: NameOption = "backend",
        target: TargetOption = "local",
        config: ConfigOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Show a rollout's phase, weight, last analysis and recent events."""
        record = _controller(target, config).load(name)
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
        report: ReportOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """Drive a rollout to its end with a live view (refused if another controller drives it)."""
        _finish(drive_with_report(_controller(target, config), name, as_json, report), as_json)

    @app.command()
    def tick(
        name: NameOption = "backend",
        target: TargetOption = "local",
        config: ConfigOption = None,
        if_running: Annotated[
            bool,
            typer.Option(
                "--if-running",
                help="For schedules: exit 0 without acting when no rollout of that name is "
                "running or another controller drives it.",
            ),
        ] = False,
        as_json: JsonOption = False,
    ) -> None:
        """Advance a rollout by one step, for schedulers (cron, a GitHub Actions schedule)."""
        controller = _controller(target, config)
        if if_running:
            current = controller.load(name)
            if current is None or current.finished:
                ended = f" (the last one ended {current.phase})" if current else ""
                terminal.info(f"no rollout {name!r} is running{ended}: nothing to do")
                return
            try:
                record = controller.tick(name)
            except LockedError:
                terminal.info(f"another controller drives rollout {name!r}: nothing to do")
                return
        else:
            record = controller.tick(name)
        if not as_json:
            terminal.stdout.print(render(record))
        _finish(record, as_json)

    def request(action: str, name: str, target: str, config: Path | None) -> None:
        controller = _controller(target, config)
        controller.request(name, action)
        try:
            record = controller.tick(name)  # act now when no controller is running
        except LockedError:
            terminal.success(
                f"{action} requested; the running controller will act on its next tick"
            )
            return
        terminal.stdout.print(render(record))
        if record.finished:
            raise typer.Exit(_exit_code(record))

    @app.command()
    def promote(
        name: NameOption = "backend",
        target: TargetOption = "local",
        config: ConfigOption = None,
        yes: Annotated[
            bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")
        ] = False,
    ) -> None:
        """Skip the remaining analysis (or the manual gate) and promote now."""
        if not yes and not typer.confirm(f"Promote rollout {name!r} now?"):
            raise typer.Exit(2)
        request("promote", name, target, config)

    @app.command()
    def abort(
        name: NameOption = "backend", target: TargetOption = "local", config: ConfigOption = None
    ) -> None:
        """Roll back now."""
        request("abort", name, target, config)

    @app.command()
    def resume(
        name: NameOption = "backend", target: TargetOption = "local", config: ConfigOption = None
    ) -> None:
        """Resume a paused rollout (the current step starts over)."""
        request("resume", name, target, config)

    return app
