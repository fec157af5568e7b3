"""The StateStore contract, run against every implementation: a file and a ConfigMap + Lease."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flightdeck.core.errors import PermanentError, RetryableError
from flightdeck.kubernetes.api import CONFIGMAP, KubeApi
from flightdeck.state import LockedError, StateStore
from flightdeck.state.configmap import ConfigMapStateStore, micro_time
from flightdeck.state.file import FileStateStore
from testsupport.fake_kubernetes import FakeKubernetes

pytestmark = pytest.mark.integration

PREFIX = "fd-flightdeck-rollout-"


@pytest.fixture
def fake() -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as server:
        yield server


def configmap_store(fake: FakeKubernetes, lease_seconds: int = 30) -> ConfigMapStateStore:
    return ConfigMapStateStore(KubeApi(fake.api_client(), "default"), PREFIX, lease_seconds)


@pytest.fixture(params=["file", "configmap"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "file":
        yield FileStateStore(tmp_path / "rollouts")
        return
    with FakeKubernetes() as server:
        yield configmap_store(server)


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


# -- the ConfigMap and the Lease ------------------------------------------------------------------
def lease(fake: FakeKubernetes, holder: str, renewed: datetime, seconds: int = 15) -> None:
    fake.add(
        {
            "kind": "Lease",
            "metadata": {"name": PREFIX + "backend"},
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": seconds,
                "renewTime": micro_time(renewed),
                "leaseTransitions": 4,
            },
        }
    )


def test_the_record_is_json_in_a_configmap(fake: FakeKubernetes) -> None:
    configmap_store(fake).save("backend", {"phase": "Paused"})
    configmap = fake.get("ConfigMap", PREFIX + "backend")
    assert configmap is not None
    assert configmap["data"]["record.json"] == '{"phase": "Paused"}'
    assert configmap["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "flightdeck"}


def test_a_live_lease_of_another_holder_is_refused_naming_it(fake: FakeKubernetes) -> None:
    lease(fake, "ci-runner-7/pid-12", datetime.now(UTC))
    with (
        pytest.raises(LockedError, match="ci-runner-7/pid-12"),
        configmap_store(fake).lock("backend"),
    ):
        pass
    assert fake.get("Lease", PREFIX + "backend")["spec"]["holderIdentity"] == "ci-runner-7/pid-12"


def test_an_expired_lease_is_taken_over(fake: FakeKubernetes) -> None:
    lease(fake, "dead-controller", datetime.now(UTC) - timedelta(seconds=16))
    with configmap_store(fake).lock("backend"):
        spec = fake.get("Lease", PREFIX + "backend")["spec"]
        assert spec["holderIdentity"] not in ("dead-controller", None)
        assert spec["leaseTransitions"] == 5
        assert spec["leaseDurationSeconds"] == 30
    released = fake.get("Lease", PREFIX + "backend")["spec"]
    assert "holderIdentity" not in released


def test_the_lease_is_renewed_while_held(fake: FakeKubernetes) -> None:
    store = configmap_store(fake, lease_seconds=3)
    with store.lock("backend"):
        first = fake.get("Lease", PREFIX + "backend")["spec"]["renewTime"]
        time.sleep(2.3)
        renewed = fake.get("Lease", PREFIX + "backend")["spec"]["renewTime"]
        assert renewed > first
        store.save("backend", {"phase": "Progressing"})


def test_a_controller_that_lost_its_lease_does_not_save(fake: FakeKubernetes) -> None:
    store = configmap_store(fake, lease_seconds=3)
    with store.lock("backend"):
        fake.update("Lease", PREFIX + "backend", {"spec": {"holderIdentity": "usurper"}})
        time.sleep(1.5)
        with pytest.raises(PermanentError, match=r"lost the lock.*usurper"):
            store.save("backend", {"phase": "Progressing"})
    assert fake.get("Lease", PREFIX + "backend")["spec"]["holderIdentity"] == "usurper"
    assert store.load("backend") is None


def test_a_write_conflict_is_retried_on_a_fresh_read(fake: FakeKubernetes) -> None:
    store = configmap_store(fake)
    store.request("backend", "promote")
    fake.fail_next("PUT", "/configmaps/", 409)
    store.save("backend", {"phase": "Promoting"})
    assert store.load("backend") == {"phase": "Promoting"}
    assert store.take_requests("backend") == ["promote"]
    puts = [r for r in fake.requests if r[0] == "PUT" and "/configmaps/" in r[1]]
    assert len(puts) == 3  # the failed save, its retry, take_requests


def test_a_stale_write_does_not_lose_a_concurrent_request(fake: FakeKubernetes) -> None:
    store = configmap_store(fake)
    store.save("backend", {"phase": "Progressing"})
    stale = fake.get("ConfigMap", PREFIX + "backend")
    store.request("backend", "abort")  # someone else's write after our read
    with pytest.raises(RetryableError, match="conflict"):
        store.api.replace(CONFIGMAP, stale)
    assert store.take_requests("backend") == ["abort"]


def test_api_errors_become_typed_errors(fake: FakeKubernetes) -> None:
    store = configmap_store(fake)
    fake.fail_next("GET", "/configmaps/", 503)
    with pytest.raises(RetryableError, match="503"):
        store.load("backend")
    fake.fail_next("POST", "/leases", 403)
    with (
        pytest.raises(PermanentError, match=r"create lease .* refused \(403\)"),
        store.lock("backend"),
    ):
        pass
