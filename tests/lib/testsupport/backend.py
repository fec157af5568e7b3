"""The backend application as a real uvicorn process on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from testsupport.ports import free_port, wait_for_port


@dataclass
class BackendProcess:
    """`uvicorn app.main:app` with one worker, configured through the environment.

    env holds the backend's variables (MONGODB_URI, UPLOAD_DIR, FAULT_LATENCY_MS, ...); the log
    (JSON lines on stdout) goes to log_path.
    """

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    graceful_shutdown_seconds: int = 20
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_for: str = "/health/live") -> None:
        """Start uvicorn and wait until wait_for answers 200."""
        command = [
            sys.executable, "-m", "uvicorn", "app.main:app",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1",
            "--timeout-graceful-shutdown", str(self.graceful_shutdown_seconds),
        ]  # fmt: skip
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT
            )
        wait_for_port(self.port)
        with httpx.Client(base_url=self.url, timeout=5) as client:
            for _ in range(200):
                if client.get(wait_for).status_code == 200:
                    return
                time.sleep(0.1)
        raise TimeoutError(f"{self.url}{wait_for} did not answer 200; see {self.log_path}")

    def terminate(self) -> None:
        """Send SIGTERM (graceful shutdown) without waiting."""
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> int | None:
        """SIGTERM, wait, kill if needed; return the exit code."""
        if self.process is None:
            return None
        self.terminate()
        try:
            code = self.process.wait(timeout=self.graceful_shutdown_seconds + 5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code
