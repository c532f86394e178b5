"""A per-process cache of whole HTTP responses for read-mostly routes, in front of FastAPI.

A hit is answered from pre-encoded bytes: no routing, no dependencies, no database, no
JSON encoding. A miss goes through FastAPI as usual (full validation) and a 200 answer is
kept. Entries are grouped by topic ("leaderboard", "catalog"); a PostgreSQL NOTIFY on a
topic's channel, sent in the same transaction as the data change, drops that topic in
every worker and replica. While the database is unreachable, the entries stay and keep
being served: the last good answer beats an error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import asyncpg
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tempo.core.conditional import none_match, not_modified_headers, read_if_none_match
from tempo.core.logs import get_logger

log = get_logger(__name__)

# NOTIFY channel → cache topic. Feeds and catalog loads notify on commit.
CHANNELS = {"tempo_leaderboard": "leaderboard", "tempo_catalog": "catalog"}
MAX_ENTRIES_PER_TOPIC = 512  # query strings are client-chosen: bound what they can pin
RECONNECT_SECONDS = (0.5, 1, 2, 5)
PING_SECONDS = 5.0
LISTENER_NAME = "tempo-cache-listener"


@dataclass(frozen=True)
class CachedResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    etag: str | None


class ResponseCache:
    def __init__(self, topics: Iterable[str]) -> None:
        self._entries: dict[str, dict[bytes, CachedResponse]] = {t: {} for t in topics}
        self._generation: dict[str, int] = dict.fromkeys(self._entries, 0)
        # What else this process keeps of a topic (the catalog's in-memory index): dropped
        # with the topic's entries.
        self._watchers: dict[str, list[Callable[[], None]]] = {t: [] for t in self._entries}
        # Nothing is kept before the first LISTEN: a change before it would go unheard.
        self.listening = asyncio.Event()
        self.connected = False  # the NOTIFY listener's connection is up now
        # Counted always (a dict addition per request), read by tempo.core.metrics.
        self.hits: dict[str, int] = dict.fromkeys(self._entries, 0)
        self.misses: dict[str, int] = dict.fromkeys(self._entries, 0)
        self.invalidations: dict[str, int] = dict.fromkeys(self._entries, 0)

    def get(self, topic: str, key: bytes) -> CachedResponse | None:
        return self._entries[topic].get(key)

    def generation(self, topic: str) -> int:
        return self._generation[topic]

    def put(self, topic: str, key: bytes, response: CachedResponse, generation: int) -> bool:
        """Keep `response` unless the topic changed since its request began (it may be
        older than the change) or the topic is full."""
        entries = self._entries[topic]
        if (
            not self.listening.is_set()
            or generation != self._generation[topic]
            or len(entries) >= MAX_ENTRIES_PER_TOPIC
        ):
            return False
        entries[key] = response
        return True

    def watch(self, topic: str, drop: Callable[[], None]) -> None:
        """Call `drop` whenever `topic` is invalidated, including on every (re)LISTEN."""
        self._watchers[topic].append(drop)

    def invalidate(self, topic: str | None = None) -> None:
        for name in [topic] if topic else list(self._entries):
            self._generation[name] += 1
            self._entries[name] = {}
            self.invalidations[name] += 1
            for drop in self._watchers[name]:
                drop()

    def listened(self) -> None:
        """LISTEN is (again) in place: drop what may have changed unheard, then keep."""
        self.invalidate()
        self.listening.set()


class ResponseCacheMiddleware:
    """Serves cached GET answers for the paths that opted in (`reads`: path → topic).

    A successful request to one of `writes` (path → topic) drops its topic at once in this
    process, so a client reads its own feed; other processes hear of it by NOTIFY.
    """

    def __init__(
        self, app: ASGIApp, cache: ResponseCache, reads: dict[str, str], writes: dict[str, str]
    ) -> None:
        self.app = app
        self.cache = cache
        self.reads = reads
        self.writes = writes
        # Misses being answered now, by (topic, key): a burst of requests for one page
        # (after a feed drops the cache, say) sends one query, not one per request.
        self._in_flight: dict[tuple[str, bytes], asyncio.Event] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            written = self.writes.get(scope["path"])
            if written is None:
                await self.app(scope, receive, send)
            else:
                await self._write(scope, receive, send, written)
            return
        topic = self.reads.get(scope["path"])
        if topic is None:
            await self.app(scope, receive, send)
            return
        key = scope["query_string"]
        hit = self.cache.get(topic, key)
        if hit is None and (first := self._in_flight.get((topic, key))) is not None:
            await first.wait()
            hit = self.cache.get(topic, key)  # None if that answer was not kept: ask below
        if hit is not None:
            self.cache.hits[topic] += 1
            await self.answer(scope, send, hit)
            return
        self.cache.misses[topic] += 1
        if (topic, key) in self._in_flight or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        done = self._in_flight[(topic, key)] = asyncio.Event()
        try:
            await self._fill(scope, receive, send, topic, key)
        finally:
            del self._in_flight[(topic, key)]
            done.set()

    def lookup(self, scope: Scope) -> CachedResponse | None:
        """The kept answer to this request, if there is one now (an HTTP scope)."""
        if scope["method"] not in ("GET", "HEAD"):
            return None
        topic = self.reads.get(scope["path"])
        if topic is None:
            return None
        hit = self.cache.get(topic, scope["query_string"])
        if hit is not None:
            self.cache.hits[topic] += 1
        return hit

    async def _fill(
        self, scope: Scope, receive: Receive, send: Send, topic: str, key: bytes
    ) -> None:
        """Answer a miss through the app, keeping a 200 answer."""
        generation = self.cache.generation(topic)
        status = 0
        headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                # Copied now: the layers outside (the request id) add their own headers to
                # this message, and those belong to this request only.
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and status == 200:
                    etag = next((v.decode("latin-1") for k, v in headers if k == b"etag"), None)
                    body = b"".join(chunks)
                    self.cache.put(topic, key, CachedResponse(200, headers, body, etag), generation)
            await send(message)

        await self.app(scope, receive, keep)

    async def _write(self, scope: Scope, receive: Receive, send: Send, topic: str) -> None:
        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 300:
                self.cache.invalidate(topic)
            await send(message)

        await self.app(scope, receive, watch)

    async def answer(
        self, scope: Scope, send: Send, hit: CachedResponse,
        extra: tuple[bytes, bytes] | None = None,
    ) -> int:  # fmt: skip
        """Send `hit` (a 304 if the client has it), with the `extra` header if given; the
        status sent."""
        if hit.etag is not None and none_match(read_if_none_match(scope["headers"]), hit.etag):
            headers = not_modified_headers(hit.headers)
            if extra is not None:
                headers.append(extra)
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return 304
        headers = hit.headers if extra is None else [*hit.headers, extra]
        await send({"type": "http.response.start", "status": hit.status, "headers": headers})
        body = b"" if scope["method"] == "HEAD" else hit.body
        await send({"type": "http.response.body", "body": body})
        return hit.status


async def listen_for_changes(
    dsn: str,
    cache: ResponseCache,
    connect: Callable[..., Awaitable[asyncpg.Connection]] = asyncpg.connect,
) -> None:
    """LISTEN on every channel, forever; reconnect when the connection is lost.

    On each (re)connect every topic is dropped, since notifications sent while this worker
    was not listening are lost. Entries stay while disconnected (see module docstring).
    """
    attempt = 0
    while True:
        try:
            conn = await connect(dsn, server_settings={"application_name": LISTENER_NAME})
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            delay = RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)]
            if attempt == 0:
                log.warning("cache_listener_disconnected", error=type(exc).__name__)
            attempt += 1
            await asyncio.sleep(delay)
            continue
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _, lost=lost: lost.set())
        try:
            for channel, topic in CHANNELS.items():
                await conn.add_listener(channel, _relay(cache.invalidate, topic))
            cache.listened()
            cache.connected = True
            if attempt:
                log.info("cache_listener_reconnected")
            attempt = 0
            while not lost.is_set():
                # A silent network failure never closes the socket: ask now and then.
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
                # cancellation that arrives as the connection is lost, and a shutdown
                # would then wait for this task forever.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(PING_SECONDS):
                        await lost.wait()
                if not lost.is_set():
                    await conn.fetchval("SELECT 1", timeout=PING_SECONDS)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pass
        finally:
            cache.connected = False
            with contextlib.suppress(Exception):
                await conn.close(timeout=1)
        attempt = max(attempt, 1)


def _relay(on_change: Callable[[str | None], None], topic: str) -> Callable[..., None]:
    def relay(*_: object) -> None:
        on_change(topic)

    return relay
