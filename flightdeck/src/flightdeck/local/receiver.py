"""The flightdeck receiver: records Alertmanager webhooks as incidents, serves flightdeck's metrics.

- `POST /alerts?receiver=NAME`: an Alertmanager webhook; one JSON line per notification is appended
  to the incidents file (the local stand-in for Slack, PagerDuty and the rest).
- `GET /incidents`: the recorded incidents as a JSON list.
- `GET /metrics`: every `*.prom` text file in the metrics directory (backups, rollouts), plus the
  TLS certificate's expiry time.
- `GET /healthz`: 200 when the receiver runs.

Run as `python -m flightdeck.local.receiver --port P --incidents FILE --metrics-dir DIR
--tls-dir DIR`. The local platform runs it as `python -m flightdeck.engines.receiver` (same flags),
which also records every alert in the delivery history through the `on_alert` hook.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fcntl
import json
import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from flightdeck.local.tls import TlsFiles, server_certificate_expiry

MAX_BODY = 10 * 1024 * 1024
AlertHook = Callable[[str, dict[str, object]], None]
"""Called with (receiver, payload) after a notification is recorded; must not block."""


class ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        port: int,
        incidents: Path,
        metrics_dir: Path,
        tls_dir: Path,
        on_alert: AlertHook | None = None,
    ) -> None:
        super().__init__(("127.0.0.1", port), ReceiverHandler)
        self.incidents = incidents
        self.metrics_dir = metrics_dir
        self.tls = TlsFiles(tls_dir)
        self.on_alert = on_alert

    def record(self, receiver: str, payload: object) -> None:
        line = json.dumps(
            {
                "received_at": dt.datetime.now(dt.UTC).isoformat(),
                "receiver": receiver,
                **_as_dict(payload),
            }
        )
        self.incidents.parent.mkdir(parents=True, exist_ok=True)
        with self.incidents.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(line + "\n")
        if self.on_alert is not None:
            try:
                self.on_alert(receiver, _as_dict(payload))
            except Exception as exc:  # the notification is recorded above; report, never fail
                print(f"receiver: the alert hook failed: {exc}", file=sys.stderr, flush=True)

    def metrics_text(self) -> str:
        parts = [path.read_text() for path in sorted(self.metrics_dir.glob("*.prom"))]
        expiry = server_certificate_expiry(self.tls)
        if expiry is not None:
            parts.append(
                "# HELP flightdeck_tls_certificate_expiry_timestamp_seconds Certificate expiry.\n"
                "# TYPE flightdeck_tls_certificate_expiry_timestamp_seconds gauge\n"
                f'flightdeck_tls_certificate_expiry_timestamp_seconds{{name="ingress"}} '
                f"{expiry.timestamp():.0f}\n"
            )
        return "".join(part if part.endswith("\n") else part + "\n" for part in parts)


def _as_dict(payload: object) -> dict[str, object]:
    return payload if isinstance(payload, dict) else {"payload": payload}


class ReceiverHandler(BaseHTTPRequestHandler):
    server: ReceiverServer

    def log_message(self, format: str, *args: object) -> None:
        return  # quiet: the incidents file is the record

    def _send(self, status: int, body: str, content_type: str = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = urlparse(self.path).path
        if path == "/healthz":
            self._send(200, '{"status": "ok"}')
        elif path == "/metrics":
            self._send(200, self.server.metrics_text(), "text/plain; version=0.0.4")
        elif path == "/incidents":
            lines = (
                self.server.incidents.read_text().splitlines()
                if self.server.incidents.exists()
                else []
            )
            self._send(200, json.dumps([json.loads(line) for line in lines]))
        else:
            self._send(404, '{"error": "not found"}')

    def do_POST(self) -> None:
        url = urlparse(self.path)
        if url.path != "/alerts":
            self._send(404, '{"error": "not found"}')
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(413, '{"error": "payload too large"}')
            return
        try:
            payload = json.loads(self.rfile.read(length))
        except json.JSONDecodeError as exc:
            self._send(400, json.dumps({"error": f"body is not JSON: {exc}"}))
            return
        receiver = parse_qs(url.query).get("receiver", ["default"])[0]
        self.server.record(receiver, payload)
        self._send(200, '{"status": "recorded"}')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--incidents", type=Path, required=True)
    parser.add_argument("--metrics-dir", type=Path, required=True)
    parser.add_argument("--tls-dir", type=Path, required=True)
    return parser.parse_args(argv)


def main(on_alert: AlertHook | None = None) -> None:
    args = parse_args()
    server = ReceiverServer(args.port, args.incidents, args.metrics_dir, args.tls_dir, on_alert)
    server.serve_forever()


if __name__ == "__main__":
    main()
