"""How API server answers become flightdeck's error types (kubernetes/api.py `translate`).

The answers a test cluster gives on demand (403 without the Role, 404, 409 on a stale
resourceVersion, 422 from validation, a closed port) are tested against the real control plane
in the provider suites. A healthy API server does not answer 429 or 5xx on demand, so the
translation of those answers is tested here, on the client's own exception type.
"""

from __future__ import annotations

import pytest
import urllib3
from kubernetes import client

from flightdeck.core.errors import PermanentError, RetryableError
from flightdeck.kubernetes.api import ConflictError, NotFoundError, translate

pytestmark = pytest.mark.unit


def answer(status: int, message: str = "") -> client.ApiException:
    exc = client.ApiException(status=status, reason="Reason")
    exc.body = f'{{"kind": "Status", "code": {status}, "message": "{message}"}}'
    return exc


@pytest.mark.parametrize("status", [429, 500, 503, 504])
def test_overload_and_server_errors_are_retryable(status: int) -> None:
    error = translate(answer(status, "etcdserver: request timed out"), "get", "configmap x")
    assert type(error) is RetryableError
    assert str(error) == (
        f"get configmap x: the API server answered {status}: etcdserver: request timed out"
    )


def test_the_other_answers_keep_their_types() -> None:
    assert isinstance(translate(answer(409, "modified"), "update", "lease x"), ConflictError)
    not_found = translate(answer(404), "patch", "deployment x", "is the chart installed?")
    assert isinstance(not_found, NotFoundError)
    assert str(not_found) == "deployment x not found: is the chart installed?"
    for status in (400, 401, 403, 422):
        assert type(translate(answer(status), "patch", "ingress x")) is PermanentError


def test_a_body_that_is_not_a_status_is_reported_by_its_reason() -> None:
    exc = client.ApiException(status=502, reason="Bad Gateway")
    exc.body = "<html>proxy error</html>"
    assert str(translate(exc, "list", "pods")) == (
        "list pods: the API server answered 502: Bad Gateway"
    )


def test_connection_errors_are_retryable_and_others_pass_through() -> None:
    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    assert isinstance(translate(refused, "get", "lease x"), RetryableError)
    unrelated = KeyError("spec")
    assert translate(unrelated, "get", "lease x") is unrelated
