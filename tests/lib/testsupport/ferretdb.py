"""A real FerretDB (MongoDB wire protocol over SQLite) process for tests."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from pymongo import MongoClient

from testsupport import BIN_DIR
from testsupport.ports import free_port, wait_for_port
from testsupport.processes import stop_process


@dataclass
class FerretDB:
    """One bin/ferretdb-runner process on 127.0.0.1, with its data under data_dir.

    stop() and start() keep the port and the data, so a test can take the database away from a
    running client and give it back.
    """

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "ferretdb.log"

    def start(self) -> None:
        binary = BIN_DIR / "ferretdb-runner"
        if not binary.exists():
            raise RuntimeError(f"{binary} is missing: run `make setup` first")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(binary),
                    f"--listen-addr=127.0.0.1:{self.port}",
                    f"--data-dir={self.data_dir / 'data'}",
                    "--log-level=error",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port)
        with MongoClient(self.uri, serverSelectionTimeoutMS=10_000) as client:
            client.admin.command("ping")

    def stop(self) -> None:
        if self.process is None:
            return
        stop_process(self.process)
        self.process = None
