"""The StateStore contract, run against every implementation: a file and a ConfigMap + Lease.

The ConfigMap store runs on the real control plane in the namespace of an installed release,
authenticated as the chart's flightdeck ServiceAccount (its Role must allow every call), with
the API server's own resourceVersion conflicts; each test starts with no rollout objects.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flightdeck.core.errors import PermanentError, RetryableError
from flightdeck.kubernetes.api import CONFIGMAP, LEASE, KubeApi
from flightdeck.state import LockedError, StateStore
from flightdeck.state.configmap import MANAGED_BY, ConfigMapStateStore, micro_time
from flightdeck.state.file import FileStateStore
from testsupport.chartcluster import Release
from testsupport.interleaving import InterleavingApi

pytestmark = pytest.mark.integration

PREFIX = "fd-flightdeck-rollout-"
SELECTOR = ",".join(f"{key}={value}" for key, value in MANAGED_BY.items())
StoreFactory = Callable[..., ConfigMapStateStore]


@pytest.fixture
def release(canary_release: Release) -> Release:
    """The installed canary release, without any rollout's ConfigMap or Lease."""
    for collection in ("/api/v1/configmaps", "/apis/coordination.k8s.io/v1/leases"):
        canary_release.delete_all(collection, SELECTOR)
    return canary_release


@pytest.fixture
def admin(release: Release) -> Iterator[KubeApi]:
    """Another client of the namespace (as the cluster's admin): a person, another controller."""
    with release.cc.cluster.api_client() as api_client:
        yield KubeApi(api_client, release.namespace)


@pytest.fixture
def configmap_store(release: Release) -> StoreFactory:
    """ConfigMap stores as the rollout engine's ServiceAccount, on an InterleavingApi."""

    def make(lease_seconds: int = 30) -> ConfigMapStateStore:
        api = InterleavingApi(release.api_client(release.flightdeck_account), release.namespace)
        return ConfigMapStateStore(api, PREFIX, lease_seconds)

    return make


@pytest.fixture(params=["file", "configmap"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StateStore:
    if request.param == "file":
        return FileStateStore(tmp_path / "rollouts")
    make: StoreFactory = request.getfixturevalue("configmap_store")
    return make()


def test_a_missing_record_loads_as_none(store: StateStore) -> None:
    assert store.load("backend") is None


def test_save_then_load_round_trips(store: StateStore) -> None:
    record = {"name": "backend", "phase": "Progressing", "weight": 25, "events": [{"m": "é"}]}
    store.save("backend", record)
    assert store.load("backend") == record
    store.save("backend", {**record, "weight": 50})
    assert store.load("backend") == {**record, "weight": 50}
    assert store.load("other") is None


def test_a_second_lock_is_refused_while_the_first_is_held(store: StateStore) -> None:
    with store.lock("backend"):
        with pytest.raises(LockedError, match="another controller"), store.lock("backend"):
            pass
        with store.lock("other-rollout"):
            pass
    with store.lock("backend"):
        store.save("backend", {"phase": "Succeeded"})
    assert store.load("backend") == {"phase": "Succeeded"}


def test_requests_are_taken_oldest_first_and_once(store: StateStore) -> None:
    assert store.take_requests("backend") == []
    store.request("backend", "promote")
    store.request("backend", "abort")
    store.save("backend", {"phase": "Progressing"})
    assert store.take_requests("backend") == ["promote", "abort"]
    assert store.take_requests("backend") == []
    store.request("backend", "resume")
    assert store.take_requests("backend") == ["resume"]
    assert store.load("backend") == {"phase": "Progressing"}


def test_names_lists_the_rollouts_with_a_record(store: StateStore) -> None:
    assert store.names() == []
    store.save("backend", {"phase": "Progressing"})
    store.request("frontend", "abort")  # requests alone are no rollout
    store.save("api-v2", {"phase": "Succeeded"})
    assert store.names() == ["api-v2", "backend"]


# -- the ConfigMap and the Lease ------------------------------------------------------------------
def lease_spec(admin: KubeApi) -> dict[str, Any]:
    lease = admin.get(LEASE, PREFIX + "backend")
    assert lease is not None
    spec: dict[str, Any] = lease["spec"]
    return spec


def add_lease(admin: KubeApi, holder: str, renewed: datetime, seconds: int = 15) -> None:
    admin.create(
        LEASE,
        {
            "metadata": {"name": PREFIX + "backend", "labels": MANAGED_BY},
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": seconds,
                "renewTime": micro_time(renewed),
                "leaseTransitions": 4,
            },
        },
    )


def test_the_record_is_json_in_a_configmap(configmap_store: StoreFactory, admin: KubeApi) -> None:
    configmap_store().save("backend", {"phase": "Paused"})
    configmap = admin.get(CONFIGMAP, PREFIX + "backend")
    assert configmap is not None
    assert configmap["data"]["record.json"] == '{"phase": "Paused"}'
    assert configmap["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "flightdeck"}


def test_a_live_lease_of_another_holder_is_refused_naming_it(
    configmap_store: StoreFactory, admin: KubeApi
) -> None:
    add_lease(admin, "ci-runner-7/pid-12", datetime.now(UTC))
    with (
        pytest.raises(LockedError, match="ci-runner-7/pid-12"),
        configmap_store().lock("backend"),
    ):
        pass
    assert lease_spec(admin)["holderIdentity"] == "ci-runner-7/pid-12"


def test_an_expired_lease_is_taken_over(configmap_store: StoreFactory, admin: KubeApi) -> None:
    add_lease(admin, "dead-controller", datetime.now(UTC) - timedelta(seconds=16))
    with configmap_store().lock("backend"):
        spec = lease_spec(admin)
        assert spec["holderIdentity"] not in ("dead-controller", None)
        assert spec["leaseTransitions"] == 5
        assert spec["leaseDurationSeconds"] == 30
    assert "holderIdentity" not in lease_spec(admin)


def test_two_controllers_racing_for_the_lease_one_wins(
    configmap_store: StoreFactory, admin: KubeApi
) -> None:
    """Both read an expired lease; the other takes it first, so our update is a real 409."""
    add_lease(admin, "dead-controller", datetime.now(UTC) - timedelta(seconds=16))
    store, rival = configmap_store(), configmap_store()
    rival_holds = rival.lock("backend")
    assert isinstance(store.api, InterleavingApi)
    store.api.before_next_write = rival_holds.__enter__
    try:
        with pytest.raises(LockedError, match="another controller"), store.lock("backend"):
            pass
        assert lease_spec(admin)["holderIdentity"] not in ("dead-controller", None)
        assert lease_spec(admin)["leaseTransitions"] == 5
    finally:
        rival_holds.__exit__(None, None, None)


def test_the_lease_is_renewed_while_held(configmap_store: StoreFactory, admin: KubeApi) -> None:
    store = configmap_store(lease_seconds=3)
    with store.lock("backend"):
        first = lease_spec(admin)["renewTime"]
        time.sleep(2.3)
        renewed = lease_spec(admin)["renewTime"]
        assert renewed > first
        store.save("backend", {"phase": "Progressing"})


def test_a_controller_that_lost_its_lease_does_not_save(
    configmap_store: StoreFactory, admin: KubeApi
) -> None:
    store = configmap_store(lease_seconds=3)
    with store.lock("backend"):
        admin.patch(LEASE, PREFIX + "backend", {"spec": {"holderIdentity": "usurper"}})
        time.sleep(1.5)
        with pytest.raises(PermanentError, match=r"lost the lock.*usurper"):
            store.save("backend", {"phase": "Progressing"})
    assert lease_spec(admin)["holderIdentity"] == "usurper"
    assert store.load("backend") is None


def test_a_write_conflict_is_retried_on_a_fresh_read(configmap_store: StoreFactory) -> None:
    store, person = configmap_store(), configmap_store()
    store.request("backend", "promote")
    assert isinstance(store.api, InterleavingApi)
    # A person's request lands between the controller's read and its save: the save's
    # resourceVersion is stale, the API server answers 409, the save starts over from a
    # fresh read, and the request is kept.
    store.api.before_next_write = lambda: person.request("backend", "abort")
    store.save("backend", {"phase": "Promoting"})
    assert store.load("backend") == {"phase": "Promoting"}
    assert store.take_requests("backend") == ["promote", "abort"]
    assert store.api.writes == [("update", "configmap")] * 3  # the refused save, its retry, take


def test_a_stale_write_does_not_lose_a_concurrent_request(
    configmap_store: StoreFactory, admin: KubeApi
) -> None:
    store = configmap_store()
    store.save("backend", {"phase": "Progressing"})
    stale = admin.get(CONFIGMAP, PREFIX + "backend")
    store.request("backend", "abort")  # someone else's write after our read
    with pytest.raises(RetryableError, match="conflict"):
        store.api.replace(CONFIGMAP, stale)  # type: ignore[arg-type]
    assert store.take_requests("backend") == ["abort"]


def test_a_service_account_without_the_role_gets_typed_errors(release: Release) -> None:
    """The chart's backend ServiceAccount has no Role: the API server refuses (403)."""
    backend_account = f"{release.fullname}-backend"
    api = KubeApi(release.api_client(backend_account), release.namespace)
    store = ConfigMapStateStore(api, PREFIX)
    with pytest.raises(PermanentError, match=r"get configmap .* refused \(403\).*Role"):
        store.load("backend")
    with (
        pytest.raises(PermanentError, match=r"get lease .* refused \(403\)"),
        store.lock("backend"),
    ):
        pass
