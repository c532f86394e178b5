"""What a request must pass before any of its body is read: the API token, then a size cap.

FastAPI reads and parses a route's body before it solves the route's dependencies, so a
write route's token check (tempo.core.security.require_token) would only run after the whole
body was in memory: a 400 MB JSON body sent without a token was read and parsed. This
pure-ASGI layer sits in front of FastAPI and

- checks the token of every route that depends on `require_token` from the headers alone,
  answering 401, 403 or 429 without reading a byte of the body;
- caps every body: a declared `Content-Length` over the route's limit is refused (413) at
  the first read, before any byte is pulled, and a chunked body at the chunk that passes
  the limit, so the rest is never read. A route that checks the declared length itself
  (the uploads, POST /schedule) does so before its first read, with its own wording.

Starlette's own body limit (`max_body_size`) also exists, but it answers a declared
oversized body with a plain-text 413 in place of whatever the app sends, which would break
the error shape and the upload page.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tempo.core.api_errors import json_error
from tempo.core.errors import TempoError
from tempo.core.security import TokenGuard, bearer_token, client_address, require_token

# Methods whose requests Tempo's routes never read a body from.
BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyTooLarge(HTTPException):
    """Raised from `receive`: FastAPI passes an HTTPException from the body read through to
    the error handlers (any other exception there becomes a 400 'error parsing the body')."""

    def __init__(self, size: int, limit: int, *, more: bool) -> None:
        self.size, self.limit, self.more = size, limit, more
        at_least = "at least " if more else ""
        super().__init__(413, f"the body is {at_least}{size:,} bytes; this route takes {limit:,}")


class BodyTooSlow(HTTPException):
    """Raised from `receive` when the body stalls or trickles (see `_capped`)."""

    def __init__(self, received: int, seconds: float, *, stalled: bool) -> None:
        why = (
            f"no byte of it for {seconds:g} s" if stalled
            else f"{received:,} bytes in {seconds:.0f} s, slower than this server takes"
        )  # fmt: skip
        # Closed after the answer: the rest of the body is not waited for.
        message = f"the request body did not arrive in time: {why}"
        super().__init__(408, message, headers={"Connection": "close"})


@dataclass(frozen=True)
class BodyPace:
    """How fast a body must come: a byte at least every `idle` seconds, and from then on
    `min_rate` bytes a second on average since the request began."""

    idle: float
    min_rate: int


def token_routes(routes: Sequence[BaseRoute]) -> frozenset[tuple[str, str]]:
    """(method, path) of every route that depends on the API token, as FastAPI serves it
    (an included router's routes carry its prefix and dependencies)."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(routes):
        dependencies = getattr(route, "dependencies", None) or ()
        if not any(dep.dependency is require_token for dep in dependencies):
            continue
        path = route.path or ""
        if "{" in path:
            # Matching is by exact path, which is all Tempo's token routes need so far.
            raise ValueError(f"token routes with path parameters are not gated: {path}")
        found.update((method, path) for method in route.methods or ())
    return frozenset(found)


class AdmissionMiddleware:
    """Token first (for `tokens`), then the body cap: `limits` by path, else `default_limit`."""

    def __init__(
        self,
        app: ASGIApp,
        guard: TokenGuard,
        tokens: frozenset[tuple[str, str]],
        limits: Mapping[str, int],
        default_limit: int,
        pace: BodyPace,
    ) -> None:
        self.app = app
        self.guard = guard
        self.tokens = tokens
        self.limits = limits
        self.default_limit = default_limit
        self.pace = pace

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if (method, path) in self.tokens:
            authorization = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    authorization = value.decode("latin-1")
                    break
            try:
                self.guard.check(client_address(scope), bearer_token(authorization))
            except TempoError as refused:
                await json_error(refused)(scope, receive, send)
                return
        if method in BODILESS:
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(path, self.default_limit)
        await self.app(scope, _capped(scope, receive, limit, self.pace), send)


def _capped(scope: Scope, receive: Receive, limit: int, pace: BodyPace) -> Receive:
    declared: int | None = None
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            declared = int(value)
    size = 0
    done = declared == 0
    loop = asyncio.get_running_loop()
    began = last = loop.time()

    async def receive_capped() -> Message:
        nonlocal size, done, last
        if declared is not None and declared > limit:
            raise BodyTooLarge(declared, limit, more=False)
        if done:  # the body is in: what is left to receive is the client leaving
            return await receive()
        # The next chunk is due within `idle` of the last one, and before the average
        # since the start falls under `min_rate` (once `idle` has passed).
        due = min(last + pace.idle, began + pace.idle + size / pace.min_rate)
        try:
            async with asyncio.timeout_at(due):
                message = await receive()
        except TimeoutError:
            now = loop.time()
            stalled = now - last >= pace.idle
            seconds = now - last if stalled else now - began
            raise BodyTooSlow(size, seconds, stalled=stalled) from None
        if message["type"] == "http.request":
            last = loop.time()
            size += len(message.get("body", b""))
            if size > limit:
                raise BodyTooLarge(size, limit, more=True)
            done = not message.get("more_body", False)
        return message

    return receive_capped
