"""Pure-ASGI middleware: a request id for every request and one access-log line for each."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tempo.logs import get_logger

REQUEST_ID_HEADER = b"x-request-id"
# Accept a caller's id only if it is short and harmless to echo into logs and headers.
_SAFE_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")

access_log = get_logger("tempo.access")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = _request_id(scope)
        raw_id = request_id.encode()
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (REQUEST_ID_HEADER, raw_id)]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                access_log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                    client=scope["client"][0] if scope.get("client") else None,
                )


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _SAFE_ID.match(value):
            return str(value.decode())
    return uuid.uuid4().hex
