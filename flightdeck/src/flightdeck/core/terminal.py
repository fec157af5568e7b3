"""The one terminal wrapper for all rich output: messages, tables, progress.

Data (tables, JSON) goes to stdout; messages and progress go to stderr, so that
`flightdeck status --json | jq` stays clean. Without a terminal, progress becomes plain lines.

Both consoles have rich's markup off: messages carry user input (paths, names, `[...]` in an
error), which must print as written. Styles are given as `style=` or with `Text`, never inline.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

stdout = Console(highlight=False, soft_wrap=True, markup=False)
stderr = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


# Messages are plain text, never rich markup (both consoles have it off): user input such as
# `--set A=[red]` or a path with brackets reaches the screen as it was typed.


def info(message: str, style: str = "") -> None:
    stderr.print(Text(message, style=style))


def success(message: str) -> None:
    stderr.print(Text.assemble(("✓", "green"), " ", message))


def warning(message: str) -> None:
    stderr.print(Text.assemble(("!", "yellow"), " ", message))


def error(message: str) -> None:
    stderr.print(Text.assemble(("error:", "bold red"), " ", message))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=Text(title) if title else None, title_justify="left")
    for column in columns:
        table.add_column(Text(column))
    for row in rows:
        table.add_row(*(cell if isinstance(cell, Text) else Text(str(cell)) for cell in row))
    stdout.print(table)


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner on a terminal; one plain line otherwise."""
    if stderr.is_terminal:
        with stderr.status(Text(message)):
            yield
    else:
        info(message)
        yield


@contextmanager
def live(render: Callable[[], RenderableType]) -> Iterator[Callable[[], None]]:
    """A view redrawn in place on a terminal; the returned function redraws it.

    Without a terminal nothing is redrawn: callers print plain lines instead.
    """
    if not stderr.is_terminal:
        yield lambda: None
        return
    with Live(render(), console=stderr, refresh_per_second=4, transient=False) as view:
        yield lambda: view.update(render())
