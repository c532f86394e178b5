"""The real Spotify file, loaded once into a database of this module's own.

Loading it takes about a second, so the tests that only read it share one load.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from tempo.catalog import repository
from tempo.catalog.index import load_index
from tempo.catalog.load import LoadResult, load_catalog
from tempo.catalog.models import SEARCH_TEXT_INDEX
from tempo.catalog.normalize import normalize_text
from tempo.catalog.pipeline import TRACK_COLUMNS
from tempo.core.db import create_engine
from tests.fixtures.catalog import reference_tracks, spotify_csv
from tests.fixtures.database import drop_database, fresh_database, with_database


@pytest.fixture(scope="module")
async def real_catalog(
    server_url: str, template_database: str, database_prefix: str
) -> AsyncIterator[tuple[AsyncEngine, LoadResult]]:
    path = spotify_csv()
    name = await fresh_database(server_url, database_prefix, template_database)
    engine = create_engine(with_database(server_url, name))
    try:
        yield engine, await load_catalog(engine, path)
    finally:
        await engine.dispose()
        await drop_database(server_url, name)


async def table(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(f"SELECT {', '.join(TRACK_COLUMNS)} FROM tracks ORDER BY track_id")
        )
        return [dict(row._mapping) for row in rows]


async def test_the_table_holds_exactly_the_reference_catalog(
    real_catalog: tuple[AsyncEngine, LoadResult],
) -> None:
    engine, loaded = real_catalog
    expected = reference_tracks(spotify_csv())
    assert (loaded.rows_read, loaded.tracks, loaded.rejected_rows) == (32833, len(expected), 0)
    rows = await table(engine)
    assert len(rows) == len(expected) == 28356
    for row in rows:
        search_text = row.pop("search_text")
        assert row == expected[row["track_id"]]
        words = " ".join(part for part in (row["name"], row["artist"]) if part)
        assert search_text == normalize_text(words)

    async with engine.connect() as conn:
        record = (await conn.execute(text("SELECT * FROM catalog_load"))).one()
    assert (record.rows_read, record.tracks, record.rejected) == (32833, 28356, 0)
    assert record.sha256 == loaded.sha256 and record.source == str(spotify_csv())


async def test_loading_the_same_file_again_gives_an_identical_table(
    real_catalog: tuple[AsyncEngine, LoadResult],
) -> None:
    engine, first = real_catalog
    before = await table(engine)
    again = await load_catalog(engine, spotify_csv())
    assert await table(engine) == before
    assert again.sha256 == first.sha256 and again.load_id > first.load_id


async def test_text_search_uses_the_trigram_index(
    real_catalog: tuple[AsyncEngine, LoadResult],
) -> None:
    engine, _ = real_catalog
    async with engine.connect() as conn:
        installed = await conn.scalar(
            text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')")
        )
        if not installed:
            pytest.skip("this PostgreSQL server has no pg_trgm (the embedded pgserver build)")
        # Only index access paths remain, so the plan names the index whatever the costs say.
        await conn.execute(text("SET enable_seqscan = off"))
        for q in ("monkey", "Dance Monkey", "Beyoncé"):
            # The service's own statement, as asyncpg receives it ($1, $2 …).
            compiled = repository.search_statement(q, None).limit(20).compile(dialect=conn.dialect)
            params = compiled.construct_params()
            positional = tuple(params[name] for name in compiled.positiontup or ())
            result = await conn.exec_driver_sql(f"EXPLAIN {compiled}", positional)
            plan = "\n".join(row[0] for row in result)
            assert SEARCH_TEXT_INDEX in plan, plan
            assert "search_text ~~" in plan


async def test_matching_titles_on_the_real_catalog(
    real_catalog: tuple[AsyncEngine, LoadResult],
) -> None:
    engine, _ = real_catalog
    expected = reference_tracks(spotify_csv())
    exact = sorted(
        (t for t in expected.values() if t["name"] == "Dance Monkey"),
        key=lambda t: (-t["popularity"], t["track_id"]),
    )
    async with AsyncSession(engine) as session:
        for given in ("Dance Monkey", "dance monkey – Tones and I", "DANCE MONKEY - tones"):
            found = await repository.match_track(session, given)
            assert found is not None and found.track_id == exact[0]["track_id"], given
        remix = await repository.match_track(session, "Memories - Dillon Francis Remix")
        assert remix is not None and remix.track_id == "0r7CVbZTWZgbTCYdfa2P31"
        assert remix.artist == "Maroon 5"
        by_id = await repository.tracks_by_id(session, ["5ZULALImTm80tzUbYQYM9d", "not-a-track"])
        assert list(by_id) == ["5ZULALImTm80tzUbYQYM9d"]
        assert by_id["5ZULALImTm80tzUbYQYM9d"].genres == ("latin", "pop", "r&b")
        assert by_id["5ZULALImTm80tzUbYQYM9d"].duration_ms == 209438

        assert await repository.known_genres(session) == [
            "edm",
            "latin",
            "pop",
            "r&b",
            "rap",
            "rock",
        ]
        rnb = await repository.tracks_for_genre(session, "R&B", limit=50)
        in_genre = sorted(
            (t for t in expected.values() if "r&b" in t["genres"]),
            key=lambda t: (-t["popularity"], t["track_id"]),
        )
        assert [t.track_id for t in rnb] == [t["track_id"] for t in in_genre[:50]]


async def test_the_in_memory_catalog_answers_as_sql_on_the_real_catalog(
    real_catalog: tuple[AsyncEngine, LoadResult],
) -> None:
    """Every 2000th track named as clients do, plus pieces of titles: the index's answers
    are the SQL look-ups' answers (many tracks share titles and artists here)."""
    engine, loaded = real_catalog
    tracks = sorted(reference_tracks(spotify_csv()).values(), key=lambda t: t["track_id"])
    texts: list[str] = []
    for t in tracks[::2000]:
        name, artist = t["name"] or "", t["artist"] or ""
        texts += [f"{name} - {artist}", name, name[: len(name) // 2], f"{name} — {artist[:3]}"]
    texts += ["Memories - Dillon Francis Remix", "love", "remix", "zzzz qqqq", "feat."]
    async with AsyncSession(engine) as session:
        index = await load_index(session)
        assert index is not None and len(index) == loaded.tracks
        # In batches: the SQL look-ups scan the table for many patterns (the reason for
        # the index), and dozens of them in one statement pass the statement timeout.
        for at in range(0, len(texts), 8):
            batch = texts[at : at + 8]
            assert index.match_tracks(batch) == await repository.match_tracks(session, batch)
        genres = ["pop", "R&B", "rap", "rock", "latin", "edm", "jazz"]
        by_genre = await repository.tracks_for_genres(session, genres)
        assert index.tracks_for_genres(genres) == by_genre
        ids = [t["track_id"] for t in tracks[::97]]
        assert index.tracks_by_id(ids) == await repository.tracks_by_id(session, ids)
