"""Helpers shared by every test suite: free loopback ports and real servers started on them.

Nothing here is a mock: each helper starts the real program (FerretDB, nginx, Prometheus, ...)
on 127.0.0.1 on a port chosen free at start, so tests never collide with a running `make up`.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
BIN_DIR = REPO_ROOT / "bin"
