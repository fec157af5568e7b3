"""The CLI entry point: flightdeck's own errors become a message and their exit code."""

import subprocess
import sys

import pytest
import typer

from flightdeck import __version__, cli
from flightdeck.core.errors import ConfigError

pytestmark = pytest.mark.unit


def test_version_prints_the_package_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flightdeck", "version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == __version__


def test_config_error_exits_2_with_its_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> None:
        raise ConfigError("platform.yaml: ports.https: must be between 1 and 65535")

    monkeypatch.setattr(cli, "app", typer.Typer())
    cli.app.callback()(lambda: None)
    cli.app.command()(broken)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["broken"])
    assert exit_info.value.code == 2
    assert "ports.https" in capsys.readouterr().err
