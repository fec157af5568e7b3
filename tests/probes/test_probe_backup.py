"""Probes of the backup system, as an attacker or an unlucky operator would try it (issue 10).

Real FerretDB, Azurite, mongodump and mongorestore; the `flightdeck backup` CLI as a separate
process wherever a kill, an exit code or the absence of a traceback is the point. Each case
either failed before the hardening (large documents, a failed step stopping the scheduler, a
half-written restore, leftovers of a killed run, `list` during an Azure outage) or held and
must keep holding (wrong key, tampering, database outage during a backup).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import bson
import pytest
import yaml
from pymongo import MongoClient

from flightdeck.backup import engine
from flightdeck.backup.manifest import parse_manifest
from flightdeck.backup.schedule import run_schedule
from testsupport import REPO_ROOT
from testsupport.azurite import start_azurite
from testsupport.backup import BackupEnv, digests, seed
from testsupport.ferretdb import FerretDB

pytestmark = pytest.mark.integration


def _db_name(request: pytest.FixtureRequest) -> str:
    return "pb_" + request.node.name.removeprefix("test_")[:40]


@pytest.fixture
def backup_probe_env(
    request: pytest.FixtureRequest, tmp_path: Path, ferretdb: FerretDB
) -> BackupEnv:
    """A local-only backup setup (no Azure) on the session's FerretDB."""
    return BackupEnv(tmp_path, ferretdb, None, _db_name(request))


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def live_digests(env: BackupEnv) -> dict[str, tuple[int, str]]:
    """Count and content hash of each collection, scratch collections of a restore aside."""
    return {
        name: digest
        for name, digest in digests(env.uri, env.db).items()
        if not name.startswith(engine.RESTORE_SCRATCH_PREFIX)
    }


def scratch_collections(env: BackupEnv) -> list[str]:
    with MongoClient(env.uri) as client:
        return [
            name
            for name in client[env.db].list_collection_names()
            if name.startswith(engine.RESTORE_SCRATCH_PREFIX)
        ]


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            _out, err = process.communicate()
            pytest.fail(f"the command ended before {what}: {err}")
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


def kill_group(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def truncate_object(env: BackupEnv, backup_id: str) -> dict[str, object]:
    """Cut the stored object at two thirds; returns the manifest fields that would match it."""
    obj = env.object_path(backup_id)
    truncated = obj.read_bytes()[: obj.stat().st_size * 2 // 3]
    obj.write_bytes(truncated)
    return {"stored_size": len(truncated), "sha256": hashlib.sha256(truncated).hexdigest()}


def assert_refused_and_untouched(
    env: BackupEnv, result: subprocess.CompletedProcess[str], reason: str, before: object
) -> None:
    no_traceback(result)
    assert result.returncode == 1
    assert reason in result.stderr
    assert live_digests(env) == before
    assert scratch_collections(env) == []


def partial_files(env: BackupEnv, min_size: int = 0) -> list[Path]:
    return [p for p in env.local.glob(".partial-*") if p.stat().st_size >= min_size]


# --- verify, the scheduler and one cycle ------------------------------------------------------


def test_verify_reads_large_documents_in_batches_bounded_by_size(
    backup_probe_env: BackupEnv,
) -> None:
    """1000 documents of 50 kB made FerretDB answer verify's read with 50 MB, past its own
    48 MB limit: verify failed with a traceback (skewed sizes: test_backup_mongo.py)."""
    env = backup_probe_env
    with MongoClient(env.uri) as client:
        client[env.db].large.insert_many(
            [{"_id": i, "data": bson.Binary(os.urandom(50_000))} for i in range(1100)]
        )
    backup_id = env.run()
    verified = env.cli("verify", backup_id, ok=False)
    no_traceback(verified)
    assert verified.returncode == 0, verified.stderr
    assert "flightdeck_backup_last_verify_success 1.0" in (env.metrics / "backup.prom").read_text()


def test_a_failing_step_is_recorded_and_the_cycle_goes_on(
    backup_probe_env: BackupEnv, tmp_path: Path
) -> None:
    """A verify that fails in any way (here mongorestore is a directory: it used to raise a
    bare PermissionError, which ended the scheduler) is a failed step with its reason; prune
    still runs and the failed verify result is published for BackupVerifyFailed."""
    env = backup_probe_env
    seed(env.uri, env.db, docs=10)
    broken_tool = tmp_path / "not-a-tool"
    broken_tool.mkdir()
    env.vars["FLIGHTDECK_BACKUP_MONGORESTORE"] = str(broken_tool)

    result = env.cli("cycle", "--json", ok=False)
    no_traceback(result)
    assert result.returncode == 1
    steps = {step["step"]: step for step in json.loads(result.stdout)["steps"]}
    assert steps["run"]["status"] == "ok"
    assert steps["verify"]["status"] == "failed"
    assert str(broken_tool) in steps["verify"]["detail"]
    assert steps["prune"]["status"] == "ok"
    prom = (env.metrics / "backup.prom").read_text()
    assert "flightdeck_backup_last_verify_success 0.0" in prom
    assert "flightdeck_backup_last_prune_success 1.0" in prom
    assert env.listed()[0]["verified"] is False

    # The alert reads exactly this metric.
    rules = yaml.safe_load((REPO_ROOT / "monitoring/prometheus/rules/backup.yaml").read_text())
    [alert] = [
        rule
        for group in rules["groups"]
        for rule in group["rules"]
        if rule.get("alert") == "BackupVerifyFailed"
    ]
    assert alert["expr"].split()[0] == "flightdeck_backup_last_verify_success"

    # The local scheduler runs the same cycle and keeps going after each failure.
    now = [engine.utcnow()]

    def sleep(seconds: float) -> None:
        now[0] += dt.timedelta(seconds=seconds)

    failures = run_schedule(env.settings(), clock=lambda: now[0], sleep=sleep, max_runs=2)
    assert failures == 2
    assert len(env.listed()) == 3


def test_a_cycle_after_a_failed_backup_still_prunes(backup_probe_env: BackupEnv) -> None:
    env = backup_probe_env
    seed(env.uri, env.db, docs=10)
    old = env.run("2026-01-01T00:00:00+00:00")
    newest = env.run("2026-01-02T00:00:00+00:00")
    result = env.cli(
        "cycle", "--json", "--now", "2026-03-01T00:00:00+00:00", ok=False,
        FLIGHTDECK_BACKUP_MONGODUMP="/nonexistent/mongodump",
    )  # fmt: skip
    no_traceback(result)
    steps = {step["step"]: step for step in json.loads(result.stdout)["steps"]}
    assert steps["run"]["status"] == "failed"
    assert "/nonexistent/mongodump" in steps["run"]["detail"]
    assert steps["verify"]["status"] == "skipped"
    assert steps["prune"]["status"] == "ok"
    assert [e["id"] for e in env.listed()] == [newest]
    assert old not in " ".join(p.name for p in env.local.iterdir())


# --- restore: all or nothing --------------------------------------------------------------------


def test_a_manifest_edited_to_match_a_truncated_object_is_refused_before_any_write(
    backup_probe_env: BackupEnv,
) -> None:
    env = backup_probe_env
    seed(env.uri, env.db, binary_kb=64, docs=50)
    backup_id = env.run()
    before = live_digests(env)
    data = json.loads(env.manifest_path(backup_id).read_text())
    data.update(truncate_object(env, backup_id))
    env.manifest_path(backup_id).write_text(json.dumps(data))

    refused = env.cli("restore", backup_id, "--drop", ok=False)
    assert_refused_and_untouched(env, refused, "failed authentication", before)


def test_a_restore_failing_half_way_leaves_the_live_database_as_it_was(
    backup_probe_env: BackupEnv,
) -> None:
    """The object is cut at two thirds and its manifest re-signed with the key (as a bug or
    an insider could): mongorestore has written most of the data when decryption fails."""
    env = backup_probe_env
    seed(env.uri, env.db, binary_kb=512, docs=50)
    backup_id = env.run()
    with MongoClient(env.uri) as client:
        client[env.db].notes.insert_one({"_id": "written after the backup"})
    before = live_digests(env)
    manifest = parse_manifest(env.manifest_path(backup_id).read_bytes(), "test")
    resigned = manifest.model_copy(update=truncate_object(env, backup_id))
    env.manifest_path(backup_id).write_bytes(resigned.sealed(base64.b64decode(env.key)))

    failed = env.cli("restore", backup_id, "--drop", ok=False)
    assert_refused_and_untouched(env, failed, "cannot decrypt", before)


def test_a_killed_restore_leaves_the_target_intact_and_the_next_one_cleans_up(
    backup_probe_env: BackupEnv,
) -> None:
    env = backup_probe_env
    seed(env.uri, env.db, binary_kb=2048, docs=50)
    backup_id = env.run()
    backed_up = live_digests(env)
    with MongoClient(env.uri) as client:
        client[env.db].notes.insert_one({"_id": "written after the backup"})
    before = live_digests(env)

    process = env.popen("restore", backup_id, "--drop")
    wait_for(lambda: bool(scratch_collections(env)), process, "mongorestore wrote")
    kill_group(process)
    assert live_digests(env) == before
    assert scratch_collections(env) != []  # what SIGKILL leaves; the next restore drops it

    env.cli("restore", backup_id, "--drop")
    assert scratch_collections(env) == []
    assert live_digests(env) == backed_up


def test_wrong_key_restore_writes_nothing_and_never_prints_the_key(
    backup_probe_env: BackupEnv,
) -> None:
    env = backup_probe_env
    seed(env.uri, env.db, docs=10)
    env.run()
    before = live_digests(env)
    other = base64.b64encode(os.urandom(32)).decode()
    refused = env.cli("restore", "latest", "--drop", ok=False, FLIGHTDECK_BACKUP_KEY=other)
    assert_refused_and_untouched(env, refused, "wrong key or corrupted backup", before)
    assert other not in refused.stderr + refused.stdout
    assert env.key not in refused.stderr + refused.stdout


def test_a_tampered_object_is_refused_before_any_write(backup_probe_env: BackupEnv) -> None:
    env = backup_probe_env
    seed(env.uri, env.db, docs=20)
    backup_id = env.run()
    before = live_digests(env)
    obj = env.object_path(backup_id)
    tampered = bytearray(obj.read_bytes())
    tampered[len(tampered) // 2] ^= 0x01
    obj.write_bytes(bytes(tampered))
    refused = env.cli("restore", backup_id, "--drop", ok=False)
    assert_refused_and_untouched(env, refused, "SHA-256 mismatch", before)


# --- killed runs, outages -----------------------------------------------------------------------


def files_containing(root: Path, secret: bytes) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if secret in path.read_bytes():
                    found.append(path)
            except OSError:
                continue
    return found


def command_lines_containing(secret: bytes) -> list[bytes]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if secret in cmdline:
                found.append(cmdline)
    return found


def test_a_killed_backup_leaves_no_credentials_and_prune_removes_its_partial_object(
    backup_probe_env: BackupEnv, tmp_path: Path
) -> None:
    env = backup_probe_env
    marker = f"probe-secret-{secrets.token_hex(8)}"
    env.vars["FLIGHTDECK_BACKUP_MONGODB_URI"] = f"{env.uri}?appname={marker}"
    seed(env.uri, env.db, binary_kb=2048, docs=10)
    temp = tmp_path / "tmpdir"
    temp.mkdir()

    process = env.popen("run", TMPDIR=str(temp))
    wait_for(lambda: bool(partial_files(env, 2_000_000)), process, "the object was half-written")
    assert files_containing(tmp_path, marker.encode()) == []
    assert command_lines_containing(marker.encode()) == []
    kill_group(process)

    assert files_containing(tmp_path, marker.encode()) == []
    [partial] = partial_files(env)
    assert env.listed() == []
    dry = env.cli("prune", "--dry-run")
    assert f"would delete local:{partial.name} (unfinished write of a killed run)" in dry.stdout
    assert partial.exists()
    env.cli("prune")
    assert partial_files(env) == []
    env.cli("run")
    assert len(env.listed()) == 1


def test_a_database_outage_during_a_backup_fails_cleanly(
    backup_probe_env: BackupEnv, ferretdb_factory: Callable[[], FerretDB], tmp_path: Path
) -> None:
    database = ferretdb_factory()
    env = BackupEnv(tmp_path / "outage", database, None, backup_probe_env.db)
    with MongoClient(env.uri) as client:  # several batches: the dump is still reading
        for _ in range(4):
            client[env.db].files.insert_many(
                [{"data": bson.Binary(os.urandom(150_000))} for _ in range(100)]
            )
    process = env.popen("run")
    wait_for(lambda: bool(partial_files(env, 1)), process, "the dump was under way")
    assert database.process is not None
    database.process.kill()  # the database disappears, as in a crash or a network cut
    database.process.wait()
    database.process = None
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert "Traceback" not in err
    assert "mongodump failed" in err or "MongoDB" in err
    assert partial_files(env) == []
    assert env.listed() == []
    assert "flightdeck_backup_failures_total 1.0" in (env.metrics / "backup.prom").read_text()
    database.start()
    env.cli("run")
    assert len(env.listed()) == 1


def test_list_names_an_unreachable_store_and_lists_the_others(
    request: pytest.FixtureRequest, tmp_path: Path, ferretdb: FerretDB
) -> None:
    azurite = start_azurite(tmp_path / "azurite")
    try:
        env = BackupEnv(tmp_path, ferretdb, azurite, _db_name(request))
        seed(env.uri, env.db, docs=10)
        backup_id = env.run()
        azurite.stop()

        listed = env.cli("list", "--json", ok=False)
        no_traceback(listed)
        assert listed.returncode == 1
        assert json.loads(listed.stdout) == [
            {
                "id": backup_id,
                "time": json.loads(env.manifest_path(backup_id).read_text())["time"].replace(
                    "Z", "+00:00"
                ),
                "stored_size": env.object_path(backup_id).stat().st_size,
                "stores": ["local"],
                "verified": None,
            }
        ]
        assert "store azure is unavailable" in listed.stderr
        assert "unreachable" in listed.stderr

        restore = env.cli("restore", "latest", "--to", env.db + "_copy", ok=False)
        no_traceback(restore)
        assert "--from local" in restore.stderr
        env.cli("verify", "latest", "--from", "local")
    finally:
        azurite.stop()
