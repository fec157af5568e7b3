"""Releases of the chart on the test control plane, shared by the Kubernetes provider tests.

Each is installed once per session (per test worker) in its own namespace; every test that
changes one of its objects puts it back as Helm installed it (`Release.restore`) first.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testsupport.chartcluster import ChartCluster, Release, checked
from testsupport.waiting import wait_until

RELEASE = "fd"  # fullname fd-flightdeck


@pytest.fixture(scope="session")
def canary_release(chart_cluster: ChartCluster) -> Iterator[Release]:
    """ci/canary-values.yaml: ingress-nginx routing, a canary at 10%."""
    with chart_cluster.release(RELEASE, "providers-canary", "canary") as release:
        yield release


@pytest.fixture(scope="session")
def gateway_release(chart_cluster: ChartCluster) -> Iterator[Release]:
    """ci/gateway-api-values.yaml: a Gateway API HTTPRoute, a canary at 25%."""
    with chart_cluster.release(RELEASE, "providers-gateway", "gateway-api") as release:
        yield release


@pytest.fixture(scope="session")
def bluegreen_release(chart_cluster: ChartCluster) -> Iterator[Release]:
    """ci/blue-green-values.yaml: blue and green Deployments, green serving."""
    with chart_cluster.release(RELEASE, "providers-bluegreen", "blue-green") as release:
        yield release


@pytest.fixture
def chart_deployments(canary_release: Release) -> Release:
    """The canary release with its backend Deployments as installed; the canary at 0 replicas
    (flightdeck keeps it there between rollouts)."""
    canary_release.restore("Deployment", f"{canary_release.fullname}-backend")
    canary_release.restore("Deployment", f"{canary_release.fullname}-backend-canary", replicas=0)
    pods = f"/api/v1/namespaces/{canary_release.namespace}/pods"

    def no_canary_pods() -> bool:
        with canary_release.cc.http() as http:
            found = checked(http.get(pods, params={"labelSelector": "version=canary"}))
        return not found["items"]

    wait_until(no_canary_pods, timeout=60, what="the pods of an earlier canary to go")
    return canary_release
