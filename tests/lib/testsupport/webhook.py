"""A loopback HTTP server that records every POST: the stand-in for Slack, GitHub, webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Recorder(ThreadingHTTPServer):
    """Records every request (path, headers, JSON body) and answers `status` with `answer`."""

    def __init__(self, status: int, answer: dict[str, Any]) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = status
        self.answer = answer

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
                )
                data = json.dumps(server.answer).encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        server = self
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


@contextmanager
def recording(status: int = 200, answer: dict[str, Any] | None = None) -> Iterator[Recorder]:
    """A running Recorder, shut down at the end."""
    server = Recorder(status, answer if answer is not None else {"ok": True})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
