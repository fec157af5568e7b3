"""One pure-ASGI middleware per request: request id, one JSON log line, HTTP metrics.

Pure ASGI (not BaseHTTPMiddleware) so that streamed downloads and uploads pass through
untouched and a cancelled request is still counted.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logging import get_logger
from app.metrics import UNMATCHED_ROUTE, Metrics

REQUEST_ID_HEADER = "X-Request-ID"
# An incoming id is echoed only if it is short and harmless in logs and headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
CLIENT_CLOSED = 499

log = get_logger("app.request")


def request_id_from(headers: Headers) -> str:
    incoming = headers.get(REQUEST_ID_HEADER, "")
    return incoming if _VALID_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope))
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except asyncio.CancelledError:
                status = CLIENT_CLOSED
                raise
            except Exception:
                status = 500
                log.exception("unhandled error", path=scope["path"])
                raise
            finally:
                seconds = time.perf_counter() - started
                # The router stores the matched route in the scope; its path is the template.
                route = getattr(scope.get("route"), "path", UNMATCHED_ROUTE)
                self.metrics.observe_request(scope["method"], route, status, seconds)
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    route=route,
                    status=status,
                    duration_ms=round(seconds * 1000, 2),
                    client=(scope.get("client") or ("", 0))[0],
                )
