"""Fixtures for every test suite in the repository (see testsupport/ for the helpers)."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testsupport.ferretdb import FerretDB
from testsupport.kubecluster import KubeCluster


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


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """One real Kubernetes control plane (with kwok for kubelets) for the whole session.

    Tests use their own namespaces in it. A missing binary fails the test: `make setup`.
    """
    cluster = KubeCluster(tmp_path_factory.mktemp("kube"))
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(autouse=True, scope="session")
def _isolated_from_a_running_platform() -> Iterator[None]:
    """Tests never read a developer's running platform settings (.flightdeck/backup.env)."""
    previous = os.environ.get("FLIGHTDECK_BACKUP_ENV_FILE")
    os.environ["FLIGHTDECK_BACKUP_ENV_FILE"] = ""
    yield
    if previous is None:
        del os.environ["FLIGHTDECK_BACKUP_ENV_FILE"]
    else:
        os.environ["FLIGHTDECK_BACKUP_ENV_FILE"] = previous
