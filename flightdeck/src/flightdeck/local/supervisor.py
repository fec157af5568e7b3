"""supervisord: the process manager of the local platform, driven over its XML-RPC socket.

Every component is a supervisord program defined in its own file under `conf/programs/`; changing a
component means rewriting its file and calling `update()`, which applies the difference like
`supervisorctl update` (only changed groups restart).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from supervisor.xmlrpc import SupervisorTransport

from flightdeck.core.errors import PermanentError, RetryableError
from flightdeck.core.files import write_atomically
from flightdeck.core.validation import control_characters
from flightdeck.local.layout import RunDir

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_BARE = re.compile(r"[A-Za-z0-9_./:=@,+-]")
# supervisord's own log lines about a process ending: `exited:` when it ended by itself (a crash,
# a kill; autorestart starts it again), `stopped:` when someone asked it to stop.
_END_OF_PROCESS = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ \w+ (?P<how>exited|stopped): "
    r"(?P<name>[a-z0-9][a-z0-9-]*) \((?P<detail>.*)\)$"
)


@dataclass(frozen=True)
class ProcessExit:
    """A process that ended without being asked to, as supervisord's log records it."""

    at: datetime
    detail: str
    """supervisord's words, e.g. `terminated by SIGKILL; not expected`."""


@dataclass(frozen=True)
class Program:
    """One supervised process.

    Its command line, working directory and environment never go into supervisord's files: they
    go into a launch file (JSON, mode 0600) that `flightdeck.local.launch` reads before it execs
    the command. supervisord's file names only the launcher, the launch file and its digest, so a
    value cannot add a section, a line or a `%(...)s` expansion, and a change of environment still
    changes the program's definition (and restarts it on `update`).
    """

    name: str
    command: Sequence[str]
    environment: Mapping[str, str]
    directory: Path
    stop_signal: str = "TERM"
    stop_wait_seconds: int = 30
    autorestart: bool = True

    def launch_spec(self) -> bytes:
        spec = {
            "command": list(self.command),
            "directory": str(self.directory),
            "environment": dict(self.environment),
        }
        return (json.dumps(spec, sort_keys=True) + "\n").encode()

    def render(self, log: Path, launch_file: Path) -> str:
        """The `[program:...]` section; the launch file must hold `launch_spec()`."""
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"{self.name!r} is not a program name")
        digest = "sha256:" + hashlib.sha256(self.launch_spec()).hexdigest()
        launcher = [sys.executable, "-m", "flightdeck.local.launch", str(launch_file), digest]
        lines = [
            f"[program:{self.name}]",
            "command=" + " ".join(supervisor_quote(arg) for arg in launcher),
            "autostart=true",
            f"autorestart={'true' if self.autorestart else 'false'}",
            "startsecs=1",
            "startretries=3",
            f"stopsignal={self.stop_signal}",
            f"stopwaitsecs={self.stop_wait_seconds}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={supervisor_path(log)}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=3",
        ]
        return "\n".join(lines) + "\n"


def supervisor_quote(arg: str) -> str:
    """One argument of a supervisord `command=` line that reads back as exactly `arg`.

    supervisord reads the line with configparser (inline comments start at a `;` or `#` after
    whitespace, the value is stripped), expands `%(name)s`, then splits it with shlex. So: `%`
    becomes `\\%%`; whitespace is single-quoted (no whitespace then precedes a comment sign, and
    none is at either end); every other character outside a small safe set is backslash-escaped.
    Characters a config line cannot hold (control characters, line separators) are refused.
    """
    if found := control_characters(arg):
        raise ValueError(f"a supervisord command argument cannot contain {found!r}")
    if not arg:
        return "''"
    parts = []
    for ch in arg:
        if _BARE.fullmatch(ch):
            parts.append(ch)
        elif ch.isspace():
            parts.append(f"'{ch}'")
        elif ch == "%":
            parts.append("\\%%")
        else:
            parts.append("\\" + ch)
    return "".join(parts)


def supervisor_path(path: Path) -> str:
    """A path as a supervisord value that is not split (log files, sockets, includes).

    The platform config refuses run directories with characters these values cannot carry
    (validation.SafePath); this refuses them again rather than write a file they would break.
    """
    text = str(path)
    if control_characters(text) or any(ch.isspace() or ch in ";#%" for ch in text):
        raise ValueError(f"{text!r} cannot appear in a supervisord file")
    return text


def supervisord_executable() -> str:
    """supervisord from the same environment as flightdeck (the uv venv), else from PATH."""
    candidate = Path(sys.executable).parent / "supervisord"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("supervisord")
    if found is None:
        raise PermanentError("supervisord is not installed: run `make setup`")
    return found


class Supervisor:
    def __init__(self, run_dir: RunDir) -> None:
        self.run_dir = run_dir
        self.config_path = run_dir.conf / "supervisord.conf"
        self.programs_dir = run_dir.conf / "programs"
        self.launch_dir = run_dir.conf / "launch"

    # -- configuration ------------------------------------------------------------------------
    def write_main_config(self) -> None:
        socket = self.run_dir.supervisor_socket
        path = supervisor_path
        content = f"""; generated by flightdeck; edit flightdeck.yaml instead
[unix_http_server]
file={path(socket)}
chmod=0700

[supervisord]
logfile={path(self.run_dir.logs / "supervisord.log")}
pidfile={path(self.run_dir.root / "supervisord.pid")}
childlogdir={path(self.run_dir.logs)}
nodaemon=false
silent=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{path(socket)}

[include]
files = {path(self.programs_dir)}/*.conf
"""
        self.programs_dir.mkdir(parents=True, exist_ok=True)
        write_atomically(self.config_path, content)

    def write_group(self, group: str, programs: Sequence[Program]) -> None:
        """Define a group of programs (a component, or a backend track)."""
        if not _NAME.fullmatch(group):
            raise ValueError(f"{group!r} is not a group name")
        sections = []
        for program in programs:
            launch_file = self.launch_dir / f"{program.name}.json"
            # Written before the program file that names it, and checked by the launcher against
            # the digest in that file.
            write_atomically(launch_file, program.launch_spec(), mode=0o600)
            sections.append(program.render(self.run_dir.logs / f"{program.name}.log", launch_file))
        body = "\n".join(sections)
        body += f"\n[group:{group}]\nprograms={','.join(p.name for p in programs)}\n"
        write_atomically(self.programs_dir / f"{group}.conf", body, mode=0o600)

    def remove_group(self, group: str) -> None:
        (self.programs_dir / f"{group}.conf").unlink(missing_ok=True)

    # -- the daemon ---------------------------------------------------------------------------
    def _proxy(self) -> Any:
        transport = SupervisorTransport(
            None, None, serverurl=f"unix://{self.run_dir.supervisor_socket}"
        )
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport).supervisor

    def is_running(self) -> bool:
        try:
            state = self._proxy().getState()
        except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
            return False
        return cast(dict[str, Any], state).get("statename") == "RUNNING"

    def start_daemon(self) -> None:
        if self.is_running():
            return
        self.run_dir.supervisor_socket.unlink(missing_ok=True)
        result = subprocess.run(
            [supervisord_executable(), "-c", str(self.config_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise PermanentError(
                f"supervisord did not start: {result.stderr.strip() or result.stdout.strip()} "
                f"(log: {self.run_dir.logs / 'supervisord.log'})"
            )
        deadline = time.monotonic() + 10
        while not self.is_running():
            if time.monotonic() > deadline:
                raise RetryableError(
                    f"supervisord is not answering on {self.run_dir.supervisor_socket} "
                    f"(log: {self.run_dir.logs / 'supervisord.log'})"
                )
            time.sleep(0.1)

    def update(self) -> None:
        """Apply the program files: add new groups, restart changed ones, remove deleted ones."""
        proxy = self._proxy()
        added, changed, removed = proxy.reloadConfig()[0]
        for group in removed + changed:
            proxy.stopProcessGroup(group, True)
            proxy.removeProcessGroup(group)
        for group in changed + added:
            proxy.addProcessGroup(group)

    def shutdown(self) -> None:
        if not self.is_running():
            return
        proxy = self._proxy()
        proxy.stopAllProcesses(True)
        proxy.shutdown()
        deadline = time.monotonic() + 15
        while self.is_running() and time.monotonic() < deadline:
            time.sleep(0.1)

    # -- processes ----------------------------------------------------------------------------
    def processes(self) -> list[dict[str, Any]]:
        if not self.is_running():
            return []
        return cast(list[dict[str, Any]], self._proxy().getAllProcessInfo())

    def process(self, group: str, name: str) -> dict[str, Any] | None:
        for info in self.processes():
            if info["group"] == group and info["name"] == name:
                return info
        return None

    def signal(self, group: str, name: str, signal: str) -> None:
        self._proxy().signalProcess(f"{group}:{name}", signal)

    def stop_process(self, group: str, name: str) -> None:
        self._proxy().stopProcess(f"{group}:{name}", True)

    def start_process(self, group: str, name: str) -> None:
        self._proxy().startProcess(f"{group}:{name}", True)

    # -- history ------------------------------------------------------------------------------
    def unplanned_exits(self, name: str) -> list[ProcessExit]:
        """The exits of program `name` that nobody asked for, since it was last stopped on purpose.

        Read from supervisord's log (the rotated file first): every `exited:` line after the
        program's last `stopped:` line. A stop on purpose (`update` replacing the program, a
        restart, `down`) starts a new history, like a new pod in Kubernetes. The log's times are
        local time, as supervisord writes them.
        """
        log = self.run_dir.logs / "supervisord.log"
        if not log.exists():
            raise PermanentError(f"supervisord's log {log} is missing: restarts cannot be counted")
        exits: list[ProcessExit] = []
        for path in (log.with_name(log.name + ".1"), log):
            if not path.exists():
                continue
            with path.open(encoding="utf-8", errors="replace") as lines:
                for line in lines:
                    found = _END_OF_PROCESS.match(line.rstrip("\n"))
                    if found is None or found["name"] != name:
                        continue
                    if found["how"] == "stopped":
                        exits = []
                        continue
                    at = datetime.strptime(found["at"], "%Y-%m-%d %H:%M:%S").astimezone()
                    exits.append(ProcessExit(at, found["detail"]))
        return exits
