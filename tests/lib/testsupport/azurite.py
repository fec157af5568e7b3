"""A real Azurite (Azure Blob Storage emulator) process for tests, with a random account key."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from flightdeck.local.azurite import (
    DEFAULT_ACCOUNT,
    azurite_blob,
    azurite_command,
    azurite_connection_string,
    azurite_environment,
    generate_account_key,
)
from testsupport.ports import free_port, wait_for_port


@dataclass
class Azurite:
    """One azurite-blob process on 127.0.0.1; stop() kills it (to simulate an outage)."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    account: str = DEFAULT_ACCOUNT
    key: str = field(default_factory=generate_account_key)
    process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return azurite_connection_string(self.account, self.key, self.port)

    def start(self) -> None:
        if not azurite_blob().exists():
            raise RuntimeError(f"{azurite_blob()} is missing: run `make setup` first")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **azurite_environment(self.account, self.key)}
        with (self.data_dir / "azurite.log").open("ab") as log:
            self.process = subprocess.Popen(
                azurite_command(self.data_dir, self.port),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        wait_for_port(self.port, timeout=30)

    def stop(self) -> None:
        """Kill Azurite (and node's children) at once, as a crash or network cut would."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None


def start_azurite(data_dir: Path) -> Azurite:
    server = Azurite(data_dir)
    server.start()
    return server
