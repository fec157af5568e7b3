"""Real Prometheus and Alertmanager servers (Debian's binaries) on free loopback ports."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from testsupport.ports import free_port
from testsupport.processes import stop_process


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s:\n{log.read_text()}")


@dataclass
class _Server:
    """One server process with its data and log under data_dir; stop() ends it."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def _start(self, argv: list[str], ready_path: str) -> None:
        if shutil.which(argv[0]) is None:
            raise RuntimeError(f"{argv[0]} is missing: run `make setup` first")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        _wait_ready(self.url + ready_path, self.process, self.log_path, timeout=30)

    def stop(self) -> None:
        if self.process is None:
            return
        stop_process(self.process)
        self.process = None


@dataclass
class Prometheus(_Server):
    """`prometheus --config.file=config` with its TSDB in data_dir."""

    config: Path = Path("prometheus.yml")
    extra_args: tuple[str, ...] = ()

    def start(self) -> None:
        self._start(
            [
                "prometheus",
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
                *self.extra_args,
            ],
            "/-/ready",
        )


@dataclass
class Alertmanager(_Server):
    """`prometheus-alertmanager --config.file=config`, clustering off, state in data_dir."""

    config: Path = Path("alertmanager.yaml")

    def start(self) -> None:
        self._start(
            [
                "prometheus-alertmanager",
                f"--config.file={self.config}",
                f"--storage.path={self.data_dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            "/-/ready",
        )
