"""The feed: COPY into PostgreSQL, atomically, with a bad file changing nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.app import create_app
from tempo.core import db
from tempo.core.csv_input import CsvError
from tempo.core.db import asyncpg_dsn
from tempo.core.db_errors import is_database_unavailable
from tempo.pipeline.aggregate import aggregate
from tempo.pipeline.feed import FEED_LOCK, NOTIFY_CHANNEL, feed_file
from tests.fixtures.app import TOKEN, make_settings, running
from tests.fixtures.files import read_result, write


async def table(engine: AsyncEngine) -> list[tuple]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT rank, user_id, name, messages FROM leaderboard ORDER BY rank, user_id")
        )
        return [tuple(r) for r in rows]


def ranking(path: Path, rows: int, *, start: int = 0) -> Path:
    """A valid pipeline_result.csv of `rows` users, each with a distinct count."""
    lines = ["rank,user_id,name,messages"]
    lines += [f"{i + 1},{start + i},User {start + i},{rows - i}" for i in range(rows)]
    return write(path, "\n".join(lines) + "\n")


async def test_feed_loads_the_sample_ranking(
    engine: AsyncEngine, sample_dir: Path, tmp_path: Path
) -> None:
    summary = aggregate(sample_dir / "messages.csv", sample_dir / "users.csv", tmp_path)
    result = await feed_file(engine, summary.output)
    assert result.rows == 10 and result.feed_id == 1
    assert await table(engine) == read_result(summary.output)
    assert "rows/s" in result.line()


async def test_feed_replaces_the_whole_previous_ranking(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await feed_file(engine, ranking(tmp_path / "a.csv", 50))
    await feed_file(engine, ranking(tmp_path / "b.csv", 3, start=1000))
    assert [r[1] for r in await table(engine)] == [1000, 1001, 1002]


async def test_empty_names_of_orphans_survive_the_round_trip(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "r.csv", 'rank,user_id,name,messages\n1,99,,3\n2,1,"O\'Neil, ""Jr""",1\n'
    )
    await feed_file(engine, path)
    assert await table(engine) == [(1, 99, "", 3), (2, 1, 'O\'Neil, "Jr"', 1)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("rank,user_id,messages\n1,1,2\n", "missing column 'name'"),
        (
            "rank,user_id,name,messages\n1,1,A,2\n2,x,B,1\n",
            "row 2, column 'user_id': not an integer",
        ),
        ("rank,user_id,name,messages\n1,1,A,-2\n", "column 'messages': must not be negative"),
        ("rank,user_id,name,messages\n1,1,A,2\n2,1,B,1\n", "row 2, column 'user_id': duplicate"),
        ("rank,user_id,name,messages\n1,1,A,2\n3,2,B,1\n", "row 2, column 'rank': does not match"),
        ("", "the file is empty"),
    ],
)
async def test_a_rejected_file_leaves_the_leaderboard_untouched(
    engine: AsyncEngine, tmp_path: Path, content: str, message: str
) -> None:
    await feed_file(engine, ranking(tmp_path / "good.csv", 5))
    before = await table(engine)
    with pytest.raises(CsvError, match=message):
        await feed_file(engine, write(tmp_path / "bad.csv", content), source="bad.csv")
    assert await table(engine) == before


async def test_losing_the_database_mid_feed_rolls_back(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    """The feed's connection dies after its DELETE and COPY, before the commit."""
    await feed_file(engine, ranking(tmp_path / "good.csv", 5))
    before = await table(engine)
    blocker = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        # Park the feed on its last statement by holding the lock that statement needs.
        tx = blocker.transaction()
        await tx.start()
        await blocker.execute("LOCK TABLE leaderboard_feed IN EXCLUSIVE MODE")
        feeding = asyncio.create_task(feed_file(engine, ranking(tmp_path / "new.csv", 5000)))
        waiting = None
        for _ in range(200):
            # Activity is snapshotted per transaction; drop the snapshot to see it change.
            await blocker.execute("SELECT pg_stat_clear_snapshot()")
            waiting = await blocker.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'INSERT INTO leaderboard_feed%'"
            )
            if waiting:
                break
            await asyncio.sleep(0.05)
        assert waiting, "the feed never reached its final statement"
        await blocker.execute("SELECT pg_terminate_backend($1)", waiting)
        await tx.rollback()
        with pytest.raises(Exception) as caught:
            await feeding
        assert is_database_unavailable(caught.value)
    finally:
        await blocker.close()
    assert await table(engine) == before


async def test_nul_characters_are_refused_before_the_database(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    bad = write(tmp_path / "nul.csv", "rank,user_id,name,messages\n1,1,ok,2\n2,2,bad\x00,1\n")
    with pytest.raises(CsvError, match="row 2, column 'name': contains a NUL"):
        await feed_file(engine, bad)


async def test_readers_see_the_old_or_the_new_ranking_never_a_mix(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    old = ranking(tmp_path / "old.csv", 20_000)
    new = ranking(tmp_path / "new.csv", 30_000, start=100_000)
    await feed_file(engine, old)
    expected = {(20_000, 0), (30_000, 100_000)}

    seen: set[tuple[int, int]] = set()
    done = asyncio.Event()

    async def reader() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            while not done.is_set():
                count, first = await conn.fetchrow("SELECT count(*), min(user_id) FROM leaderboard")
                seen.add((count, first))
        finally:
            await conn.close()

    readers = [asyncio.create_task(reader()) for _ in range(3)]
    for _ in range(3):
        await feed_file(engine, new)
        await feed_file(engine, old)
    done.set()
    await asyncio.gather(*readers)
    assert seen <= expected, f"a reader saw a half-fed leaderboard: {seen - expected}"
    assert seen == expected


async def test_concurrent_feeds_are_serialised(engine: AsyncEngine, tmp_path: Path) -> None:
    a = ranking(tmp_path / "a.csv", 3000)
    b = ranking(tmp_path / "b.csv", 2000, start=50_000)
    results = await asyncio.gather(*(feed_file(engine, p) for p in (a, b, a, b)))
    assert sorted(r.feed_id for r in results) == [1, 2, 3, 4]
    last = max(results, key=lambda r: r.feed_id)
    assert len(await table(engine)) == last.rows


async def test_listeners_hear_of_a_feed_only_after_commit(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    await conn.add_listener(NOTIFY_CHANNEL, lambda *args: heard.put_nowait(args[3]))
    try:
        with pytest.raises(CsvError):
            await feed_file(engine, write(tmp_path / "bad.csv", "rank\nx\n"))
        result = await feed_file(engine, ranking(tmp_path / "r.csv", 3))
        assert await asyncio.wait_for(heard.get(), timeout=5) == str(result.feed_id)
        assert heard.empty()
    finally:
        await conn.close()


async def test_a_big_board_is_deleted_a_slice_of_pages_at_a_time(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One page per DELETE: the old board spans dozens of pages, so every slice, and the
    # catch-all after them, must together leave exactly the new board.
    monkeypatch.setattr(db, "DELETE_BLOCKS", 1)
    await feed_file(engine, ranking(tmp_path / "old.csv", 20_000))
    statements: list[str] = []
    sync_engine = engine.sync_engine

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(sync_engine, "before_cursor_execute", seen)
    try:
        await feed_file(engine, ranking(tmp_path / "new.csv", 7, start=90_000))
    finally:
        event.remove(sync_engine, "before_cursor_execute", seen)
    deletes = [s for s in statements if s.startswith("DELETE FROM leaderboard")]
    assert len(deletes) > 20  # one per page of the old board, then the catch-all
    assert [row[1] for row in await table(engine)] == list(range(90_000, 90_007))


@pytest.mark.slow
async def test_a_feed_behind_a_long_feed_is_busy_not_a_lost_database(
    database_url: str, data_dir: Path, tmp_path: Path
) -> None:
    app = create_app(make_settings(database_url, data_dir))
    ranking(data_dir / "pipeline_result.csv", 5)
    holder = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async for client in running(app):
            auth = {"Authorization": f"Bearer {TOKEN}"}
            assert (await client.post("/feed", json={"data_path": "pipeline_result.csv"},
                                      headers=auth)).status_code == 200  # fmt: skip
            # Another process's feed holds the lock for longer than a feed waits for it.
            await holder.execute("SELECT pg_advisory_lock($1)", int(FEED_LOCK))
            ranking(data_dir / "pipeline_result.csv", 9, start=500)
            started = asyncio.get_running_loop().time()
            response = await client.post(
                "/feed", json={"data_path": "pipeline_result.csv"}, headers=auth
            )
            waited = asyncio.get_running_loop().time() - started
            assert response.status_code == 503 and response.headers["Retry-After"]
            error = response.json()["error"]
            assert error["code"] == "busy" and "another feed job is running" in error["message"]
            assert db.LOCK_WAIT_MS / 1000 - 0.5 < waited < 10
            board = (await client.get("/leaderboard")).json()
            assert [row["user_id"] for row in board["leaderboard"]] == list(range(5))
            await holder.execute("SELECT pg_advisory_unlock($1)", int(FEED_LOCK))
            response = await client.post(
                "/feed", json={"data_path": "pipeline_result.csv"}, headers=auth
            )
            assert response.status_code == 200 and response.json()["rows"] == 9
    finally:
        await holder.close()
