"""Graceful shutdown of a real uvicorn process: SIGTERM lets in-flight requests finish."""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from testsupport.backend import BackendProcess
from testsupport.ferretdb import FerretDB

pytestmark = pytest.mark.integration

LATENCY_MS = 2000


def test_sigterm_finishes_in_flight_requests_and_refuses_new_ones(
    ferretdb: FerretDB, tmp_path: Path
) -> None:
    backend = BackendProcess(
        env={
            "MONGODB_URI": ferretdb.uri,
            "MONGODB_DATABASE": "test_shutdown",
            "UPLOAD_DIR": str(tmp_path / "uploads"),
            "FAULT_LATENCY_MS": str(LATENCY_MS),
            "APP_VERSION": "9.9.9",
        },
        log_path=tmp_path / "uvicorn.log",
    )
    backend.start()
    try:
        result: dict[str, httpx.Response | BaseException] = {}

        def slow_request() -> None:
            try:
                result["response"] = httpx.get(f"{backend.url}/api/version", timeout=30)
            except BaseException as error:  # reported by the assertion below
                result["response"] = error

        thread = threading.Thread(target=slow_request)
        started = time.monotonic()
        thread.start()
        time.sleep(0.7)  # the request is now sleeping in the fault-injection dependency
        backend.terminate()
        time.sleep(0.3)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", backend.port), timeout=1).close()
        thread.join(timeout=30)
        response = result["response"]
        assert isinstance(response, httpx.Response), response
        assert response.status_code == 200
        assert response.json()["version"] == "9.9.9"
        assert time.monotonic() - started >= LATENCY_MS / 1000
    finally:
        code = backend.stop()
    # uvicorn re-raises the signal once it has shut down cleanly.
    assert code in {0, -signal.SIGTERM}
    output = backend.log_path.read_text()
    assert '"event": "stopped"' in output, output
