"""The options that several commands share, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flightdeck.core.validation import check_name
from flightdeck.local.config import DEFAULT_CONFIG_FILE


def _checked_name(value: str | None) -> str | None:
    return check_name(value) if value is not None else None


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="FLIGHTDECK_CONFIG",
        help=f"Local platform config file (YAML). Default: {DEFAULT_CONFIG_FILE} in the checkout.",
        dir_okay=False,
    ),
]
TargetOption = Annotated[
    str, typer.Option("--target", "-t", help="The engine: local or kubernetes.")
]
NameOption = Annotated[
    str,
    typer.Option(
        "--name",
        help="The rollout's name (lower-case letters, digits and '-').",
        callback=_checked_name,
    ),
]
SpecOption = Annotated[
    Path | None,
    typer.Option(
        "--spec",
        "-s",
        help="Rollout spec (YAML); defaults: steps 10/25/50% held 15/10/15 min, 5 min monitor.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
