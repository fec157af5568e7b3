"""The flightdeck command line: one module per subcommand, registered here."""

from __future__ import annotations

import typer

from flightdeck import __version__
from flightdeck.cli import backup, demo, kpi, pipeline, platform, rollout, validate
from flightdeck.core import terminal
from flightdeck.core.errors import FlightdeckError

app = typer.Typer(
    name="flightdeck",
    help="Progressive delivery, backups and a local platform for one web application.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root() -> None:
    """Progressive delivery, backups and a local platform for one web application."""


@app.command()
def version() -> None:
    """Print flightdeck's version."""
    terminal.stdout.print(__version__)


platform.register(app)
app.add_typer(backup.app, name="backup")
app.add_typer(rollout.make_app("canary"), name="canary")
app.add_typer(rollout.make_app("bluegreen"), name="bluegreen")
app.command()(demo.demo)
validate.register(app)
kpi.register(app)
app.add_typer(pipeline.app, name="pipeline")


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning flightdeck's own errors into a message and exit code."""
    try:
        app(args=argv, prog_name="flightdeck")
    except FlightdeckError as exc:
        terminal.error(str(exc))
        raise SystemExit(exc.exit_code) from exc
