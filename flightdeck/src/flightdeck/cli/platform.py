"""`flightdeck up | down | status | logs`: the local platform."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from flightdeck.cli.options import ConfigOption, JsonOption
from flightdeck.core import terminal
from flightdeck.core.errors import ConfigError
from flightdeck.engines.local import LocalPlatform
from flightdeck.local.context import load_local_context


def platform_from(config_path: Path | None) -> LocalPlatform:
    return LocalPlatform(load_local_context(config_path))


def up(config: ConfigOption = None) -> None:
    """Start every component (idempotent) and wait until each one is ready."""
    platform = platform_from(config)
    platform.up()
    terminal.success("the platform is ready")
    terminal.print_table(None, ["what", "where"], list(platform.urls().items()))
    ca = platform.run_dir.tls / "ca.crt"
    terminal.info(f"Trust the local CA to call the app without -k: curl --cacert {ca} ...")


def down(
    config: ConfigOption = None,
    purge: Annotated[
        bool, typer.Option(help="Also delete every data, log and state file.")
    ] = False,
) -> None:
    """Stop every component; the data stays unless --purge."""
    platform = platform_from(config)
    platform.down(purge=purge)
    terminal.success(
        f"stopped; deleted {platform.run_dir.root}"
        if purge
        else f"stopped; data kept in {platform.run_dir.root}"
    )


def status(
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """List each component with pid, port and health; exit 1 if any is down."""
    components = platform_from(config).status()
    if as_json:
        terminal.print_json([component.__dict__ for component in components])
    else:
        terminal.print_table(
            None,
            ["component", "state", "pid", "port", "health", "detail"],
            [
                (
                    c.name,
                    c.state,
                    c.pid or "-",
                    c.port or "-",
                    "ok" if c.healthy else "DOWN",
                    c.detail,
                )
                for c in components
            ],
        )
    if not components or not all(component.healthy for component in components):
        raise typer.Exit(1)


def logs(
    component: Annotated[
        str | None, typer.Argument(help="A component; all of them if omitted.")
    ] = None,
    config: ConfigOption = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines.")
    ] = False,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, help="Lines from the end.")] = 50,
) -> None:
    """Print a component's log (nginx also has nginx-access and nginx-error)."""
    logs_dir = platform_from(config).run_dir.logs
    available = sorted(path.stem for path in logs_dir.glob("*.log"))
    if component is None:
        paths = [logs_dir / f"{name}.log" for name in available]
    elif component in available:
        paths = [logs_dir / f"{component}.log"]
    elif matches := [name for name in available if name.startswith(component + "-")]:
        paths = [logs_dir / f"{name}.log" for name in matches]
    else:
        raise ConfigError(
            f"no log for component {component!r}; "
            f"known: {', '.join(available) or 'none (is the platform up?)'}"
        )
    command = ["tail", f"-n{lines}", *(["-F"] if follow else []), *map(str, paths)]
    with contextlib.suppress(KeyboardInterrupt):
        subprocess.run(command, check=False)


def register(app: typer.Typer) -> None:
    for command in (up, down, status, logs):
        app.command()(command)
