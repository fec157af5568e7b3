"""Probes of `flightdeck backup` with bad input: exit code 2 and a message naming the problem,
never a traceback (issue 10, point 4). Run in-process: every case fails before any server is
contacted (the MongoDB URI points at a closed port), and an uncaught exception fails the test.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from flightdeck.cli import main

pytestmark = pytest.mark.unit

KEY = base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def backup_cli_probe_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Valid settings (a key, empty directories, an unreachable MongoDB); cases override one."""
    for name in list(os.environ):
        if name.startswith("FLIGHTDECK_BACKUP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FLIGHTDECK_BACKUP_ENV_FILE", "")
    monkeypatch.setenv("FLIGHTDECK_BACKUP_KEY", KEY)
    monkeypatch.setenv("FLIGHTDECK_BACKUP_LOCAL_DIR", str(tmp_path / "backups"))
    monkeypatch.setenv("FLIGHTDECK_BACKUP_METRICS_DIR", str(tmp_path / "metrics"))
    monkeypatch.setenv("FLIGHTDECK_BACKUP_MONGODB_URI", "mongodb://127.0.0.1:1/")
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "a-file").write_text("x\n")
    (tmp_path / "not-utf8.env").write_bytes(b"FLIGHTDECK_BACKUP_DATABASE=\xff\xfe\n")
    return tmp_path


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ended:
        main(["backup", *argv])
    code = ended.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


CASES: list[tuple[list[str], dict[str, str], str]] = [
    (["restore", "--to", ""], {}, "--to: the database name is empty"),
    (["restore", "--to", "a/b"], {}, "--to: 'a/b' is not a MongoDB database name"),
    (["restore", "--to", "[a.b]"], {}, "--to: '[a.b]' is not a MongoDB database name"),
    (["restore", "--to", "x" * 64], {}, "is not a MongoDB database name (at most 63 bytes"),
    (["verify", "../../etc/passwd"], {}, "backup id '../../etc/passwd': expected 'latest'"),
    (["verify", "nonexistent"], {}, "backup id 'nonexistent': expected 'latest' or an id"),
    (["restore", "20260101T000000Z-abcdef"], {}, "no complete backup with that id"),
    (["verify", "--from", "gcs"], {}, "--from 'gcs': not a configured store"),
    (["prune", "--now", "yesterday"], {}, "--now: 'yesterday' is not an ISO 8601 time"),
    (["cycle", "--now", "[soon]"], {}, "--now: '[soon]' is not an ISO 8601 time"),
    (["cycle", "--verify-from", "azure"], {}, "--verify-from 'azure': not a configured store"),
    (["cycle", "--verify-from", "../x"], {}, "--verify-from '../x': not a configured store"),
    (["verify"], {"KEY": "not base64!"}, "FLIGHTDECK_BACKUP_KEY: not valid base64"),
    (["verify"], {"KEY": base64.b64encode(b"short").decode()}, "must decode to 32 bytes, got 5"),
    (["verify"], {"KEY": "", "KEY_FILE": "{tmp}/a-directory"}, "cannot read: Is a directory"),
    (["verify"], {"KEY": "", "KEY_FILE": "{tmp}/missing"}, "cannot read: No such file"),
    (["list"], {"ENV_FILE": "{tmp}/not-utf8.env"}, "not-utf8.env: cannot read: not UTF-8"),
    (["list"], {"ENV_FILE": "{tmp}/a-directory"}, "a-directory: no such file"),
    (["list"], {"DATABASE": "a/b"}, "database: Value error, database name: 'a/b' is not"),
    (["list"], {"AZURE_CONTAINER": "Backups_2026"}, "azure_container: String should match"),
    (["prune"], {"LOCAL_RETENTION_DAYS": "1e10"}, "local_retention_days: Input should be less"),
    (["run"], {"LOCAL_DIR": "{tmp}/a-file"}, "LOCAL_DIR={tmp}/a-file: not a directory"),
    (["run"], {"MONGODUMP": "{tmp}/a-directory"}, "a-directory is not an executable file"),
    (["prune"], {"METRICS_DIR": "{tmp}/a-file"}, "METRICS_DIR={tmp}/a-file: not a directory"),
    (["schedule"], {"SCHEDULE": "every [6] hours"}, "'every [6] hours' is not a cron expression"),
]


@pytest.mark.parametrize(("argv", "env", "message"), CASES)
def test_bad_backup_input_exits_2_naming_the_problem(
    backup_cli_probe_dirs: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    tmp = str(backup_cli_probe_dirs)
    for name, value in env.items():
        monkeypatch.setenv(f"FLIGHTDECK_BACKUP_{name}", value.replace("{tmp}", tmp))
    code, err = run_cli(argv, capsys)
    assert code == 2, err
    assert message.replace("{tmp}", tmp) in err
    assert "Traceback" not in err


def test_a_directory_where_a_manifest_should_be_is_an_error_not_a_traceback(
    backup_cli_probe_dirs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backup_id = "20260101T000000Z-abcdef"
    (backup_cli_probe_dirs / "backups" / f"{backup_id}.manifest.json").mkdir(parents=True)
    code, err = run_cli(["verify", backup_id], capsys)
    assert code == 1
    assert f"{backup_id}.manifest.json: Is a directory" in err
    code, err = run_cli(["list"], capsys)  # a directory is not a manifest: nothing listed
    assert code == 0, err
