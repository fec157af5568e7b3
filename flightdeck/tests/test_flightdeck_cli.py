"""The CLI entry point: flightdeck's own errors become a message and their exit code."""

import http.server
import logging
import subprocess
import sys
import threading

import httpx
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


def test_request_logs_stay_out_of_a_commands_output(capsys: pytest.CaptureFixture[str]) -> None:
    """Where the process logs INFO on stdout (the backend's set-up does), --json stays JSON.

    In CI an earlier test in the same process had configured that logging, and httpx's
    "HTTP Request: ..." lines landed inside `validate --json`'s document.
    """
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stdout)
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        with pytest.raises(SystemExit):
            cli.main(["version"])  # the callback every command runs first
        httpx.get(f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)
        server.shutdown()
        server.server_close()
    assert capsys.readouterr().out.strip() == __version__


class QuietHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """No access log on stderr."""
