"""The backend application for tests: a real uvicorn process on a free loopback port, or the app
in-process through httpx's ASGI transport."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
from fastapi import FastAPI

from app.core.config import Settings
from testsupport.ports import free_port, wait_for_port
from testsupport.processes import stop_process
from testsupport.waiting import wait_until


@dataclass
class BackendProcess:
    """`uvicorn app.main:app` with one worker, configured through the environment.

    env holds the backend's variables (MONGODB_URI, UPLOAD_DIR, FAULT_LATENCY_MS, ...); the log
    (JSON lines on stdout) goes to log_path. `launcher` is put before the command (for example
    `prlimit --fsize=...` or an `unshare` that mounts a small tmpfs first).
    """

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    graceful_shutdown_seconds: int = 20
    launcher: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_for: str = "/health/live") -> None:
        """Start uvicorn and wait until wait_for answers 200."""
        command = [
            *self.launcher,
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
            wait_until(
                lambda: client.get(wait_for).status_code == 200,
                timeout=20,
                what=f"{self.url}{wait_for} to answer 200 (see {self.log_path})",
            )

    def terminate(self) -> None:
        """Send SIGTERM (graceful shutdown) without waiting."""
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> int | None:
        """SIGTERM, wait, kill if needed; return the exit code."""
        if self.process is None:
            return None
        code = stop_process(self.process, timeout=self.graceful_shutdown_seconds + 5)
        self.process = None
        return code


# In-process helpers: the app driven through httpx's ASGI transport.
SettingsFactory = Callable[..., Settings]


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and give an httpx client that talks to it in-process."""
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://backend.test"
        ) as client,
    ):
        yield client


async def wait_for_status(
    client: httpx.AsyncClient, path: str, status: int, within: float = 20.0
) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        response = await client.get(path)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        await anyio.sleep(0.1)


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample of name whose labels include the given ones."""
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None
