"""Render the chart once per scenario (session-scoped); the chart's CRDs on the test cluster."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from testsupport.chartcluster import ChartCluster, install_crds
from testsupport.helmchart import Rendered, render
from testsupport.kubecluster import KubeCluster


@pytest.fixture(scope="session")
def rendered() -> Callable[[str], Rendered]:
    """Render a ci/ scenario with every optional API available, memoised for the session."""
    cache: dict[str, Rendered] = {}

    def get(scenario: str) -> Rendered:
        if scenario not in cache:
            cache[scenario] = render(scenario)
        return cache[scenario]

    return get


@pytest.fixture(scope="session")
def chart_cluster(
    kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> ChartCluster:
    """The test control plane with the CRDs of the chart's optional objects installed."""
    install_crds(kube_cluster)
    return ChartCluster(kube_cluster, tmp_path_factory.mktemp("helm-home"))
