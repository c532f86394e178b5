"""Bounds on expensive work, so that a burst on one route cannot starve the cheap ones.

Each class of expensive route (the datamart, the analytics, catalog search, the planner's
catalog look-ups) may run at most `concurrency` requests at once in each worker. A few more
(`queue`) may wait for a place, for `wait` seconds at most: one page's eight charts, loaded
at once by a browser, all get drawn. Past that a request is answered at once with
`503 busy` and `Retry-After`, instead of joining a queue that grows with the burst: queued
work holds memory and database connections, and is finished long after its client gave up.
A waiter holds nothing but its request. Blocking work (Polars, matplotlib) runs in a small
thread pool of its own, so it neither waits behind nor crowds out whatever else uses the
default executor. A request whose client has already gone is not started, and routes check
again between their stages (`ensure_connected`).

Cheap routes, above all the cached `GET /leaderboard`, pass untouched.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import functools
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tempo.core.api_errors import CLIENT_CLOSED_REQUEST, json_error
from tempo.core.errors import TempoError
from tempo.core.logs import get_logger

log = get_logger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

RETRY_AFTER_SECONDS = 1


@dataclass
class RouteLimit:
    """At most `concurrency` requests of one route class at once, in this worker, and at
    most `queue` more waiting, each for `wait` seconds at most.

    Plain counters are enough: the event loop runs one coroutine at a time, and nothing
    awaits between a check and its update. A place that is freed passes straight to the
    longest waiter, so a newcomer cannot overtake the queue."""

    name: str
    concurrency: int
    queue: int = 0
    wait: float = 5.0
    active: int = field(default=0, init=False)
    refused: int = field(default=0, init=False)
    _waiters: collections.deque[asyncio.Future[None]] = field(
        default_factory=collections.deque, init=False, repr=False
    )

    async def acquire(self) -> None:
        """Take a place, waiting for one if the queue has room; TempoError 503 `busy` if not."""
        if self.active < self.concurrency:
            self.active += 1
            return
        if len(self._waiters) >= self.queue:
            self.refused += 1
            raise self.busy_error()
        handed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(handed)
        try:
            async with asyncio.timeout(self.wait):
                await handed
        except TimeoutError:
            if handed.done() and not handed.cancelled():
                return  # a place came just as the wait ran out: it is ours
            self._waiters.remove(handed)
            self.refused += 1
            raise self.busy_error() from None
        except asyncio.CancelledError:
            if handed.done() and not handed.cancelled():
                self.release()  # handed a place, but the request is going away
            elif handed in self._waiters:
                self._waiters.remove(handed)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the place passes on; `active` stays the same
                return
        self.active -= 1

    def busy_error(self) -> TempoError:
        return TempoError(
            503,
            "busy",
            f"too many {self.name} requests at once; try again in {RETRY_AFTER_SECONDS} s",
            {"route_class": self.name, "concurrency": self.concurrency},
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the class's places for the block (see `acquire`)."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()


# Per worker. The sizes follow what each request holds: analytics and the datamart keep a
# core busy (the thread pool below has as many threads), catalog search and look-ups hold a
# pooled database connection each (the pool has 10, plus 10 overflow).
# Twice as many may wait as run: enough for a page's charts, short enough that the last of
# them is served within seconds of a burst's end.
DATAMART = RouteLimit("datamart", 4, queue=8)
ANALYTICS = RouteLimit("analytics", 4, queue=8)
CATALOG_SEARCH = RouteLimit("catalog search", 8, queue=16)
CATALOG_LOOKUPS = RouteLimit("catalog look-up", 8, queue=16)
# Image classification (the API and the page take it themselves, once the image is read):
# decoding and inference keep a core busy for milliseconds to a second (a large JPEG, an
# ImageNet model), so two at once per worker, and a short queue.
IMAGES = RouteLimit("image classification", 2, queue=4, wait=2.0)

# Calendars sent to POST /schedule: parsed and expanded in the thread pool below, which
# has EXPENSIVE_THREADS threads (defined further down); as many at once, twice as many wait.
CALENDAR_IMPORTS = RouteLimit("calendar import", 4, queue=8)

# (method, path prefix) → limit, for the routes limited before they are routed; the
# planner's routes take CATALOG_LOOKUPS themselves, only once the body says it needs the
# catalog (a day of inline songs is cheap and stays unlimited).
PREFIXES: tuple[tuple[str, str, RouteLimit], ...] = (
    ("GET", "/datamart", DATAMART),
    ("GET", "/analytics", ANALYTICS),
    ("GET", "/tracks", CATALOG_SEARCH),
)


def limit_for(method: str, path: str) -> RouteLimit | None:
    for wanted_method, prefix, limit in PREFIXES:
        if method == wanted_method and (path == prefix or path.startswith(prefix + "/")):
            return limit
    return None


class ClientGone(Exception):
    """The client disconnected before its answer was ready: stop, answer nothing."""


async def _peek(receive: Receive) -> Message | None:
    """The next ASGI message if it is already there, else None, without waiting."""
    with anyio.CancelScope() as scope:
        scope.cancel()
        return await receive()
    return None  # cancelled: nothing had arrived yet


class ConcurrencyLimitMiddleware:
    """Refuses a limited route's request past its class's concurrency (503 `busy`), and does
    not start one whose client has already gone.

    It sits inside the response cache, so cache hits (a repeated `/tracks` page) never count
    against a limit, and before FastAPI's routing, so a refusal costs next to nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = limit_for(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        try:
            await limit.acquire()
        except TempoError as error:
            await json_error(error)(scope, receive, send)
            return
        # The request may have waited for the event loop long enough for its client to
        # give up (a burst does that): look before doing anything for it.
        try:
            first = await _peek(receive)
            if first is not None and first["type"] == "http.disconnect":
                log.info("client_gone", path=scope["path"], stage="before start")
                # Nobody reads it; the status is for the access log.
                await Response(status_code=CLIENT_CLOSED_REQUEST)(scope, receive, send)
                return
            await self.app(scope, _replaying(first, receive) if first else receive, send)
        finally:
            limit.release()


def _replaying(first: Message, receive: Receive) -> Receive:
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


async def ensure_connected(request: Request, stage: str) -> None:
    """Raise ClientGone when the client has disconnected: call it before each costly stage.

    Only once the body has been read (or for a request without one): the check consumes
    what has arrived, which past the body is nothing but a disconnect. It looks past one
    body message, the one ConcurrencyLimitMiddleware may have peeked at and handed on."""
    for _ in range(2):
        message = await _peek(request.receive)
        if message is None:
            return
        if message["type"] == "http.disconnect":
            log.info("client_gone", path=request.url.path, stage=stage)
            raise ClientGone


def install_limits(app: FastAPI) -> None:
    @app.exception_handler(ClientGone)
    async def _client_gone(_: Request, __: ClientGone) -> Response:
        # Nobody reads it; the status is for the access log.
        return Response(status_code=CLIENT_CLOSED_REQUEST)


# --- blocking work ----------------------------------------------------------------------

# As many threads as cores, at least 2: more would only hold more parsed files and images
# in memory at once without finishing any sooner.
EXPENSIVE_THREADS = max(2, min(8, os.cpu_count() or 2))
_executor: ThreadPoolExecutor | None = None


def executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(EXPENSIVE_THREADS, thread_name_prefix="tempo-expensive")
    return _executor


async def run_blocking(func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """`asyncio.to_thread`, on the bounded pool for expensive work (with the context, so log
    lines keep their request id)."""
    context = contextvars.copy_context()
    call = functools.partial(context.run, func, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(executor(), call)
