"""Messages print as written: rich markup must not eat or choke on `[...]` in user input."""

from __future__ import annotations

import pytest

from flightdeck.core import terminal

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "text",
    ["--to [x]: not a database name", "path [/tmp/x] is a directory", "[bold]not bold[/bold]"],
)
def test_messages_keep_their_brackets(capsys: pytest.CaptureFixture[str], text: str) -> None:
    for show in (terminal.info, terminal.success, terminal.warning, terminal.error):
        show(text)
        assert text in capsys.readouterr().err
    terminal.print_table(text, ["[col]"], [[text]])
    out = capsys.readouterr().out
    assert text in out
    assert "[col]" in out
    with terminal.status(text):
        pass
    assert text in capsys.readouterr().err
