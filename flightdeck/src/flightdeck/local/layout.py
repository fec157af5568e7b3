"""Where the local platform keeps its files: everything under one run directory."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from flightdeck.core.files import write_atomically

# A UNIX socket path must fit in sockaddr_un (108 bytes on Linux).
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def metrics(self) -> Path:
        """Prometheus text files (`*.prom`) that the receiver serves on /metrics."""
        return self.root / "metrics"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def uploads(self) -> Path:
        """UPLOAD_DIR shared by every backend replica, like the ReadWriteMany volume."""
        return self.data / "uploads"

    @property
    def incidents(self) -> Path:
        return self.state / "incidents.jsonl"

    @property
    def supervisor_socket(self) -> Path:
        path = self.root / "supervisor.sock"
        if len(str(path)) <= _MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"flightdeck-{digest}.sock"

    def secret(self, name: str, generate: Callable[[], str]) -> str:
        """A secret of this platform in `secrets/NAME` (mode 0600), generated on first use."""
        path = self.root / "secrets" / name
        if not path.exists():
            write_atomically(path, generate() + "\n", mode=0o600)
        return path.read_text().strip()

    def create(self) -> None:
        for directory in (self.conf, self.logs, self.data, self.state, self.metrics, self.tls):
            directory.mkdir(parents=True, exist_ok=True)
        self.uploads.mkdir(parents=True, exist_ok=True)
