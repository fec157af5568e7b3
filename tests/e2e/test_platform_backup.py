"""Backups on the local platform: taken, verified and restored into a new database, via Azurite."""

import json
import os
import subprocess
import sys

import httpx
from pymongo import MongoClient

from flightdeck.engines.local import LocalPlatform
from testsupport.platform import https_client


def backup_cli(platform: LocalPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLIGHTDECK_BACKUP_ENV_FILE": str(platform.run_dir.root / "backup.env")}
    return subprocess.run(
        [sys.executable, "-m", "flightdeck", "backup", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


def test_backup_verify_and_restore_into_a_new_database(platform: LocalPlatform) -> None:
    status = {c.name: c for c in platform.status()}
    assert status["azurite"].healthy
    assert status["backup-scheduler"].healthy

    with https_client(platform) as client:
        for index in range(5):
            created = client.post("/api/notes", json={"title": f"backup {index}", "body": "x" * 50})
            assert created.status_code == 201, created.text

    taken = backup_cli(platform, "run")
    assert taken.returncode == 0, taken.stderr
    backup_id = taken.stdout.strip().splitlines()[-1]

    listed = backup_cli(platform, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    entry = next(item for item in json.loads(listed.stdout) if item["id"] == backup_id)
    assert set(entry["stores"]) == {"local", "azure"}

    verified = backup_cli(platform, "verify", backup_id, "--from", "azure")
    assert verified.returncode == 0, verified.stderr

    restored = backup_cli(
        platform, "restore", backup_id, "--to", "restored_copy", "--from", "azure"
    )
    assert restored.returncode == 0, restored.stderr
    assert "RTO" in restored.stdout + restored.stderr

    with MongoClient(platform.config.mongodb_uri) as client:
        original = list(client["flightdeck"]["notes"].find({}, sort=[("_id", 1)]))
        copy = list(client["restored_copy"]["notes"].find({}, sort=[("_id", 1)]))
    assert len(original) >= 5
    assert copy == original

    metrics = httpx.get(f"http://127.0.0.1:{platform.config.ports.receiver}/metrics").text
    assert "flightdeck_backup_last_verify_success 1.0" in metrics
    assert "flightdeck_backup_last_success_timestamp_seconds" in metrics
