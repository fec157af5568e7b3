"""Fixtures for every test suite in the repository (see testsupport/ for the helpers)."""

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flightdeck.engines.local import LocalPlatform
from testsupport.chartcluster import ChartCluster, install_crds
from testsupport.ferretdb import FerretDB
from testsupport.kubecluster import KubeCluster
from testsupport.platform import running_platform

TIERS = ("unit", "integration", "e2e")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test belongs to a tier: its closest tier marker (a function's overrides its
    module's); tests under tests/e2e/ are e2e unless marked otherwise. A test without a tier
    stops the run. `make test-fast` selects "unit and not integration and not e2e", so a unit
    module's integration test stays out of it."""
    unmarked = []
    for item in items:
        tier = next((mark.name for mark in item.iter_markers() if mark.name in TIERS), None)
        if tier is None and "tests/e2e/" in item.nodeid:
            item.add_marker(pytest.mark.e2e)
        elif tier is None:
            unmarked.append(item.nodeid)
    if unmarked:
        raise pytest.UsageError(
            "tests without a tier (pytestmark = pytest.mark.unit | integration | e2e):\n  "
            + "\n  ".join(unmarked[:20])
        )


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


@pytest.fixture(scope="session")
def chart_cluster(
    kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> ChartCluster:
    """The test control plane with the CRDs of the chart's optional objects installed."""
    install_crds(kube_cluster)
    return ChartCluster(kube_cluster, tmp_path_factory.mktemp("helm-home"))


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


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    """One local platform shared by the tests of a session (it takes seconds to start)."""
    # A high rate limit: the routing tests send thousands of requests from one address.
    with running_platform(
        tmp_path_factory.mktemp("platform"),
        rate_limit={"requests_per_second": 5000, "burst": 5000},
    ) as started:
        yield started
