"""Probe: hostile input to the rollout and platform commands, on a running local platform.

The command-execution hole of the rollout CLI (a `--version` or `--set` value ending the quoted
line of a supervisord program and adding a `[program:...]` of its own) is tried for real, with
`flightdeck` run as a user runs it; so are the other bad inputs found by probing. Each must end
in exit code 2 with a message naming the problem, and nothing may have run or been created.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from flightdeck.engines.local import LocalPlatform

pytestmark = pytest.mark.e2e


def flightdeck(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flightdeck", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def config_of(platform: LocalPlatform) -> Path:
    return platform.config.run_dir.parent / "flightdeck.yaml"


def program_files(platform: LocalPlatform) -> str:
    programs = platform.run_dir.conf / "programs"
    return "".join(path.read_text() for path in sorted(programs.glob("*.conf")))


INJECTION = '1.0"\n[program:pwned]\ncommand=/usr/bin/touch {marker}\nautostart=true\n'


@pytest.mark.parametrize("where", ["--version", "--set"])
def test_the_supervisord_injection_is_refused_and_runs_nothing(
    platform: LocalPlatform, tmp_path: Path, where: str
) -> None:
    marker = tmp_path / "pwned"
    payload = INJECTION.format(marker=marker)
    args = ["--version", payload] if where == "--version" else ["--version", "9.9.9"]
    if where == "--set":
        args += ["--set", f"NOTE={payload}"]
    result = flightdeck("canary", "start", *args, "--config", str(config_of(platform)))
    assert result.returncode == 2, result.stderr
    assert where in result.stderr
    assert "Traceback" not in result.stderr
    assert "pwned" not in program_files(platform)
    assert not marker.exists()
    assert platform.workloads.get("canary") is None


def test_set_values_reach_the_canary_verbatim_without_expansion(
    platform: LocalPlatform, tmp_path: Path
) -> None:
    """`%(ENV_HOME)s`, quotes, `;`, `#` and brackets are data: the process sees exactly them."""
    value = "%(ENV_HOME)s \"quoted\" 'single' ; # [brackets] $HOME ${HOME} `tick`"
    config = str(config_of(platform))
    started = flightdeck(
        "canary", "start", "--version", "2.99.0", "--set", f"PROBE_VALUE={value}",
        "--detach", "--config", config,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    try:
        ticked = flightdeck("canary", "tick", "--config", config)
        assert ticked.returncode == 0, ticked.stderr
        replica = platform.context.tracks.load()["canary"].replicas[0]
        info = platform.supervisor.process(replica.name, replica.name)
        assert info is not None
        assert info["statename"] == "RUNNING"
        environ = Path(f"/proc/{info['pid']}/environ").read_bytes().split(b"\0")
        assert f"PROBE_VALUE={value}".encode() in environ
        assert "PROBE_VALUE" not in program_files(platform)
    finally:
        aborted = flightdeck("canary", "abort", "--config", config)
        assert aborted.returncode == 1, aborted.stderr  # aborted = rolled back
    assert platform.workloads.get("canary") is None


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["canary", "watch", "--name", "../../escape"], "--name"),
        (["canary", "status", "--name", "Backend"], "--name"),
        (["canary", "start", "--version", "-rc1"], "--version"),
        (["canary", "start", "--version", "1.0.0", "--set", "1BAD=x"], "--set"),
        (["canary", "start", "--version", "1.0.0", "--set", "APP_VERSION=3.0.0"], "APP_VERSION"),
        (["canary", "start", "--version", "1.0.0", "--set", "A=" + "x" * 5000], "4096"),
        (["canary", "start", "--version", "1.0.0", "--set", "A[red]=x"], "A[red]"),
    ],
)
def test_bad_rollout_arguments_exit_2_naming_the_problem(
    platform: LocalPlatform, args: list[str], named: str
) -> None:
    state = platform.run_dir.state
    before = sorted(path.name for path in state.parent.rglob("*"))
    result = flightdeck(*args, "--config", str(config_of(platform)))
    assert result.returncode == 2, result.stderr
    assert named in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(path.name for path in state.parent.rglob("*")) == before


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"tls:\n  server_name: \xff\xfe\n", "not UTF-8"),
        (b"tls:\n  server_name: 'localhost; location /x { return 200 y; } #'\n", "server_name"),
        (b"ports:\n  https: true\n", "ports.https"),
        (b"rate_limit:\n  requests_per_second: 100000000000\n", "rate_limit.requests_per_second"),
        (b"backend:\n  version: '1.0 \"x\"'\n", "backend.version"),
        (b"run_dir: 'run dir;#'\n", "run_dir"),
    ],
)
def test_bad_platform_config_exits_2_naming_the_field(
    tmp_path: Path, content: bytes, named: str
) -> None:
    config = tmp_path / "flightdeck.yaml"
    config.write_bytes(content)
    result = flightdeck("status", "--config", str(config))
    assert result.returncode == 2, result.stderr
    assert named in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ({"strategy": {"steps": [{"weight": 10, "hold": "99999999h"}]}}, "steps.0.hold"),
        ({"strategy": {"steps": [{"weight": 10, "hold": 1e300}]}}, "steps.0.hold"),
        ({"steps": [{"weight": 10, "hold": "1m"}]}, "moved under strategy"),
        ({"analysis": {"interval": ".nan"}}, "analysis.interval"),
        ({"name": "../x"}, "name"),
    ],
)
def test_bad_rollout_specs_exit_2_naming_the_field(
    platform: LocalPlatform, tmp_path: Path, spec: dict[str, object], named: str
) -> None:
    path = tmp_path / "rollout.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = flightdeck(
        "canary", "start", "--version", "3.0.0", "--spec", str(path),
        "--config", str(config_of(platform)),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def test_a_spec_that_is_a_directory_or_not_utf8_exits_2(
    platform: LocalPlatform, tmp_path: Path
) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: \xff\n")
    for spec, named in ((tmp_path, "is a directory"), (binary, "not UTF-8")):
        result = flightdeck(
            "canary", "start", "--version", "3.0.0", "--spec", str(spec),
            "--config", str(config_of(platform)),
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert named in result.stderr
