"""The flightdeck command line: one module per subcommand, registered here."""

from __future__ import annotations

import logging

import typer

from flightdeck import __version__
from flightdeck.cli import backup, demo, kpi, metrics, platform, rollout, validate
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
    quiet_request_logs()


def quiet_request_logs() -> None:
    """Keep the HTTP clients' one-line-per-request INFO logs out of a command's output.

    A command's stdout is its result (a JSON document under --json). httpx logs every request
    at INFO, so wherever the process's logging was set up to print INFO on stdout (an embedding
    program, a test run), those lines would land inside that result. Warnings still show.
    """
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


@app.command()
def version() -> None:
    """Print flightdeck's version."""
    terminal.stdout.print(__version__)


platform.register(app)
app.add_typer(backup.app, name="backup")
app.add_typer(rollout.make_app("canary"), name="canary")
app.add_typer(rollout.make_app("bluegreen"), name="bluegreen")
app.add_typer(metrics.app, name="metrics")
app.command()(demo.demo)
validate.register(app)
kpi.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning flightdeck's own errors into a message and exit code."""
    try:
        app(args=argv, prog_name="flightdeck")
    except FlightdeckError as exc:
        terminal.error(str(exc))
        raise SystemExit(exc.exit_code) from exc
