"""Schema-driven fuzzing of the OpenAPI document: no 5xx, with fault injection off.

The schema is the app's own OpenAPI document (read at import, no server needed for that);
every generated request goes to a real uvicorn process on a real FerretDB. Half of the
generated note ids are swapped for a note that
exists, so the fuzzer also reaches the code past
the 404.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from app.main import app
from testsupport.backend import BackendProcess
from testsupport.ferretdb import FerretDB

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def running_backend(
    ferretdb: FerretDB, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BackendProcess]:
    workdir = tmp_path_factory.mktemp("fuzz")
    backend = BackendProcess(
        env={
            "MONGODB_URI": ferretdb.uri,
            "MONGODB_DATABASE": "test_fuzz",
            "UPLOAD_DIR": str(workdir / "uploads"),
            "MAX_UPLOAD_BYTES": "4096",
            "FAULT_ERROR_RATE": "0",
            "FAULT_LATENCY_MS": "0",
        },
        log_path=workdir / "uvicorn.log",
    )
    backend.start(wait_for="/health/startup")
    yield backend
    backend.stop()


schema = schemathesis.openapi.from_dict(app.openapi())


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case, running_backend: BackendProcess) -> None:
    note_id = (case.path_parameters or {}).get("note_id")
    if isinstance(note_id, str) and note_id[:1] in set("01234567"):
        # A fresh note each time: a fuzzed DELETE must not starve the later examples.
        created = httpx.post(f"{running_backend.url}/api/notes", json={"title": "fuzz target"})
        case.path_parameters = {**(case.path_parameters or {}), "note_id": created.json()["id"]}
    case.call_and_validate(base_url=running_backend.url, checks=[not_a_server_error])


def test_fuzzed_server_logged_no_unhandled_error(running_backend: BackendProcess) -> None:
    """Runs after the fuzzing above (same module): nothing reached the 500 handler."""
    log = Path(running_backend.log_path).read_text()
    assert '"event": "request"' in log
    assert "unhandled error" not in log
