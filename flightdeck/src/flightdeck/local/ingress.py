"""The local ingress: nginx with a configuration rendered from `templates/nginx.conf.j2`.

Rendering never pastes a raw string into nginx.conf. Each value that reaches the template is an
int, a path (rendered as a quoted nginx string, refused if it holds a quote, a backslash, a `$`
or a control character), or a token matched against a narrow pattern; any other value stops the
rendering with an error naming it. The platform config validates the same values where they
enter (host names, header and cookie names, paths), so this is the second line, not the first.

A configuration is installed only after `nginx -t` accepts it, then nginx reloads gracefully.
Every configuration carries a generation number that nginx answers on `/.flightdeck/routing`
(loopback only), so a caller can wait until a fresh connection sees the new configuration.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup

from flightdeck.core.errors import PermanentError, RetryableError
from flightdeck.core.files import write_atomically
from flightdeck.core.validation import control_characters
from flightdeck.local.context import LocalContext
from flightdeck.local.tls import TlsFiles

NGINX_GROUP = "nginx"
ROUTING_PATH = "/.flightdeck/routing"
SMOKE_TOKEN_HEADER = "X-Flightdeck-Smoke"  # noqa: S105 (a header name, not a secret)
PLACEHOLDER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flightdeck</title></head>
<body><h1>Flightdeck</h1>
<p>The frontend is not built yet. The API is at <a href="/api/notes">/api/notes</a>;
health at <a href="/health">/health</a>.</p></body></html>
"""

_TOKEN = re.compile(r"[A-Za-z0-9._:/-]*")
_UNQUOTABLE = frozenset('"\\$')


class Quoted(str):
    """A value already made into a quoted nginx string by `nginx_quote`."""


def nginx_quote(value: str | Path) -> Quoted:
    """A double-quoted nginx string that reads back as `value`, or ValueError.

    nginx has no escape for `$` (variables are expanded in many directives), so a value holding
    one is refused rather than quoted, like quotes, backslashes and control characters.
    """
    text = str(value)
    bad = sorted({ch for ch in text if ch in _UNQUOTABLE} | set(control_characters(text)))
    if bad:
        raise ValueError(f"{text!r} cannot be written into nginx.conf (contains {bad!r})")
    return Quoted(f'"{text}"')


def _finalize(value: object) -> Markup:
    """Every `{{ ... }}` of the template goes through here; Markup marks what may be written.

    Autoescaping is on only so that the output of the template's own macros arrives as Markup
    (built from values that passed here already); HTML escaping itself never applies, since
    every value leaves as Markup.
    """
    if isinstance(value, Markup | Quoted):
        return Markup(value)  # noqa: S704 (a macro's output, or a path quoted by nginx_quote)
    if isinstance(value, bool):
        raise jinja2.TemplateError(f"nginx.conf: a boolean ({value}) has no nginx spelling")
    if isinstance(value, int):
        return Markup(str(value))  # noqa: S704 (an int)
    if isinstance(value, Path):
        return Markup(nginx_quote(value))  # noqa: S704 (checked by nginx_quote)
    if isinstance(value, str) and _TOKEN.fullmatch(value):
        return Markup(value)  # noqa: S704 (matches the token pattern)
    raise jinja2.TemplateError(f"nginx.conf: refusing to render {value!r} (not a checked token)")


_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("flightdeck.local", "templates"),
    finalize=_finalize,
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=True,
)


@dataclass(frozen=True)
class IngressRouting:
    """What nginx routes, by track: the serving track's endpoints always, a canary pool while
    one is active, and a colour on the preview port while one is checked."""

    active: str
    endpoints: Mapping[str, Sequence[str]]
    canary_active: bool = False
    canary_weight: int = 0
    preview: str | None = None


def smoke_token(context: LocalContext) -> str:
    """The secret that exempts the platform's smoke tests from the rate limit (hex, 32 bytes)."""
    return context.run_dir.secret("smoke-token", lambda: secrets.token_hex(32))


def nginx_executable() -> str:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).exists():
            return candidate
    raise PermanentError("nginx is not installed: run `make setup`")


def render_nginx_conf(
    context: LocalContext, routing: IngressRouting, generation: int, smoke_token: str
) -> str:
    """The whole nginx.conf for the platform's ingress."""
    config, run_dir = context.config, context.run_dir
    if not routing.endpoints.get(routing.active):
        raise PermanentError(f"cannot route: the serving track {routing.active} has no replicas")
    canary_active = routing.canary_active and bool(routing.endpoints.get("canary"))
    pools = [(routing.active, list(routing.endpoints[routing.active]))]
    if canary_active:
        pools.append(("canary", list(routing.endpoints["canary"])))
    if routing.preview is not None:
        if not routing.endpoints.get(routing.preview):
            raise PermanentError(f"cannot preview: the {routing.preview} track has no replicas")
        pools.append((routing.preview, list(routing.endpoints[routing.preview])))
    tls = TlsFiles(run_dir.tls)
    https = config.ports.https
    try:
        return _templates.get_template("nginx.conf.j2").render(
            # nginx's workers otherwise drop to `nobody`, who cannot read a run directory inside a
            # private home or temporary directory; the platform only listens on loopback.
            run_as_root=os.geteuid() == 0,
            run_root=run_dir.root,
            logs=run_dir.logs,
            temp=run_dir.root / "nginx-temp",
            www=run_dir.root / "www",
            # A glob, so that `nginx -t` passes before the frontend is installed.
            frontend_conf=Path(f"{run_dir.conf / 'frontend'}/*.conf"),
            tls_cert=tls.server_cert,
            tls_key=tls.server_key,
            client_max_body_size=config.backend.max_upload_bytes + 1024 * 1024,
            active=routing.active,
            preview=routing.preview,
            preview_port=config.ports.preview,
            canary_active=canary_active,
            canary_active_json="true" if canary_active else "false",
            canary_weight=routing.canary_weight,
            header_variable=config.canary.header.lower().replace("-", "_"),
            cookie=config.canary.cookie,
            rate=config.rate_limit.requests_per_second,
            burst=config.rate_limit.burst,
            pools=pools,
            http_port=config.ports.http,
            https_port=https,
            https_suffix="" if https == 443 else f":{https}",
            server_name=config.tls.server_name,
            routing_path=ROUTING_PATH,
            smoke_token=smoke_token,
            generation=generation,
        )
    except (jinja2.TemplateError, ValueError) as exc:
        raise PermanentError(f"cannot render nginx.conf: {exc}") from exc


class LocalIngress:
    """The nginx process of the local platform: install a configuration, reload, observe."""

    def __init__(self, context: LocalContext) -> None:
        self.context = context
        self.conf_path = context.run_dir.conf / "nginx.conf"

    def install(self, routing: IngressRouting, generation: int) -> None:
        """Render, check with `nginx -t`, install; a rejected configuration is never installed."""
        content = render_nginx_conf(self.context, routing, generation, smoke_token(self.context))
        self._prepare_directories()
        candidate = self.conf_path.with_name("nginx.conf.candidate")
        write_atomically(candidate, content, mode=0o600)  # holds the smoke token
        check = subprocess.run(
            [
                nginx_executable(),
                "-t",
                "-q",
                "-c",
                str(candidate),
                "-p",
                str(self.context.run_dir.root),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            raise PermanentError(
                f"nginx rejected the generated configuration:\n{check.stderr.strip()}"
            )
        os.replace(candidate, self.conf_path)

    def _prepare_directories(self) -> None:
        run_dir = self.context.run_dir
        www = run_dir.root / "www"
        www.mkdir(parents=True, exist_ok=True)
        if not (www / "index.html").exists():
            write_atomically(www / "index.html", PLACEHOLDER_PAGE)
        (run_dir.root / "nginx-temp").mkdir(parents=True, exist_ok=True)

    def reload(self, generation: int, timeout: float = 10.0) -> None:
        """Serve `generation`: a graceful reload, returning once no new connection can reach the
        configuration before it.

        nginx starts new workers and tells the old ones to stop accepting and finish their
        requests. Until an old worker has taken that signal it may still accept a connection,
        so seeing the new generation once is not enough: this also waits until each worker that
        ran before the reload has exited or calls itself "shutting down".
        """
        old_workers = self._worker_pids()
        self.context.supervisor.signal(NGINX_GROUP, NGINX_GROUP, "HUP")
        self.wait_for_generation(generation, timeout)
        deadline = time.monotonic() + timeout
        while any(self._still_accepting(pid) for pid in old_workers):
            if time.monotonic() > deadline:
                raise RetryableError(
                    f"nginx's workers from before generation {generation} still accept "
                    f"connections after {timeout}s (log: {self.context.run_dir.logs})"
                )
            time.sleep(0.01)

    def _worker_pids(self) -> list[int]:
        """The worker processes of the running nginx master (none if it is not running)."""
        try:
            master = int((self.context.run_dir.root / "nginx.pid").read_text().strip())
        except (OSError, ValueError):
            return []
        workers = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the process ended while we looked
            if int(fields[1]) == master:  # the parent pid
                workers.append(int(stat.parent.name))
        return workers

    @staticmethod
    def _still_accepting(pid: int) -> bool:
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False  # exited
        return b"worker process" in title and b"shutting down" not in title

    def served_generation(self) -> int | None:
        """The generation that a new connection to nginx sees, or None if nginx doesn't answer."""
        url = f"https://127.0.0.1:{self.context.config.ports.https}{ROUTING_PATH}"
        context = ssl.create_default_context(cafile=str(TlsFiles(self.context.run_dir.tls).ca_cert))
        context.check_hostname = False
        try:
            with urllib.request.urlopen(url, context=context, timeout=2) as response:
                return int(json.loads(response.read())["generation"])
        except (OSError, ValueError, KeyError):
            return None

    def wait_for_generation(self, generation: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.served_generation() == generation:
                return
            time.sleep(0.02)
        raise RetryableError(
            f"nginx did not serve routing generation {generation} within {timeout}s "
            f"(log: {self.context.run_dir.logs / 'nginx-error.log'})"
        )
