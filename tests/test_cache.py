"""The response cache: hits without the database, 304s, refresh on NOTIFY, reconnects."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.core.cache import LISTENER_NAME, CachedResponse, ResponseCache
from tempo.core.db import asyncpg_dsn
from tempo.pipeline.feed import feed_file
from tests.fixtures.database import until_listening, with_database
from tests.fixtures.files import write


def ranking(path: Path, users: int, start: int = 0) -> Path:
    rows = "".join(f"{i + 1},{start + i},U{start + i},{users - i}\n" for i in range(users))
    return write(path, "rank,user_id,name,messages\n" + rows)


async def admin(database_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(with_database(database_url, "postgres")))


async def lock_out(database_url: str) -> None:
    """Refuse new connections to the test database and end the open ones."""
    name = database_url.rsplit("/", 1)[-1].split("?")[0]
    conn = await admin(database_url)
    try:
        await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
    finally:
        await conn.close()


async def let_in(database_url: str) -> None:
    name = database_url.rsplit("/", 1)[-1].split("?")[0]
    conn = await admin(database_url)
    try:
        await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    finally:
        await conn.close()


async def wait_for_new_ranking(client: httpx.AsyncClient, old_etag: str, seconds: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if (await client.get("/leaderboard")).headers["etag"] != old_etag:
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    raise AssertionError(f"the cached leaderboard was not refreshed within {seconds} s")


async def test_hits_and_304s_need_no_database(
    client: httpx.AsyncClient, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    await feed_file(engine, ranking(tmp_path / "r.csv", 5))
    await until_listening(database_url)
    first = await client.get("/leaderboard")
    await lock_out(database_url)
    try:
        again = await client.get("/leaderboard")
        assert (again.status_code, again.content) == (200, first.content)
        assert again.headers["etag"] == first.headers["etag"]
        etag = first.headers["etag"]
        for if_none_match in (etag, f"W/{etag}", f'"stale", W/{etag}', "*"):
            not_modified = await client.get(
                "/leaderboard", headers={"If-None-Match": if_none_match}
            )
            assert not_modified.status_code == 304 and not_modified.content == b""
            assert (
                not_modified.headers["etag"] == etag and "content-type" not in not_modified.headers
            )
        lines = [("If-None-Match", '"stale"'), ("If-None-Match", etag)]
        assert (await client.get("/leaderboard", headers=lines)).status_code == 304
        stale = await client.get("/leaderboard", headers={"If-None-Match": '"stale", W/"x"'})
        assert (stale.status_code, stale.content) == (200, first.content)
        head = await client.head("/leaderboard")
        assert head.status_code == 200 and head.content == b""
        # A hit is answered by the request-id layer itself: it still carries the id.
        echoed = await client.get("/leaderboard", headers={"X-Request-ID": "hit-1"})
        assert echoed.headers["x-request-id"] == "hit-1" and echoed.content == first.content
        revalidated = await client.get(
            "/leaderboard", headers={"If-None-Match": etag, "X-Request-ID": "hit-2"}
        )
        assert (revalidated.status_code, revalidated.headers["x-request-id"]) == (304, "hit-2")
    finally:
        await let_in(database_url)


async def test_a_feed_elsewhere_refreshes_this_worker_within_a_second(
    client: httpx.AsyncClient, engine: AsyncEngine, tmp_path: Path
) -> None:
    """The feed runs on another engine, as it would in another worker, replica or CLI."""
    await feed_file(engine, ranking(tmp_path / "a.csv", 5))
    old = await client.get("/leaderboard")
    await feed_file(engine, ranking(tmp_path / "b.csv", 3, start=100))
    assert await wait_for_new_ranking(client, old.headers["etag"], seconds=1.0) < 1.0
    body = (await client.get("/leaderboard")).json()
    assert [row["user_id"] for row in body["leaderboard"]] == [100, 101, 102]


async def test_the_listener_reconnects_and_drops_what_it_may_have_missed(
    client: httpx.AsyncClient, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    await feed_file(engine, ranking(tmp_path / "a.csv", 5))
    old = await client.get("/leaderboard")
    conn = await admin(database_url)
    try:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = $1 AND datname = $2",
            LISTENER_NAME, database_url.rsplit("/", 1)[-1].split("?")[0],
        )  # fmt: skip
    finally:
        await conn.close()
    assert killed == 1
    await feed_file(engine, ranking(tmp_path / "b.csv", 4, start=50))
    await wait_for_new_ranking(client, old.headers["etag"], seconds=5.0)


async def test_misses_still_go_through_validation(client: httpx.AsyncClient) -> None:
    for _ in range(2):
        response = await client.get("/leaderboard", params={"limit": 0})
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "query.limit"


def test_an_answer_older_than_a_change_is_not_kept() -> None:
    cache = ResponseCache(["leaderboard"])
    cache.listened()
    answer = CachedResponse(200, [], b"old", '"1"')
    began = cache.generation("leaderboard")
    cache.invalidate("leaderboard")  # a feed landed while that request was running
    assert not cache.put("leaderboard", b"", answer, began)
    assert cache.get("leaderboard", b"") is None
    assert cache.put("leaderboard", b"", answer, cache.generation("leaderboard"))


def test_nothing_is_kept_before_the_first_listen_and_size_is_bounded() -> None:
    cache = ResponseCache(["leaderboard"])
    answer = CachedResponse(200, [], b"x", None)
    assert not cache.put("leaderboard", b"a", answer, 0)
    cache.listened()
    kept = sum(cache.put("leaderboard", str(i).encode(), answer, cache.generation("leaderboard"))
               for i in range(2000))  # fmt: skip
    assert kept == 512


async def waiting_on_locks(conn: asyncpg.Connection, database: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = "
            "'Lock' AND application_name <> $2",
            database,
            LISTENER_NAME,
        )  # fmt: skip
    )


async def test_a_burst_of_misses_for_one_page_sends_one_query(
    client: httpx.AsyncClient, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    await feed_file(engine, ranking(tmp_path / "r.csv", 30))
    name = database_url.rsplit("/", 1)[-1].split("?")[0]
    blocker = await asyncpg.connect(asyncpg_dsn(database_url))
    watcher = await admin(database_url)
    try:
        # Every read of the ranking now waits: the requests pile up as they would behind a
        # slow query after a feed dropped the cache.
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE leaderboard IN ACCESS EXCLUSIVE MODE")
        burst = [
            asyncio.create_task(client.get("/leaderboard", params={"limit": 7})) for _ in range(25)
        ]
        deadline = time.monotonic() + 10
        while await waiting_on_locks(watcher, name) == 0:
            assert time.monotonic() < deadline, "no request reached the database"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # time for any others to reach it too
        assert await waiting_on_locks(watcher, name) == 1
        await transaction.rollback()
        answers = await asyncio.gather(*burst)
    finally:
        await blocker.close()
        await watcher.close()
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert len(answers[0].json()["leaderboard"]) == 7


@pytest.mark.slow
async def test_a_pool_that_stays_busy_answers_503_not_500(
    client: httpx.AsyncClient, engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    await feed_file(engine, ranking(tmp_path / "r.csv", 30))
    blocker = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE leaderboard IN ACCESS EXCLUSIVE MODE")
        # More distinct pages than the pool has connections (10 + 10 overflow): the ones
        # left without a connection for the pool's wait (db.POOL_TIMEOUT, inside the
        # statement limit) are told to come back.
        burst = [
            asyncio.create_task(client.get("/leaderboard", params={"limit": 1, "offset": i}))
            for i in range(24)
        ]
        done, _ = await asyncio.wait(burst, timeout=20, return_when=asyncio.FIRST_COMPLETED)
        busy = next(iter(done)).result()
        await transaction.rollback()
        answers = await asyncio.gather(*burst)
    finally:
        await blocker.close()
    assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
    assert busy.json()["error"]["code"] == "database_busy"
    statuses = [a.status_code for a in answers]
    assert 500 not in statuses and statuses.count(503) == 4 and statuses.count(200) == 20
