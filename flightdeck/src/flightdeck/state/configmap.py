"""StateStore in a ConfigMap, with a coordination.k8s.io Lease as the controller lock.

One ConfigMap per rollout (`<prefix><name>`) holds the record as JSON under `record.json` and the
pending requests (promote, abort, resume) under `requests.json`. Every write is a read-modify-
write that sends the resourceVersion it read, so a concurrent write makes it a 409 and it starts
over from a fresh read: a request left by a person is never lost to the controller's save.

The Lease of the same name is the lock, like client-go's leader election: it is taken when it is
absent, released (no holderIdentity) or expired (renewTime + leaseDurationSeconds is past), and
refused with LockedError naming the holder otherwise. While held, a background thread renews it
every third of its duration; if renewal fails for longer than the duration, or another holder
took it, the next `save` raises instead of overwriting the new holder's record.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flightdeck.core import terminal
from flightdeck.core.background import BackgroundThread
from flightdeck.core.errors import FlightdeckError, PermanentError
from flightdeck.kubernetes.api import (
    CONFIGMAP,
    LEASE,
    ConflictError,
    KubeApi,
    Obj,
    with_conflict_retries,
)
from flightdeck.state import LockedError

RECORD_KEY = "record.json"
REQUESTS_KEY = "requests.json"
MANAGED_BY = {"app.kubernetes.io/managed-by": "flightdeck"}
T = TypeVar("T")
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def micro_time(moment: datetime) -> str:
    """Kubernetes' MicroTime format (RFC 3339 with microseconds)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class ConfigMapStateStore:
    def __init__(
        self,
        api: KubeApi,
        prefix: str,
        lease_seconds: int = 30,
        clock: Clock = _utc_now,
    ) -> None:
        if lease_seconds < 3:
            raise ValueError("lease_seconds must be at least 3")
        self.api = api
        self.prefix = prefix
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.lost: dict[str, str] = {}

    def object_name(self, name: str) -> str:
        return f"{self.prefix}{name}"

    # -- record and requests ----------------------------------------------------------------------
    def load(self, name: str) -> dict[str, Any] | None:
        configmap = self.api.get(CONFIGMAP, self.object_name(name))
        raw = ((configmap or {}).get("data") or {}).get(RECORD_KEY)
        if raw is None:
            return None
        record: dict[str, Any] = json.loads(raw)
        return record

    def names(self) -> list[str]:
        found = []
        for configmap in self.api.list(CONFIGMAP, MANAGED_BY):
            object_name: str = configmap["metadata"]["name"]
            if object_name.startswith(self.prefix) and RECORD_KEY in (configmap.get("data") or {}):
                found.append(object_name.removeprefix(self.prefix))
        return sorted(found)

    def save(self, name: str, record: dict[str, Any]) -> None:
        if name in self.lost:
            raise PermanentError(
                f"lost the lock of rollout {name!r} ({self.lost[name]}): not saving over the "
                "record of the controller that holds it now"
            )
        content = json.dumps(record, default=str, sort_keys=True)

        def change(data: dict[str, str]) -> tuple[None, bool]:
            data[RECORD_KEY] = content
            return None, True

        self._modify(name, change)

    def request(self, name: str, action: str) -> None:
        def change(data: dict[str, str]) -> tuple[None, bool]:
            data[REQUESTS_KEY] = json.dumps([*json.loads(data.get(REQUESTS_KEY, "[]")), action])
            return None, True

        self._modify(name, change)

    def take_requests(self, name: str) -> list[str]:
        def change(data: dict[str, str]) -> tuple[list[str], bool]:
            pending: list[str] = json.loads(data.get(REQUESTS_KEY, "[]"))
            if not pending:
                return [], False
            data[REQUESTS_KEY] = "[]"
            return pending, True

        return self._modify(name, change, create=False)

    def _modify(
        self,
        name: str,
        change: Callable[[dict[str, str]], tuple[T, bool]],
        create: bool = True,
    ) -> T:
        """Apply `change` to the ConfigMap's data with optimistic concurrency, creating it."""
        object_name = self.object_name(name)

        def attempt() -> T:
            configmap = self.api.get(CONFIGMAP, object_name)
            data: dict[str, str] = dict((configmap or {}).get("data") or {})
            result, changed = change(data)
            if not changed:
                return result
            if configmap is None:
                if create:
                    self.api.create(
                        CONFIGMAP,
                        {"metadata": {"name": object_name, "labels": MANAGED_BY}, "data": data},
                    )
                return result
            self.api.replace(CONFIGMAP, {**configmap, "data": data})
            return result

        result: T = with_conflict_retries(attempt, f"configmap {object_name}")
        return result

    # -- the lock ---------------------------------------------------------------------------------
    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        identity = f"{socket.gethostname()}/pid-{os.getpid()}/{uuid.uuid4().hex[:8]}"
        lease_name = self.object_name(name)
        self._acquire(name, lease_name, identity)
        self.lost.pop(name, None)
        try:
            with _LeaseRenewer(self, name, lease_name, identity):
                yield
        finally:
            self._release(lease_name, identity)

    def _lease_body(self, lease_name: str, identity: str, transitions: int) -> Obj:
        now = micro_time(self.clock())
        return {
            "metadata": {"name": lease_name, "labels": MANAGED_BY},
            "spec": {
                "holderIdentity": identity,
                "leaseDurationSeconds": self.lease_seconds,
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": transitions,
            },
        }

    def _refuse(self, name: str, lease: Obj | None) -> LockedError:
        spec = (lease or {}).get("spec") or {}
        holder = spec.get("holderIdentity") or "unknown"
        return LockedError(
            f"rollout {name!r} is driven by another controller ({holder}, "
            f"lease {self.object_name(name)} renewed at {spec.get('renewTime', '?')}); "
            "use `flightdeck canary status` to follow it"
        )

    def _expired(self, spec: Obj) -> bool:
        renewed = parse_time(spec.get("renewTime") or spec.get("acquireTime"))
        duration = int(spec.get("leaseDurationSeconds") or self.lease_seconds)
        return renewed is None or renewed + timedelta(seconds=duration) <= self.clock()

    def _acquire(self, name: str, lease_name: str, identity: str) -> None:
        lease = self.api.get(LEASE, lease_name)
        try:
            if lease is None:
                self.api.create(LEASE, self._lease_body(lease_name, identity, 0))
                return
            spec = lease.get("spec") or {}
            if spec.get("holderIdentity") and not self._expired(spec):
                raise self._refuse(name, lease)
            transitions = int(spec.get("leaseTransitions") or 0) + 1
            body = self._lease_body(lease_name, identity, transitions)
            body["metadata"] = {**lease["metadata"], **body["metadata"]}
            self.api.replace(LEASE, body)
        except ConflictError:
            # Another controller created or took the lease between our read and our write.
            raise self._refuse(name, self.api.get(LEASE, lease_name)) from None

    def renew(self, lease_name: str, identity: str) -> str | None:
        """Renew the lease; the reason it is lost, or None."""
        lease = self.api.get(LEASE, lease_name)
        spec = (lease or {}).get("spec") or {}
        if lease is None or spec.get("holderIdentity") != identity:
            return f"the lease is now held by {spec.get('holderIdentity') or 'nobody'}"
        lease["spec"] = {**spec, "renewTime": micro_time(self.clock())}
        self.api.replace(LEASE, lease)
        return None

    def _release(self, lease_name: str, identity: str) -> None:
        """Give the lease up so that the next controller need not wait for it to expire."""
        try:
            lease = self.api.get(LEASE, lease_name)
            spec = (lease or {}).get("spec") or {}
            if lease is None or spec.get("holderIdentity") != identity:
                return
            lease["spec"] = {key: value for key, value in spec.items() if key != "holderIdentity"}
            self.api.replace(LEASE, lease)
        except FlightdeckError as exc:
            terminal.warning(f"could not release lease {lease_name} (it expires by itself): {exc}")


class _LeaseRenewer(BackgroundThread):
    """Renews a held Lease every third of its duration; marks the rollout's lock as lost."""

    def __init__(
        self, store: ConfigMapStateStore, name: str, lease_name: str, identity: str
    ) -> None:
        super().__init__()
        self.store, self.name, self.lease_name, self.identity = store, name, lease_name, identity

    def run(self) -> None:
        store = self.store
        last_renewal = store.clock()
        while not self.stopping.wait(store.lease_seconds / 3):
            try:
                lost = store.renew(self.lease_name, self.identity)
            except FlightdeckError as exc:
                if store.clock() - last_renewal < timedelta(seconds=store.lease_seconds):
                    continue
                lost = f"not renewed for {store.lease_seconds}s: {exc}"
            if lost:
                store.lost[self.name] = lost
                terminal.warning(f"lost the lock of rollout {self.name!r}: {lost}")
                return
            last_renewal = store.clock()
