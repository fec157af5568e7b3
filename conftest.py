"""Fixtures for every test suite in the repository (see testsupport/ for the helpers)."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testsupport.ferretdb import FerretDB


@pytest.fixture(scope="session")
def ferretdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FerretDB]:
    """One FerretDB for the whole session; tests use their own database names in it."""
    server = FerretDB(tmp_path_factory.mktemp("ferretdb"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def ferretdb_factory(tmp_path: Path) -> Iterator[Callable[[], FerretDB]]:
    """Start private FerretDB instances, for tests that stop and restart the database."""
    started: list[FerretDB] = []

    def start() -> FerretDB:
        server = FerretDB(tmp_path / f"ferretdb-{len(started)}")
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
