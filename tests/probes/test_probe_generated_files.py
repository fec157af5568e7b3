"""Probe: no user-supplied string changes the structure of a generated configuration file.

Every value a person or CI supplies and that ends up in a file another program parses is fed
arbitrary text (Hypothesis) plus the payloads that broke earlier versions. Each input is either
refused with a ConfigError (exit code 2 on the command line) or the files come out with exactly
the structure they have with a harmless value, as read back by the consumer's own parser:
supervisord's configuration reader, crossplane (an nginx configuration parser), YAML, dotenv.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import crossplane
import pytest
import yaml
from dotenv import dotenv_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from supervisor.options import ServerOptions

from flightdeck.core.errors import ConfigError
from flightdeck.core.validation import parse_env_assignments
from flightdeck.local.backup import backup_environment, write_backup_env
from flightdeck.local.config import PlatformConfig, load_platform_config
from flightdeck.local.context import LocalContext
from flightdeck.local.ingress import IngressRouting, render_nginx_conf
from flightdeck.local.layout import RunDir
from flightdeck.local.monitoring import alertmanager_config, prometheus_config
from flightdeck.local.supervisor import Program, Supervisor, supervisor_quote
from flightdeck.workloads import TrackSpec

pytestmark = pytest.mark.unit

# What broke earlier versions, and the classic shapes of injection into each file format.
PAYLOADS = [
    '1.0"\n[program:pwn]\ncommand=touch /tmp/pwned\n',
    "x\n[program:pwn]\ncommand=/bin/sh -c id",
    "%(ENV_HOME)s",
    "%(here)s%%",
    "localhost; location /x { return 200 y; } #",
    "a;b#c{d}e$f",
    '"; include /etc/passwd; "',
    "'single' \"double\" `tick` $(sub) ${var}",
    "key: value\nother: 1",
    "\u2028line\u2029separators\x85",
    "\r\nCR",
    "\x00nul",
    " leading and trailing ",
    "é\u00a0ünïcödé 漢字",
    "",
    "a" * 5000,
]
texts = st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=200))
T = TypeVar("T")


def attempt(action: Callable[[], T]) -> tuple[T | None, Exception | None]:
    """Run `action`; a refusal (ConfigError, or ValueError below the config layer) is returned."""
    try:
        return action(), None
    except (ConfigError, ValueError) as refused:
        return None, refused


EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# -- readers: each file as its consumer reads it ------------------------------------------------
def supervisor_programs(config_file: Path) -> dict[str, list[str]]:
    """supervisord's own reading of its configuration: program name -> argv."""
    options = ServerOptions()
    options.configfile = str(config_file)
    options.process_config(do_usage=False)
    return {
        process.name: shlex.split(process.command)
        for group in options.process_group_configs
        for process in group.process_configs
    }


def nginx_shape(config_text: str, directory: Path) -> list[Any]:
    """The directive tree of an nginx.conf (names, argument counts and nesting), by crossplane."""
    path = directory / "nginx.conf"
    path.write_text(config_text)
    parsed = crossplane.parse(str(path), single=True, check_ctx=False, check_args=False)
    assert parsed["status"] == "ok", parsed["errors"]

    def shape(block: list[dict[str, Any]], data: bool = False) -> list[Any]:
        # The entries of a map are keys and values (data), not directives.
        return [
            (
                "<entry>" if data else d["directive"],
                len(d["args"]),
                shape(d.get("block", []), d["directive"] in ("map", "split_clients")),
            )
            for d in block
        ]

    return shape(parsed["config"][0]["parsed"])


def yaml_shape(data: Any) -> Any:
    if isinstance(data, dict):
        return {key: yaml_shape(value) for key, value in data.items()}
    if isinstance(data, list):
        return [yaml_shape(value) for value in data]
    return type(data).__name__


# -- supervisord --------------------------------------------------------------------------------
@EXAMPLES
@given(args=st.lists(texts, min_size=1, max_size=4))
def test_a_supervisord_argument_reads_back_exactly_or_is_refused(
    tmp_path: Path, args: list[str]
) -> None:
    line, refused = attempt(lambda: " ".join(supervisor_quote(arg) for arg in ["/bin/true", *args]))
    if refused is not None:
        assert "cannot contain" in str(refused)
        return
    config = tmp_path / "supervisord.conf"
    config.write_text(f"[supervisord]\n\n[program:probe]\ncommand={line}\n")
    assert supervisor_programs(config) == {"probe": ["/bin/true", *args]}


@EXAMPLES
@given(version=texts, key=texts, value=texts)
def test_a_track_version_and_environment_never_reach_supervisord_files(
    tmp_path: Path, version: str, key: str, value: str
) -> None:
    """The exploit of the issue: `--version` and `--set` values with a newline and a quote."""
    spec, refused = attempt(
        lambda: TrackSpec("canary", version, 1, parse_env_assignments([f"{key}={value}"]))
    )
    if spec is None:
        assert isinstance(refused, ConfigError)
        return
    env = dict(spec.env)
    run_dir = RunDir(tmp_path / f"run-{abs(hash((version, key, value)))}")
    run_dir.create()
    supervisor = Supervisor(run_dir)
    supervisor.write_main_config()
    program = Program(
        "backend-canary-0",
        ["/bin/true", f"--label={spec.version}"],
        {**spec.env, "APP_VERSION": spec.version},
        tmp_path,
    )
    supervisor.write_group("backend-canary-0", [program])
    programs = supervisor_programs(supervisor.config_path)
    assert list(programs) == ["backend-canary-0"]
    argv = programs["backend-canary-0"]
    launch_file = run_dir.conf / "launch" / "backend-canary-0.json"
    assert argv[1:4] == ["-m", "flightdeck.local.launch", str(launch_file)]
    launch = json.loads(launch_file.read_text())
    assert launch["environment"] == {**env, "APP_VERSION": version}
    assert launch["command"] == ["/bin/true", f"--label={version}"]


# -- the platform configuration: every string field ----------------------------------------------
STRING_FIELDS: dict[str, Callable[[str], dict[str, Any]]] = {
    "backend.version": lambda v: {"backend": {"version": v}},
    "tls.server_name": lambda v: {"tls": {"server_name": v}},
    "canary.header": lambda v: {"canary": {"header": v}},
    "canary.cookie": lambda v: {"canary": {"cookie": v}},
    "database.uri": lambda v: {"database": {"uri": v}},
    "database.name": lambda v: {"database": {"name": v}},
    "monitoring.retention": lambda v: {"monitoring": {"retention": v}},
    "backup.schedule": lambda v: {"backup": {"schedule": v}},
    "backup.azure_connection_string_env": lambda v: {"backup": {"azure_connection_string_env": v}},
    "run_dir": lambda v: {"run_dir": f"/tmp/flightdeck-probe/{v}"},
}


def rendered_files(config: PlatformConfig, directory: Path) -> dict[str, Any]:
    """The shapes of every file the local platform generates from its configuration."""
    context = LocalContext(config)
    nginx = render_nginx_conf(
        context,
        IngressRouting(
            "stable",
            {"stable": ["127.0.0.1:1"], "canary": ["127.0.0.1:2"], "green": ["127.0.0.1:3"]},
            canary_active=True,
            canary_weight=10,
            preview="green",
        ),
        generation=1,
        smoke_token="0" * 64,
    )
    prometheus = yaml.safe_dump(prometheus_config(context))
    alertmanager = yaml.safe_dump(alertmanager_config(context))
    return {
        "nginx": nginx_shape(nginx, directory),
        "prometheus": yaml_shape(yaml.safe_load(prometheus)),
        "alertmanager": yaml_shape(yaml.safe_load(alertmanager)),
    }


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("baseline")
    return rendered_files(PlatformConfig(run_dir=Path("/tmp/flightdeck-probe/run")), directory)


@pytest.mark.parametrize("field", sorted(STRING_FIELDS))
def test_every_config_string_is_refused_or_leaves_the_files_structure_unchanged(
    tmp_path: Path, baseline: dict[str, Any], field: str
) -> None:
    @EXAMPLES
    @given(value=texts)
    def probe(value: str) -> None:
        config_file = tmp_path / "flightdeck.yaml"
        config_file.write_text(yaml.safe_dump(STRING_FIELDS[field](value)), encoding="utf-8")
        config, refused = attempt(lambda: load_platform_config(config_file, tmp_path))
        if config is None:
            assert isinstance(refused, ConfigError)
            assert field.split(".")[-1] in str(refused)
            return
        assert rendered_files(config, tmp_path) == baseline

    probe()


@EXAMPLES
@given(uri=texts.map(lambda text: "mongodb://" + text), connection=texts)
def test_backup_env_file_reads_back_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str, connection: str
) -> None:
    """backup.env (dotenv) holds the database URI and the Azure connection string."""
    # The process environment itself cannot hold a NUL: nothing to probe there.
    monkeypatch.setenv("FLIGHTDECK_BACKUP_AZURE_CONNECTION_STRING", connection.replace("\0", ""))
    monkeypatch.setenv("MONGODB_URI", uri.replace("\0", ""))

    def write() -> tuple[Path, dict[str, str]]:
        context = LocalContext(load_platform_config(None, tmp_path))
        return write_backup_env(context), backup_environment(context)

    written, refused = attempt(write)
    if written is None:
        assert isinstance(refused, ConfigError)
        return
    path, expected = written
    assert dotenv_values(path) == expected
