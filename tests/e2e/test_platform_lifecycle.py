"""`flightdeck up | status | logs | down` as a user runs them, each on its own platform."""

import os
import socket
import subprocess
import sys
from pathlib import Path

from pymongo import MongoClient

from testsupport.platform import platform_from_file, write_platform_config
from testsupport.ports import free_port


def flightdeck(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("MONGODB_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "flightdeck", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def test_up_status_down_keeps_data_and_purge_deletes_it(tmp_path: Path) -> None:
    config = write_platform_config(tmp_path)
    platform = platform_from_file(config)
    try:
        started = flightdeck("up", "--config", str(config))
        assert started.returncode == 0, started.stderr
        assert f"https://localhost:{platform.config.ports.https}" in started.stdout
        assert f"http://127.0.0.1:{platform.config.ports.prometheus}" in started.stdout

        again = flightdeck("up", "--config", str(config))  # idempotent
        assert again.returncode == 0, again.stderr

        status = flightdeck("status", "--config", str(config))
        assert status.returncode == 0, status.stdout + status.stderr
        for component in (
            "database",
            "backend-stable-0",
            "backend-stable-1",
            "nginx",
            "prometheus",
        ):
            assert component in status.stdout

        with MongoClient(platform.config.mongodb_uri) as client:
            client["flightdeck"]["lifecycle"].insert_one({"kept": True})

        platform.supervisor.stop_process("prometheus", "prometheus")
        degraded = flightdeck("status", "--config", str(config))
        assert degraded.returncode == 1
        assert "DOWN" in degraded.stdout

        logs = flightdeck("logs", "nginx-error", "--config", str(config), "-n", "5")
        assert logs.returncode == 0
        unknown = flightdeck("logs", "no-such-thing", "--config", str(config))
        assert unknown.returncode == 2
        assert "no-such-thing" in unknown.stderr

        assert flightdeck("down", "--config", str(config)).returncode == 0
        assert not platform.supervisor.is_running()
        assert (platform.run_dir.data / "mongodb").exists()

        assert flightdeck("up", "--config", str(config)).returncode == 0
        with MongoClient(platform.config.mongodb_uri) as client:
            assert client["flightdeck"]["lifecycle"].find_one({"kept": True}) is not None
    finally:
        purged = flightdeck("down", "--purge", "--config", str(config))
    assert purged.returncode == 0
    assert not platform.run_dir.root.exists()


def test_up_names_a_port_that_is_taken(tmp_path: Path) -> None:
    config = write_platform_config(tmp_path)
    platform = platform_from_file(config)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", platform.config.ports.prometheus))
        squatter.listen()
        result = flightdeck("up", "--config", str(config))
    assert result.returncode == 1
    assert f"port {platform.config.ports.prometheus} (ports.prometheus) is already in use" in (
        result.stderr
    )


def test_up_names_the_component_that_does_not_come_up_and_its_log(tmp_path: Path) -> None:
    dead_database = f"mongodb://127.0.0.1:{free_port()}/"
    config = write_platform_config(
        tmp_path, database={"uri": dead_database}, ready_timeout_seconds=5
    )
    try:
        result = flightdeck("up", "--config", str(config))
        assert result.returncode == 1
        assert "backend-stable-0" in result.stderr
        assert "is not ready" in result.stderr
        assert "backend-stable-0.log" in result.stderr
    finally:
        flightdeck("down", "--purge", "--config", str(config))
