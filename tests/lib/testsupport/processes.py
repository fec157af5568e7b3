"""Ending the server processes that tests start."""

import subprocess


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> int:
    """SIGTERM, wait up to `timeout` seconds, then SIGKILL; returns the exit code."""
    process.terminate()
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
