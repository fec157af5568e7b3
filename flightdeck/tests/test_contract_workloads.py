"""The Workloads contract, run against supervisord processes and the chart's Deployments.

The Kubernetes side acts on the chart installed on the real control plane, as the chart's
flightdeck ServiceAccount: the Deployment controller really rolls each change out and kwok makes
the pods Running and Ready (no container runs). test_kubernetes_workloads.py covers rollouts
that wait, fail and crash.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flightdeck.engines.local import LocalPlatform
from flightdeck.kubernetes.api import KubeApi
from flightdeck.workloads import TrackSpec, Workloads
from flightdeck.workloads.deployments import DeploymentWorkloads
from testsupport.chartcluster import Release
from testsupport.platform import platform_from_file, write_platform_config

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    platform = platform_from_file(write_platform_config(tmp_path_factory.mktemp("platform")))
    try:
        platform.up()
        yield platform
    finally:
        platform.down(purge=True)


@pytest.fixture(params=["local", "kubernetes"])
def workloads(request: pytest.FixtureRequest) -> Iterator[Workloads]:
    if request.param == "local":
        platform: LocalPlatform = request.getfixturevalue("local_platform")
        yield platform.workloads
        platform.workloads.remove("canary")
        return
    release: Release = request.getfixturevalue("chart_deployments")
    api = KubeApi(release.api_client(release.flightdeck_account), release.namespace)
    yield DeploymentWorkloads(api, release.fullname, poll_seconds=0.2)


def test_an_absent_track_is_none_and_not_ready(workloads: Workloads) -> None:
    assert workloads.get("canary") is None
    assert workloads.ready("canary") is False
    assert workloads.ready("blue") is False
    workloads.remove("canary")  # removing an absent track does nothing
    assert workloads.get("canary") is None


def test_apply_then_get_returns_the_spec(workloads: Workloads) -> None:
    spec = TrackSpec("canary", "2.1.0-contract", 1, {"FAULT_LATENCY_MS": "5"})
    workloads.apply(spec)
    workloads.wait_ready("canary", 60)
    assert workloads.get("canary") == spec
    assert workloads.ready("canary") is True
    stable = workloads.get("stable")
    assert stable is not None
    assert stable.version != "2.1.0-contract"


def test_a_changed_spec_replaces_the_old_one(workloads: Workloads) -> None:
    workloads.apply(TrackSpec("canary", "2.1.0-contract", 1, {"FAULT_ERROR_RATE": "0.5"}))
    workloads.wait_ready("canary", 60)
    changed = TrackSpec("canary", "2.2.0-contract", 1, {"FAULT_LATENCY_MS": "1"})
    workloads.apply(changed)
    workloads.wait_ready("canary", 60)
    assert workloads.get("canary") == changed


def test_remove_then_get_returns_none(workloads: Workloads) -> None:
    workloads.apply(TrackSpec("canary", "2.1.0-contract", 1))
    workloads.wait_ready("canary", 60)
    workloads.remove("canary")
    assert workloads.get("canary") is None
    assert workloads.ready("canary") is False
