"""Ending the server processes that tests start."""

import subprocess
import sys
from typing import Any


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> int:
    """SIGTERM, wait up to `timeout` seconds, then SIGKILL; returns the exit code."""
    process.terminate()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def flightdeck_process(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """`python -m flightdeck ARGS` started in the background, its output captured as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "flightdeck", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )
