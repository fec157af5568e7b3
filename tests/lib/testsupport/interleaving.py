"""A real concurrent writer for optimistic-concurrency tests against the real API server.

`InterleavingApi` is flightdeck's own KubeApi, unchanged, except that before its next write it
lets another client write the same object first: the write it then sends carries a stale
resourceVersion, and the API server itself answers 409 Conflict.
"""

from __future__ import annotations

from collections.abc import Callable

from kubernetes import client

from flightdeck.kubernetes.api import Kind, KubeApi, Obj


class InterleavingApi(KubeApi):
    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        super().__init__(api_client, namespace)
        self.before_next_write: Callable[[], None] | None = None
        self.writes: list[tuple[str, str]] = []  # (verb, kind) in the order they were sent

    def _interleave(self, verb: str, kind: Kind) -> None:
        self.writes.append((verb, kind.name))
        other, self.before_next_write = self.before_next_write, None
        if other is not None:
            other()

    def patch(self, kind: Kind, name: str, patch: Obj, hint: str = "") -> Obj:
        self._interleave("patch", kind)
        return super().patch(kind, name, patch, hint)

    def replace(self, kind: Kind, body: Obj) -> Obj:
        self._interleave("update", kind)
        return super().replace(kind, body)
