"""A thin layer over the official `kubernetes` client: objects as JSON dicts, errors as types.

The generated client's models are not needed here: every provider reads a few fields and writes
JSON merge patches or whole objects, so requests go through the client's own transport
(configuration, authentication, TLS) with JSON bodies, and answers are decoded as sent.

Every error becomes a flightdeck error type that names the object, so that the engine decides
retry vs. rollback in one place:

- 409 Conflict (a stale resourceVersion, or create of an existing object): `ConflictError`
- 404 on a read: None; on a write: `PermanentError` with the caller's hint
- 401/403: `PermanentError` naming the verb and the object (the chart's Role is too narrow)
- 400/422: `PermanentError` with the API server's message
- 429, 5xx, timeouts and connection errors: `RetryableError`
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import urllib3
from kubernetes import client

from flightdeck.core.errors import PermanentError, RetryableError

MERGE_PATCH = "application/merge-patch+json"
REQUEST_TIMEOUT = (5, 20)
Obj = dict[str, Any]


class ConflictError(RetryableError):
    """409: the object changed since it was read, or it exists already."""


class NotFoundError(PermanentError):
    """404 on an object that must exist."""


@dataclass(frozen=True)
class Kind:
    """A namespaced resource: its API path prefix (`/api/v1` or `/apis/<group>/<version>`)."""

    name: str
    prefix: str
    plural: str


DEPLOYMENT = Kind("deployment", "/apis/apps/v1", "deployments")
INGRESS = Kind("ingress", "/apis/networking.k8s.io/v1", "ingresses")
HTTPROUTE = Kind("httproute", "/apis/gateway.networking.k8s.io/v1", "httproutes")
CONFIGMAP = Kind("configmap", "/api/v1", "configmaps")
LEASE = Kind("lease", "/apis/coordination.k8s.io/v1", "leases")
POD = Kind("pod", "/api/v1", "pods")
SERVICE = Kind("service", "/api/v1", "services")
HPA = Kind("horizontalpodautoscaler", "/apis/autoscaling/v2", "horizontalpodautoscalers")


def _message(exc: client.ApiException) -> str:
    try:
        body = json.loads(exc.body or "")
        return str(body.get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason or exc.body)


def translate(exc: Exception, verb: str, what: str, hint: str = "") -> Exception:
    """The flightdeck error for a failed call `verb what` (e.g. "patch", "deployment x")."""
    if isinstance(exc, client.ApiException):
        status = exc.status or 0
        message = _message(exc)
        if status == 409:
            return ConflictError(f"{verb} {what}: conflict: {message}")
        if status == 404:
            return NotFoundError(f"{what} not found{': ' + hint if hint else ''}")
        if status in (401, 403):
            return PermanentError(
                f"{verb} {what} was refused ({status}): {message}; the service account needs "
                "the chart's flightdeck Role (see docs/kubernetes.md)"
            )
        if status == 429 or status >= 500:
            return RetryableError(f"{verb} {what}: the API server answered {status}: {message}")
        return PermanentError(f"{verb} {what} was rejected ({status}): {message}")
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return RetryableError(f"{verb} {what}: the API server is unreachable: {exc}")
    return exc


class KubeApi:
    """The calls the providers make, in one namespace, through the official client's transport.

    The generated per-kind methods are not used: they validate bodies into models (re-formatting
    a Lease's MicroTime fields) and default PATCH to JSON patch; here every body is sent as the
    JSON the provider built, with the content type it names.
    """

    def __init__(self, api_client: client.ApiClient, namespace: str) -> None:
        self.api_client = api_client
        self.namespace = namespace

    def _request(
        self,
        verb: str,
        method: str,
        kind: Kind,
        name: str | None,
        what: str,
        hint: str = "",
        body: Obj | None = None,
        query: list[tuple[str, str]] | None = None,
        content_type: str = "application/json",
    ) -> Obj:
        path = f"{kind.prefix}/namespaces/{self.namespace}/{kind.plural}"
        if name is not None:
            path += f"/{name}"
        try:
            serialized = self.api_client.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or [],
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self.api_client.call_api(*serialized, _request_timeout=REQUEST_TIMEOUT)
            data: bytes = response.response.data
            if not 200 <= response.status <= 299:
                raise client.ApiException.from_response(
                    http_resp=response, body=data.decode(errors="replace"), data=None
                )
            return cast(Obj, json.loads(data))
        except Exception as exc:
            raise translate(exc, verb, what, hint) from exc

    def get(self, kind: Kind, name: str) -> Obj | None:
        """The object, or None if it does not exist."""
        try:
            return self._request("get", "GET", kind, name, f"{kind.name} {name}")
        except NotFoundError:
            return None

    def require(self, kind: Kind, name: str, hint: str) -> Obj:
        """The object; a PermanentError with `hint` if it does not exist."""
        found = self.get(kind, name)
        if found is None:
            raise NotFoundError(f"{kind.name} {name} not found: {hint}")
        return found

    def list(self, kind: Kind, selector: dict[str, str]) -> list[Obj]:
        label_selector = ",".join(f"{key}={value}" for key, value in sorted(selector.items()))
        answer = self._request(
            "list",
            "GET",
            kind,
            None,
            f"{kind.plural} with {label_selector or 'any labels'}",
            query=[("labelSelector", label_selector)] if label_selector else [],
        )
        return cast(list[Obj], answer.get("items") or [])

    def create(self, kind: Kind, body: Obj) -> Obj:
        name = body["metadata"]["name"]
        return self._request("create", "POST", kind, None, f"{kind.name} {name}", body=body)

    def replace(self, kind: Kind, body: Obj) -> Obj:
        """PUT the whole object; its metadata.resourceVersion makes a stale write a conflict."""
        name = body["metadata"]["name"]
        return self._request("update", "PUT", kind, name, f"{kind.name} {name}", body=body)

    def patch(self, kind: Kind, name: str, patch: Obj, hint: str = "") -> Obj:
        """A JSON merge patch (RFC 7386); metadata.resourceVersion in it is a precondition."""
        return self._request(
            "patch",
            "PATCH",
            kind,
            name,
            f"{kind.name} {name}",
            hint,
            body=patch,
            content_type=MERGE_PATCH,
        )


def with_conflict_retries(operation: Callable[[], Any], what: str, attempts: int = 5) -> Any:
    """Run a read-modify-write `operation` again while it loses optimistic-concurrency races."""
    for _ in range(attempts - 1):
        try:
            return operation()
        except ConflictError:
            continue
    try:
        return operation()
    except ConflictError as exc:
        raise RetryableError(f"{what}: still conflicting after {attempts} attempts: {exc}") from exc
