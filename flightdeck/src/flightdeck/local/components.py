"""The infrastructure components of the local platform: their programs, readiness and status.

Components: the database (embedded FerretDB unless an external MongoDB URI is configured), nginx
as the ingress, Prometheus, Alertmanager, the flightdeck receiver, Azurite and the backup
schedule, each a supervisord program. The backend's tracks are replicas of the same kind; which
ones run is the Workloads family's business (engines/local.py starts the stable track).
"""

from __future__ import annotations

import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from flightdeck.core import terminal
from flightdeck.core.errors import FlightdeckError, PermanentError
from flightdeck.core.paths import repo_root
from flightdeck.local.azurite import DEFAULT_ACCOUNT, azurite_command, azurite_environment
from flightdeck.local.backup import azurite_account_key, backup_environment
from flightdeck.local.context import LocalContext
from flightdeck.local.ingress import NGINX_GROUP, LocalIngress, nginx_executable
from flightdeck.local.supervisor import Program

OPTIONAL_COMPONENTS = ("database", "azurite", "backup-scheduler")


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    port: int | None
    state: str
    healthy: bool
    detail: str
    log: Path


class ComponentNotReadyError(FlightdeckError):
    """A component did not become ready in time; names it and its log."""


def http_ok(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return response.status == 200, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except OSError as exc:
        return False, str(getattr(exc, "reason", exc))


def tcp_ok(port: int) -> tuple[bool, str]:
    with socket.socket() as sock:
        sock.settimeout(1)
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            return True, "accepting connections"
    return False, f"nothing listens on {port}"


def mongo_ok(uri: str) -> tuple[bool, str]:
    try:
        client: MongoClient[dict[str, object]]
        with MongoClient(uri, serverSelectionTimeoutMS=1500, connectTimeoutMS=1500) as client:
            client.admin.command("ping")
    except PyMongoError as exc:
        return False, str(exc).split(",")[0]
    return True, "ping ok"


class PlatformComponents:
    """Programs, readiness checks, status and shutdown of every component of the platform."""

    receiver_module = "flightdeck.local.receiver"
    """The receiver's program; the local engine runs one that also keeps the delivery history."""

    def __init__(self, context: LocalContext) -> None:
        self.context = context
        self.config = context.config
        self.run_dir = context.run_dir
        self.supervisor = context.supervisor
        self.ingress = LocalIngress(context)

    def receiver_environment(self) -> dict[str, str]:
        """The receiver's environment (the local engine's names the history's database)."""
        return {}

    # -- programs -----------------------------------------------------------------------------
    def programs(self) -> dict[str, Program]:
        config, run_dir, root = self.config, self.run_dir, repo_root()
        python = sys.executable
        programs = {
            "prometheus": Program(
                name="prometheus",
                command=[
                    shutil.which("prometheus") or "/usr/bin/prometheus",
                    f"--config.file={run_dir.conf / 'prometheus.yml'}",
                    f"--storage.tsdb.path={run_dir.data / 'prometheus'}",
                    f"--storage.tsdb.retention.time={config.monitoring.retention}",
                    f"--web.listen-address=127.0.0.1:{config.ports.prometheus}",
                    "--web.enable-lifecycle",
                ],
                environment={},
                directory=run_dir.root,
            ),
            "alertmanager": Program(
                name="alertmanager",
                command=[
                    shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager",
                    f"--config.file={run_dir.conf / 'alertmanager.yml'}",
                    f"--storage.path={run_dir.data / 'alertmanager'}",
                    f"--web.listen-address=127.0.0.1:{config.ports.alertmanager}",
                    "--cluster.listen-address=",
                ],
                environment={},
                directory=run_dir.root,
            ),
            "receiver": Program(
                name="receiver",
                command=[
                    python,
                    "-m",
                    self.receiver_module,
                    f"--port={config.ports.receiver}",
                    f"--incidents={run_dir.incidents}",
                    f"--metrics-dir={run_dir.metrics}",
                    f"--tls-dir={run_dir.tls}",
                ],
                environment=self.receiver_environment(),
                directory=run_dir.root,
            ),
            NGINX_GROUP: Program(
                name=NGINX_GROUP,
                command=[
                    nginx_executable(),
                    "-p",
                    str(run_dir.root),
                    "-c",
                    str(run_dir.conf / "nginx.conf"),
                ],
                environment={},
                directory=run_dir.root,
                stop_signal="QUIT",
            ),
        }
        if config.backup.enabled:
            if config.azure_connection_string is None:
                programs["azurite"] = Program(
                    name="azurite",
                    command=azurite_command(run_dir.data / "azurite", config.ports.azurite),
                    environment=azurite_environment(
                        DEFAULT_ACCOUNT, azurite_account_key(self.context)
                    ),
                    directory=run_dir.root,
                )
            programs["backup-scheduler"] = Program(
                name="backup-scheduler",
                command=[python, "-m", "flightdeck", "backup", "schedule"],
                environment=backup_environment(self.context),
                directory=run_dir.root,
            )
        if config.embedded_database:
            binary = root / "bin" / "ferretdb-runner"
            if not binary.exists():
                raise PermanentError(f"{binary} is missing: run `make setup`")
            programs["database"] = Program(
                name="database",
                command=[
                    str(binary),
                    f"--listen-addr=127.0.0.1:{config.ports.mongodb}",
                    f"--data-dir={run_dir.data / 'mongodb'}",
                    "--log-level=error",
                ],
                environment={},
                directory=run_dir.root,
            )
        return programs

    # -- readiness ----------------------------------------------------------------------------
    def checks(self) -> dict[str, Callable[[], tuple[bool, str]]]:
        ports = self.config.ports
        checks: dict[str, Callable[[], tuple[bool, str]]] = {
            "prometheus": lambda: http_ok(f"http://127.0.0.1:{ports.prometheus}/-/ready"),
            "alertmanager": lambda: http_ok(f"http://127.0.0.1:{ports.alertmanager}/-/ready"),
            "receiver": lambda: http_ok(f"http://127.0.0.1:{ports.receiver}/healthz"),
            NGINX_GROUP: self._nginx_check,
        }
        if self.config.embedded_database:
            checks["database"] = lambda: mongo_ok(self.config.mongodb_uri)
        if self.config.backup.enabled:
            if self.config.azure_connection_string is None:
                checks["azurite"] = partial(tcp_ok, self.config.ports.azurite)
            checks["backup-scheduler"] = partial(self._running, "backup-scheduler")
        for state in self.context.tracks.load().values():
            for replica in state.replicas:
                checks[replica.name] = partial(
                    http_ok, f"http://127.0.0.1:{replica.port}/health/ready"
                )
        return checks

    def _running(self, name: str) -> tuple[bool, str]:
        info = self.supervisor.process(name, name)
        if info is None or info["statename"] != "RUNNING":
            return False, "not running"
        return True, f"running since {time.strftime('%H:%M:%S', time.localtime(info['start']))}"

    def _nginx_check(self) -> tuple[bool, str]:
        served = self.ingress.served_generation()
        if served is None:
            return False, "no answer on HTTPS"
        return True, f"routing generation {served}"

    def wait(self, name: str, check: Callable[[], tuple[bool, str]]) -> None:
        deadline = time.monotonic() + self.config.ready_timeout_seconds
        detail = ""
        while time.monotonic() < deadline:
            ok, detail = check()
            if ok:
                return
            info = self.supervisor.process(name, name)
            if info is not None and info["statename"] in ("FATAL", "EXITED", "BACKOFF"):
                detail = f"{info['statename'].lower()}: {info.get('spawnerr') or detail}"
                if info["statename"] == "FATAL":
                    break
            time.sleep(0.2)
        raise ComponentNotReadyError(
            f"{name} did not become ready within {self.config.ready_timeout_seconds:.0f}s "
            f"({detail}); see its log: {self.run_dir.logs / (name + '.log')}"
        )

    # -- lifecycle ----------------------------------------------------------------------------
    def check_ports_free(self) -> None:
        """Before starting anything, name a fixed port that something else already holds."""
        if self.supervisor.is_running():
            return
        ports = self.config.ports.model_dump()
        if not self.config.embedded_database:
            ports.pop("mongodb")
        if not self.config.backup.enabled or self.config.azure_connection_string:
            ports.pop("azurite")
        for name, port in ports.items():
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    raise PermanentError(
                        f"port {port} (ports.{name}) is already in use; "
                        "stop what listens there or change it in flightdeck.yaml"
                    )

    def down(self, purge: bool = False) -> None:
        self.supervisor.shutdown()
        if purge:
            self.run_dir.supervisor_socket.unlink(missing_ok=True)
            shutil.rmtree(self.run_dir.root, ignore_errors=True)

    def status(self) -> list[ComponentStatus]:
        ports = self.config.ports
        known_ports: dict[str, int] = {
            "database": ports.mongodb,
            "prometheus": ports.prometheus,
            "alertmanager": ports.alertmanager,
            "receiver": ports.receiver,
            "azurite": ports.azurite,
            NGINX_GROUP: ports.https,
        }
        for state in self.context.tracks.load().values():
            for replica in state.replicas:
                known_ports[replica.name] = replica.port
        processes = {info["name"]: info for info in self.supervisor.processes()}
        result = []
        for name, check in self.checks().items():
            info = processes.get(name)
            running = info is not None and info["statename"] == "RUNNING"
            healthy, detail = check() if running else (False, "not running")
            result.append(
                ComponentStatus(
                    name=name,
                    pid=info["pid"] if running and info else None,
                    port=known_ports.get(name),
                    state=info["statename"].lower() if info else "absent",
                    healthy=healthy,
                    detail=detail,
                    log=self.run_dir.logs / f"{name}.log",
                )
            )
        return result

    def urls(self) -> dict[str, str]:
        ports = self.config.ports
        https = "" if ports.https == 443 else f":{ports.https}"
        return {
            "app": f"https://localhost{https}",
            "api": f"https://localhost{https}/api/notes",
            "prometheus": f"http://127.0.0.1:{ports.prometheus}",
            "alertmanager": f"http://127.0.0.1:{ports.alertmanager}",
            "incidents": f"http://127.0.0.1:{ports.receiver}/incidents",
        }


@contextmanager
def step(label: str) -> Iterator[None]:
    started = time.monotonic()
    try:
        with terminal.status(f"{label} ..."):
            yield
    except FlightdeckError:
        terminal.error(f"{label}: failed")
        raise
    terminal.success(f"{label} ({time.monotonic() - started:.1f}s)")
