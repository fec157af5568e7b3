"""Backup benchmark: `flightdeck backup run` vs `mongodump --archive > /dev/null`, and restore.

Usage (from the repository root):

    uv run python benchmarks/backup/run_benchmark.py --size-mb 1024

Starts a private FerretDB, loads SIZE MB of documents (half random binary, half text, so
compression has something to do), then times: mongodump alone, `flightdeck backup run` (dump +
zstd + AES-256-GCM + local copy, no Azure) and `flightdeck backup restore --to` (the RTO).
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pymongo import MongoClient

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "lib"))

from testsupport import BIN_DIR  # noqa: E402
from testsupport.ferretdb import FerretDB  # noqa: E402


def load(uri: str, size_mb: int) -> None:
    doc_size = 16 * 1024
    with MongoClient(uri) as client:
        collection = client.bench.docs
        batch = []
        for i in range(size_mb * 1024 * 1024 // doc_size):
            batch.append(
                {"_id": i, "blob": os.urandom(doc_size // 2), "text": "lorem ipsum " * 680}
            )
            if len(batch) == 200:
                collection.insert_many(batch)
                batch = []
        if batch:
            collection.insert_many(batch)


def timed(args: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run(args, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=1024)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = FerretDB(Path(tmp) / "ferretdb")
        server.start()
        try:
            start = time.monotonic()
            load(server.uri, options.size_mb)
            load_s = time.monotonic() - start
            env = {
                **os.environ,
                "FLIGHTDECK_BACKUP_MONGODB_URI": server.uri,
                "FLIGHTDECK_BACKUP_DATABASE": "bench",
                "FLIGHTDECK_BACKUP_LOCAL_DIR": f"{tmp}/backups",
                "FLIGHTDECK_BACKUP_METRICS_DIR": f"{tmp}/metrics",
                "FLIGHTDECK_BACKUP_KEY": base64.b64encode(os.urandom(32)).decode(),
                "FLIGHTDECK_BACKUP_MONGODUMP": str(BIN_DIR / "mongodump"),
                "FLIGHTDECK_BACKUP_MONGORESTORE": str(BIN_DIR / "mongorestore"),
            }
            dump_s = timed(
                [str(BIN_DIR / "mongodump"), f"--uri={server.uri}", "--db=bench", "--archive"],
                env,
            )
            flightdeck = [sys.executable, "-m", "flightdeck", "backup"]
            run_s = timed([*flightdeck, "run"], env)
            stored = sum(p.stat().st_size for p in Path(f"{tmp}/backups").glob("*.enc"))
            restore_s = timed([*flightdeck, "restore", "--to", "bench_restored"], env)
        finally:
            server.stop()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"dataset: {options.size_mb} MB in FerretDB (load took {load_s:.1f} s)")
    print(f"stored object: {stored / 1e6:.1f} MB")
    print(f"mongodump --archive > /dev/null: {dump_s:.2f} s")
    print(f"flightdeck backup run:           {run_s:.2f} s (overhead ratio {run_s / dump_s:.2f})")
    print(f"flightdeck backup restore --to:  {restore_s:.2f} s (RTO)")


if __name__ == "__main__":
    main()
