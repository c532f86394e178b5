"""Pure-ASGI middleware: a request id for every request and one access-log line for each,
the refusal of query strings that carry a NUL byte, HEAD served as GET without its body,
and cache hits answered in the same layer."""

from __future__ import annotations

import itertools
import os
import random
import re
import time
from collections.abc import Sequence
from html import escape
from urllib.parse import parse_qsl

from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tempo.core.api_errors import error_response
from tempo.core.cache import ResponseCacheMiddleware
from tempo.core.logs import REQUEST_ID, access_log
from tempo.core.metrics import Metrics, RouteTemplates

REQUEST_ID_HEADER = b"x-request-id"
# Accept a caller's id only if it is short and harmless to echo into logs and headers.
_SAFE_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")

SLOW_MS = 500.0


class RequestContextMiddleware:
    """Every request gets an id; errors, slow requests and a `sample_rate` share of the rest
    get an access-log line (rendering one costs about as much as serving a cached hit).

    A query string that holds a NUL byte, raw or as `%00`, is answered 422 here, for every
    route, before the response cache or a route sees it: no parameter of Tempo's means
    one, and one that reached PostgreSQL (a search, a genre) would fail there as a 500.
    Two substring searches, in this layer rather than one of its own on the hot path.

    When `app` is the response cache, a hit is answered from here, its id added to the
    cached headers in the same list: no layer, closure or wrapped `send` in between, the
    half of a hit's time in the application that they cost.

    With `metrics`, every request is counted there by its route's template, looked up in
    `routes` when FastAPI did not route it (a cached hit's path is its template).
    """

    def __init__(
        self, app: ASGIApp, sample_rate: float = 1.0, metrics: Metrics | None = None,
        routes: Sequence[BaseRoute] = (),
    ) -> None:  # fmt: skip
        self.app = app
        self.sample_rate = sample_rate
        self.cache = app if isinstance(app, ResponseCacheMiddleware) else None
        self.metrics = metrics
        self.template = RouteTemplates(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        query: bytes = scope["query_string"]
        request_id = _request_id(scope)
        raw_id = request_id.encode()
        nul = b"%00" in query or b"\x00" in query
        status = 500
        cache = self.cache
        hit = None if nul or cache is None else cache.lookup(scope)
        if hit is not None and cache is not None:
            token = REQUEST_ID.set(request_id)
            try:
                status = await cache.answer(scope, send, hit, (REQUEST_ID_HEADER, raw_id))
            finally:
                self._done(scope, status, started, scope["path"])
                REQUEST_ID.reset(token)
            return
        app = _nul_refused(query, _wants_html(scope)) if nul else self.app
        # HEAD is GET without the body (RFC 9110 §9.3.2): the routes are declared for GET,
        # so inside they see a GET, and its body is dropped on the way out, its length kept.
        head = scope["method"] == "HEAD"

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", [])
                if status == 405:
                    headers = _allow_head(headers)
                message["headers"] = [*headers, (REQUEST_ID_HEADER, raw_id)]
            elif head and message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        inner = {**scope, "method": "GET"} if head else scope
        token = REQUEST_ID.set(request_id)
        try:
            await app(inner, receive, send_with_id)
        finally:
            self._done(scope, status, started, routed=inner)
            REQUEST_ID.reset(token)

    def _done(
        self, scope: Scope, status: int, started: float, route: str | None = None,
        routed: Scope | None = None,
    ) -> None:  # fmt: skip
        """Count and log the request: `route` is its template if known, else it is read
        from `routed`, the scope the app was given (FastAPI leaves its route there)."""
        seconds = time.perf_counter() - started
        metrics = self.metrics
        if metrics is not None:
            route = route or self.template(routed or scope)
            metrics.observe(route, scope["method"], status, seconds)
        duration_ms = seconds * 1000
        routine = status < 400 and duration_ms < SLOW_MS
        if not routine or random.random() < self.sample_rate:
            client = scope.get("client")
            access_log.write(
                scope["method"], scope["path"], status, round(duration_ms, 2),
                client[0] if client else None, REQUEST_ID.get(),
            )  # fmt: skip


# A random per-process prefix and a counter: unique across workers and restarts, and
# ten times cheaper than a uuid4 (which reads the kernel's random source per request).
_ID_PREFIX = os.urandom(12).hex()  # 24 hex digits + 8 of the counter: a uuid4 hex's length
_next_id = itertools.count(1).__next__


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER and _SAFE_ID.match(value):
            return str(value.decode())
    return f"{_ID_PREFIX}{_next_id():08x}"


def _allow_head(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """A 405's `Allow` names HEAD wherever it names GET, since this layer serves it."""
    allowed = []
    for name, value in headers:
        if name == b"allow" and b"GET" in value.split(b", ") and b"HEAD" not in value:
            value += b", HEAD"
        allowed.append((name, value))
    return allowed


def _wants_html(scope: Scope) -> bool:
    """A browser's navigation (Accept names text/html): a page, not JSON, says the error."""
    for name, value in scope["headers"]:
        if name == b"accept":
            return b"text/html" in value.lower()
    return False


def _nul_refused(query: bytes, html: bool = False) -> ASGIApp:
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    names = sorted({name for name, value in pairs if "\x00" in name or "\x00" in value})
    errors = [
        {"field": f"query.{name.replace(chr(0), '%00')}", "message": "contains a NUL byte",
         "type": "nul_byte"}
        for name in names or ["?"]
    ]  # fmt: skip
    fields = ", ".join(error["field"] for error in errors)
    message = f"invalid request: {fields} contains a NUL byte (%00)"
    if html:
        # Refused before routing, for every path: a plain page of its own (the site's
        # chrome is a layer above this one), with the same words as the JSON.
        words = escape(message)
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Invalid address · Tempo</title></head><body><main><h1>Invalid address</h1>"
            f'<p>{words}. Remove it from the address.</p><p><a href="/">Back to Tempo</a></p>'
            "</main></body></html>"
        )
        return HTMLResponse(page, status_code=422)
    return error_response(422, "invalid_request", message, errors)
