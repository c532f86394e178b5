"""Expensive routes cannot starve the cheap ones: per-class concurrency limits, no work for a
client that has gone, datamart pages without re-parsing, catalog look-ups in bulk."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import event
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import ASGIApp, Message

from tempo.app import create_app
from tempo.catalog import index as catalog_index
from tempo.catalog import repository as catalog
from tempo.catalog.demo import seed_demo_catalog
from tempo.catalog.normalize import normalize_text
from tempo.core import db, limits
from tempo.core.csv_input import scan_text
from tempo.core.errors import TempoError
from tempo.core.settings import Settings
from tempo.pipeline.pages import datamart, raw
from tempo.schedule import service as schedule
from tempo.schedule.schemas import MusicWant
from tests.fixtures.catalog import demo_rows


@pytest.fixture
async def catalog_loaded(engine: AsyncEngine) -> None:
    assert await seed_demo_catalog(engine)


@pytest.fixture
async def started(settings: Settings) -> AsyncIterator[ASGIApp]:
    """The app with its lifespan running, to call as a server would (scope, receive, send)."""
    async with LifespanManager(create_app(settings)) as manager:
        yield manager.app


def write_messages(path: Path, rows: int) -> None:
    """A messages.csv with quoted commas, quotes and line breaks in some contents."""
    lines = ["message_id,author_id,content"]
    for i in range(rows):
        content = f'"line one, ""quoted"" {i}\r\nline two"' if i % 9 == 0 else f"plain {i}"
        lines.append(f"{i},{i % 50},{content}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def hold_datamart_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[threading.Semaphore, threading.Event]:
    """Datamart page reads that each signal `started` once begun, then wait for `release`."""
    started, release = threading.Semaphore(0), threading.Event()
    real_read_page = datamart.read_page

    def held_read_page(*args: Any) -> raw.RawPage:
        started.release()
        assert release.wait(10)
        return real_read_page(*args)

    monkeypatch.setattr(datamart, "read_page", held_read_page)
    return started, release


async def test_a_full_route_class_answers_503_busy_at_once_and_cheap_routes_still_answer(
    client: httpx.AsyncClient, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_messages(data_dir / "messages.csv", 30)
    monkeypatch.setattr(limits.DATAMART, "concurrency", 1)
    monkeypatch.setattr(limits.DATAMART, "queue", 0)
    entered, release = hold_datamart_reads(monkeypatch)
    first = asyncio.create_task(client.get("/datamart"))
    # The only place is taken, and held.
    assert await asyncio.to_thread(entered.acquire, True, 10)

    refused = await client.get("/datamart?page=2")
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    error = refused.json()["error"]
    assert error["code"] == "busy"
    assert error["details"] == {"route_class": "datamart", "concurrency": 1}
    # Other classes and the cheap routes are not held back by it.
    assert (await client.get("/leaderboard")).status_code == 200
    assert (await client.get("/healthz")).status_code == 200

    release.set()
    assert (await first).status_code == 200
    assert limits.DATAMART.active == 0
    assert (await client.get("/datamart?page=2")).status_code == 200


async def test_a_few_requests_wait_for_a_place_in_order_then_the_rest_are_refused() -> None:
    limit = limits.RouteLimit("test", 1, queue=2, wait=5)
    order: list[str] = []

    async def request(name: str) -> None:
        async with limit.slot():
            order.append(name)
            await asyncio.sleep(0.05)

    await limit.acquire()  # the one place, held
    waiting = [asyncio.create_task(request(n)) for n in ("first", "second")]
    await asyncio.sleep(0)
    with pytest.raises(TempoError) as refused:
        await limit.acquire()  # the queue is full: refused at once, not queued
    assert refused.value.status == 503 and refused.value.code == "busy"
    limit.release()
    await asyncio.gather(*waiting)
    assert order == ["first", "second"]  # served in the order they came
    assert limit.active == 0 and limit.refused == 1

    # A waiter is refused when no place frees up in time, and leaves the queue.
    short = limits.RouteLimit("short", 1, queue=1, wait=0.1)
    await short.acquire()
    with pytest.raises(TempoError):
        await short.acquire()
    assert not short._waiters and short.active == 1
    short.release()
    assert short.active == 0


@pytest.mark.usefixtures("catalog_loaded")
async def test_schedule_is_limited_only_when_it_looks_up_the_catalog(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits.CATALOG_LOOKUPS, "concurrency", 0)
    monkeypatch.setattr(limits.CATALOG_LOOKUPS, "queue", 0)
    day: dict[str, Any] = {"day_start": "08:00", "day_end": "20:00"}
    looked_up = await client.post("/schedule", json=day | {"music": [{"text": "Dance Monkey"}]})
    assert looked_up.status_code == 503, looked_up.text
    assert looked_up.headers["retry-after"] == "1"
    assert looked_up.json()["error"]["code"] == "busy"
    inline = {"title": "Mine", "duration_seconds": 200}
    assert (await client.post("/schedule", json=day | {"music": [inline]})).status_code == 200


async def call(app: ASGIApp, scope: dict[str, Any], messages: list[Message]) -> list[Message]:
    """Serve one request to `app` as a server would; what it sent back."""
    sent: list[Message] = []
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        await asyncio.Event().wait()  # like a server: nothing more until the client acts
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send), timeout=10)
    return sent


def http_scope(method: str, path: str, query: bytes = b"", body: bool = False) -> dict[str, Any]:
    headers = [(b"host", b"tempo.test")]
    if body:
        headers.append((b"content-type", b"application/json"))
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query, "headers": headers, "client": ("127.0.0.1", 5000),
        "server": ("tempo.test", 80),
    }  # fmt: skip


def counting(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[object]:
    calls: list[object] = []
    real: Callable[..., Any] = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


async def test_the_work_of_a_client_that_has_gone_is_not_started(
    started: ASGIApp, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_messages(data_dir / "messages.csv", 30)
    reads = counting(monkeypatch, datamart, "read_page")
    gone = {"type": "http.disconnect"}
    # Gone before the request was taken up: nothing runs (the 499 is for the access log).
    sent = await call(started, http_scope("GET", "/datamart"), [gone])
    assert sent[0]["status"] == limits.CLIENT_CLOSED_REQUEST
    # Gone after the route began (its first message was the empty body): stopped before
    # the file is read; the 499 is for the access log.
    request = {"type": "http.request", "body": b"", "more_body": False}
    sent = await call(started, http_scope("GET", "/datamart"), [request, gone])
    assert reads == []
    assert sent[0]["status"] == limits.CLIENT_CLOSED_REQUEST
    assert limits.DATAMART.active == 0
    # A client that stays gets its page.
    sent = await call(started, http_scope("GET", "/datamart"), [request])
    assert sent[0]["status"] == 200
    assert len(reads) == 1


@pytest.mark.usefixtures("catalog_loaded")
async def test_catalog_look_ups_are_not_started_for_a_client_that_has_gone(
    started: ASGIApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The look-ups are answered from the in-memory catalog: its one read is the work.
    look_ups = counting(monkeypatch, catalog_index, "load_index")
    body = b'{"day_start": "08:00", "day_end": "20:00", "music": [{"text": "Dance Monkey"}]}'
    request = {"type": "http.request", "body": body, "more_body": False}
    scope = http_scope("POST", "/schedule", body=True)
    sent = await call(started, scope, [request, {"type": "http.disconnect"}])
    assert look_ups == []
    assert sent[0]["status"] == limits.CLIENT_CLOSED_REQUEST
    sent = await call(started, scope, [request])
    assert sent[0]["status"] == 200
    assert len(look_ups) == 1


async def test_a_datamart_page_of_a_large_file_parses_the_file_once_per_version(
    client: httpx.AsyncClient, data_dir: Path
) -> None:
    path = data_dir / "messages.csv"
    write_messages(path, 60_000)
    before = dict(raw.stats)
    pages = [1, 2, 1_000, 2_400]  # 2,400 is the last: 60,000 rows, 25 a page
    answers = [await client.get(f"/datamart?page={page}") for page in pages]
    assert [a.status_code for a in answers] == [200] * len(pages)
    assert raw.stats["parsed"] - before["parsed"] == 1
    assert raw.stats["reused"] - before["reused"] == len(pages) - 1
    # Each page read from its own bytes holds what Polars reads at that place in the file.
    for page in pages:
        expected = scan_text(path).slice((page - 1) * 25, 25).collect()
        shown = raw.read_page(path, "messages.csv", (page - 1) * 25, 25)
        assert shown.total == 60_000
        assert [r.number for r in shown.rows] == expected["__row"].to_list()
        assert [r.values[2] for r in shown.rows] == expected["content"].fill_null("").to_list()
    assert "line one, &#34;quoted&#34; 59994" in answers[-1].text.replace("&quot;", "&#34;")

    # A new version of the file (here: one row more) is parsed again, once.
    write_messages(path, 60_001)
    parsed = raw.stats["parsed"]
    assert "60,001" in (await client.get("/datamart?page=2401")).text
    assert (await client.get("/datamart?page=3")).status_code == 200
    assert raw.stats["parsed"] == parsed + 1


async def test_a_request_with_many_catalog_look_ups_costs_a_bounded_number_of_statements(
    engine: AsyncEngine, catalog_loaded: None
) -> None:
    rows = demo_rows()
    by_popularity = sorted(rows, key=lambda r: (-int(r["track_popularity"]), r["track_id"]))
    # Titles and artists without a dash of their own, so that the text has one reading.
    plain = [r for r in by_popularity if " - " not in r["track_name"] + r["track_artist"]]
    texts = [f"{r['track_name']} - {r['track_artist']}" for r in plain[:60]]
    wants = (
        [MusicWant(text=t) for t in texts]
        + [MusicWant(text=r["track_name"]) for r in plain[60:100]]
        + [MusicWant(track_id=r["track_id"]) for r in plain[100:140]]
        + [MusicWant(text="no such song anywhere zzqx")] * 4
        + [MusicWant(genre=g, minutes=10) for g in ("pop", "Rock", "rap", "pop")]
    )
    assert len(wants) == 148

    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            many_songs, many_missing = await schedule.resolve_music(wants, session)
            many = len(statements)
            statements.clear()
            one_songs, _ = await schedule.resolve_music(wants[:1], session)
            one = len(statements)
            # The same answers as one look-up at a time.
            singles = [await catalog.match_track(session, t) for t in texts[:5]]
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    # genres, ids, exact titles, contained titles, genre tracks (+ the session's own)
    assert many <= 6, statements
    assert one <= 3
    assert [s.track_id for s in many_songs[:5]] == [t.track_id for t in singles if t]
    assert many_songs[0].track_id == one_songs[0].track_id
    assert [m.source for m in many_missing] == [f"music[{i}]" for i in range(140, 144)]
    # Each "title - artist" names the most popular track of that exact title and artist.
    for text, song in zip(texts, many_songs[:60], strict=True):
        title, artist = (normalize_text(part) for part in text.rsplit(" - ", 1))
        named = [
            r for r in by_popularity
            if normalize_text(r["track_name"]) == title
            and artist in normalize_text(r["track_artist"])
        ]  # fmt: skip
        assert song.track_id == named[0]["track_id"], text


@pytest.mark.usefixtures("catalog_loaded")
async def test_a_statement_past_the_limit_is_a_503_that_says_so_not_a_lost_database(
    client: httpx.AsyncClient, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine.connect() as conn:
        # Every pooled connection carries the server's limit, just inside the driver's.
        limit = (await conn.execute(sql("SHOW statement_timeout"))).scalar_one()
        assert limit == f"{db.STATEMENT_TIMEOUT_MS}ms"
        assert db.STATEMENT_TIMEOUT_MS < db.COMMAND_TIMEOUT * 1000

    async def slow_look_ups(session: AsyncSession) -> Any:
        # A catalog read on a loaded machine, with the limit lowered so that the test
        # takes a tenth of a second: PostgreSQL cancels the statement.
        conn = await session.connection()
        await conn.execute(sql("SET LOCAL statement_timeout = 100"))
        await conn.execute(sql("SELECT pg_sleep(2)"))
        raise AssertionError("the statement should have been cancelled")

    monkeypatch.setattr(catalog_index, "load_index", slow_look_ups)
    day: dict[str, Any] = {"day_start": "08:00", "day_end": "20:00"}
    answer = await client.post("/schedule", json=day | {"music": [{"text": "Dance Monkey"}]})
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "5"
    error = answer.json()["error"]
    assert error["code"] == "statement_timeout"
    assert "database is up" in error["message"] and "unreachable" not in error["message"]
    # The database was never lost: the next request is served.
    monkeypatch.undo()
    assert (await client.get("/tracks?q=dance")).status_code == 200


async def test_requests_that_leave_while_waiting_or_running_give_their_places_back(
    started: ASGIApp, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forty datamart requests on two places and a queue of four: the rest refused, the
    waiting and running ones left by their clients or cancelled by the server; afterwards
    no place stays taken and the route answers."""
    write_messages(data_dir / "messages.csv", 30)
    monkeypatch.setattr(limits.DATAMART, "concurrency", 2)
    monkeypatch.setattr(limits.DATAMART, "queue", 4)
    running, release = hold_datamart_reads(monkeypatch)
    gone = asyncio.Event()
    statuses: list[int] = []

    async def leaving_client(number: int) -> None:
        request = {"type": "http.request", "body": b"", "more_body": False}
        given = False

        async def receive() -> Message:
            nonlocal given
            if not given:
                given = True
                return request
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        scope = http_scope("GET", "/datamart", f"page={number % 3 + 1}".encode())
        await started(scope, receive, send)

    tasks = [asyncio.create_task(leaving_client(n)) for n in range(40)]
    for _ in range(2):  # both places taken, their work under way
        assert await asyncio.to_thread(running.acquire, True, 10)
    await asyncio.sleep(0.2)
    assert limits.DATAMART.active == 2 and len(limits.DATAMART._waiters) == 4
    assert statuses.count(503) == 34  # the queue was full: refused at once

    gone.set()  # every client hangs up …
    for task in tasks[::2]:
        task.cancel()  # … and the server cancels half the requests outright
    await asyncio.sleep(0.1)
    release.set()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=20)

    assert limits.DATAMART.active == 0
    assert not limits.DATAMART._waiters
    sent = await call(started, http_scope("GET", "/datamart"), [
        {"type": "http.request", "body": b"", "more_body": False}
    ])  # fmt: skip
    assert sent[0]["status"] == 200

    # The narrowest case: a waiter handed a place, then cancelled before it could run.
    limit = limits.RouteLimit("handed", 1, queue=1, wait=5)
    await limit.acquire()
    waiter = asyncio.create_task(limit.acquire())
    await asyncio.sleep(0)  # now in the queue
    limit.release()  # the place passes to it …
    waiter.cancel()  # … and its request goes away in the same turn
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limit.active == 0 and not limit._waiters
