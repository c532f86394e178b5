"""Loading the catalog: COPY in one transaction, a bad file changing nothing, URL sources."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import asyncpg
import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.catalog.demo import DEMO_TRACKS, seed_demo_catalog
from tempo.catalog.load import NOTIFY_CHANNEL, load_catalog
from tempo.catalog.pipeline import BAD_DURATION
from tempo.core.csv_input import CsvError
from tempo.core.db import asyncpg_dsn
from tempo.core.sources import DownloadLimits, SourceError, display_url
from tests.fixtures.catalog import HEADER, song, songs_csv
from tests.fixtures.files import write
from tests.fixtures.http_server import serve_bytes
from tests.fixtures.processes import free_port

GOOD = [
    song(track_id="a", track_name="Señorita", track_artist="Shawn Mendes",
         playlist_genre="pop", playlist_subgenre="dance pop"),
    song(track_id="a", playlist_genre="latin", playlist_subgenre="latin pop"),
    song(track_id="b", track_name='Quote "this", please', track_artist="O'Brien\\Slash",
         playlist_genre='r&b', playlist_subgenre='new "jack", swing'),
    song(track_id="c", track_name="NA", track_artist="NA", track_album_release_date="1999"),
]  # fmt: skip


async def rows(engine: AsyncEngine) -> list[tuple[object, ...]]:
    async with engine.connect() as conn:
        result = await conn.execute(text("SELECT * FROM tracks ORDER BY track_id"))
        return [tuple(r) for r in result]


async def loads(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM catalog_load")) or 0)


async def test_a_load_round_trips_arrays_quotes_and_nulls(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    result = await load_catalog(engine, songs_csv(tmp_path / "s.csv", GOOD), source="s.csv")
    assert (result.rows_read, result.tracks, result.rejected_rows) == (4, 3, 0)
    assert result.source == "s.csv" and result.load_id == 1
    assert "3 unique tracks" in result.summary() and "rows/s" in result.summary()
    async with engine.connect() as conn:
        got = {
            r.track_id: r
            for r in await conn.execute(
                text("SELECT track_id, name, artist, genres, subgenres, release_date, "
                     "release_precision, search_text FROM tracks")
            )
        }  # fmt: skip
    assert got["a"].genres == ["latin", "pop"] and got["a"].subgenres == ["dance pop", "latin pop"]
    assert got["a"].search_text == "senorita shawn mendes"
    assert got["b"].name == 'Quote "this", please' and got["b"].artist == "O'Brien\\Slash"
    assert got["b"].subgenres == ['new "jack", swing']
    assert got["c"].name is None and got["c"].artist is None and got["c"].search_text == ""
    assert got["c"].release_precision == "year"
    assert got["c"].release_date.isoformat() == "1999-01-01"


async def test_loading_twice_gives_an_identical_table(engine: AsyncEngine, tmp_path: Path) -> None:
    path = songs_csv(tmp_path / "s.csv", GOOD)
    first = await load_catalog(engine, path)
    before = await rows(engine)
    second = await load_catalog(engine, path)
    assert await rows(engine) == before and len(before) == 3
    assert first.sha256 == second.sha256 and await loads(engine) == 2


async def test_a_new_file_replaces_the_whole_catalog(engine: AsyncEngine, tmp_path: Path) -> None:
    await load_catalog(engine, songs_csv(tmp_path / "a.csv", GOOD))
    await load_catalog(engine, songs_csv(tmp_path / "b.csv", [song(track_id="z")]))
    assert [r[0] for r in await rows(engine)] == ["z"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the file is empty"),
        (",".join(HEADER[:-1]) + "\nx\n", "missing column 'duration_ms'"),
        (",".join(HEADER) + "\n" + ",".join(song().values()) + ",1,2\n", "malformed CSV"),
        (",".join(HEADER) + "\n" + ",".join(song(duration_ms="-1").values()) + "\n",
         "no usable rows"),
        (",".join(HEADER) + "\n", "no data rows"),
        (",".join(HEADER).encode() + b"\n" + ",".join(song().values()).encode()[:-3] + b"\xff\n",
         "not valid UTF-8"),
    ],
)  # fmt: skip
async def test_a_rejected_file_leaves_the_previous_catalog(
    engine: AsyncEngine, tmp_path: Path, content: str | bytes, message: str
) -> None:
    await load_catalog(engine, songs_csv(tmp_path / "good.csv", GOOD))
    before = await rows(engine)
    with pytest.raises(CsvError, match=message) as caught:
        await load_catalog(engine, write(tmp_path / "bad.csv", content), source="bad.csv")
    assert str(caught.value).startswith("bad.csv:") or str(caught.value).startswith("bad.csv,")
    assert await rows(engine) == before and await loads(engine) == 1


async def test_rejected_rows_are_reported_and_the_rest_loaded(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    path = songs_csv(tmp_path / "s.csv", [*GOOD, song(track_id="bad", duration_ms="-3")])
    result = await load_catalog(engine, path)
    assert result.rejected == {BAD_DURATION: 1} and result.tracks == 3
    assert result.lines()[1] == f"  rejected 1 × {BAD_DURATION} (first: row 5: duration_ms='-3')"
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT rejected FROM catalog_load")) == 1


async def test_listeners_hear_of_a_load_only_after_commit(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    heard: asyncio.Queue[str] = asyncio.Queue()
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    await conn.add_listener(NOTIFY_CHANNEL, lambda *args: heard.put_nowait(args[3]))
    try:
        with pytest.raises(CsvError):
            await load_catalog(engine, write(tmp_path / "bad.csv", "track_id\nx\n"))
        result = await load_catalog(engine, songs_csv(tmp_path / "s.csv", GOOD))
        assert await asyncio.wait_for(heard.get(), timeout=5) == str(result.load_id)
        assert heard.empty()
    finally:
        await conn.close()


async def test_concurrent_loads_run_one_at_a_time(engine: AsyncEngine, tmp_path: Path) -> None:
    files = [
        songs_csv(tmp_path / f"{n}.csv", [song(track_id=f"{n}-{i}") for i in range(n)])
        for n in (50, 80, 120)
    ]
    results = await asyncio.gather(*(load_catalog(engine, f) for f in files))
    last = max(results, key=lambda r: r.load_id)
    assert len(await rows(engine)) == last.tracks


# --- http(s):// sources -----------------------------------------------------------------


async def test_a_catalog_from_a_url(
    engine: AsyncEngine, tmp_path: Path, httpserver: HTTPServer
) -> None:
    body = songs_csv(tmp_path / "s.csv", GOOD).read_bytes()
    httpserver.expect_request("/songs.csv").respond_with_handler(serve_bytes(body))
    httpserver.expect_request("/chunked.csv").respond_with_handler(
        serve_bytes(body, content_length=False)
    )
    stages: list[str] = []
    result = await load_catalog(
        engine, httpserver.url_for("/songs.csv?token=secret"), progress=stages.append
    )
    assert result.source == httpserver.url_for("/songs.csv") and result.tracks == 3
    assert [s.split()[0] for s in stages] == ["downloading", "reading", "validating", "loading"]
    assert "secret" not in " ".join(stages)
    again = await load_catalog(engine, httpserver.url_for("/chunked.csv"))
    assert again.sha256 == result.sha256


async def test_url_failures_are_clear_and_change_nothing(
    engine: AsyncEngine, tmp_path: Path, httpserver: HTTPServer
) -> None:
    await load_catalog(engine, songs_csv(tmp_path / "good.csv", GOOD))
    before = await rows(engine)
    body = songs_csv(tmp_path / "s.csv", [song(track_id=f"t{i}") for i in range(100)]).read_bytes()
    small = DownloadLimits(max_bytes=len(body) - 1, read_seconds=0.5)
    httpserver.expect_request("/big.csv").respond_with_handler(serve_bytes(body))
    httpserver.expect_request("/big-chunked.csv").respond_with_handler(
        serve_bytes(body, content_length=False)
    )
    httpserver.expect_request("/slow.csv").respond_with_handler(serve_bytes(b"track_id\n", delay=3))
    httpserver.expect_request("/bad.csv").respond_with_handler(serve_bytes(b"track_id\nx\n"))
    cases = [
        ("/missing.csv", 404, "download failed: HTTP 404 Not Found"),
        (
            "/big.csv",
            413,
            f"too large: {len(body):,} bytes, more than the limit of {len(body) - 1:,} bytes",
        ),
        ("/big-chunked.csv", 413, f"too large: more than the limit of {len(body) - 1:,} bytes"),
        ("/slow.csv", 504, "download timed out waiting for data (after 0.5 s)"),
    ]
    for path, status, message in cases:
        with pytest.raises(SourceError) as caught:
            await load_catalog(engine, httpserver.url_for(path), limits=small)
        assert caught.value.status == status, path
        assert str(caught.value) == f"{httpserver.url_for(path)}: {message}"
    with pytest.raises(CsvError) as csv_error:
        await load_catalog(engine, httpserver.url_for("/bad.csv"))
    where = f"{httpserver.url_for('/bad.csv')}, line 1, column 'track_name'"
    assert str(csv_error.value).startswith(where)
    with pytest.raises(SourceError, match="cannot|failed"):
        await load_catalog(engine, f"http://127.0.0.1:{free_port()}/songs.csv")  # no server there
    with pytest.raises(SourceError, match="unsupported source s3://") as s3:
        await load_catalog(engine, "s3://bucket/songs.csv")
    assert s3.value.status == 400
    assert await rows(engine) == before and await loads(engine) == 1


def test_urls_are_shown_without_credentials_or_query() -> None:
    assert display_url("https://u:pw@example.com:8443/a/b.csv?sig=x#f") == (
        "https://example.com:8443/a/b.csv"
    )


# --- the demo catalog shipped for `make run` ------------------------------------------


def test_the_demo_subset_holds_dance_monkey_and_every_genre() -> None:
    with DEMO_TRACKS.open(encoding="utf-8", newline="") as handle:
        demo = list(csv.DictReader(handle))
    assert list(demo[0]) == HEADER and 250 <= len(demo) <= 350
    dance_monkey = [r for r in demo if r["track_id"] == "5ZULALImTm80tzUbYQYM9d"]
    assert dance_monkey and dance_monkey[0]["track_name"] == "Dance Monkey"
    assert dance_monkey[0]["track_artist"] == "Tones and I"
    per_genre: dict[str, set[str]] = {}
    for row in demo:
        per_genre.setdefault(row["playlist_genre"], set()).add(row["track_id"])
    genres = ("edm", "latin", "pop", "r&b", "rap", "rock")
    assert {g: len(ids) for g, ids in per_genre.items()} == dict.fromkeys(genres, 50)


async def test_the_demo_catalog_is_seeded_into_an_empty_table_only(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    seeded = await seed_demo_catalog(engine)
    assert seeded is not None and seeded.startswith("demo catalog: read 300 rows")
    async with engine.connect() as conn:
        assert await conn.scalar(
            text("SELECT name FROM tracks WHERE track_id = '5ZULALImTm80tzUbYQYM9d'")
        ) == "Dance Monkey"  # fmt: skip
    assert await seed_demo_catalog(engine) is None
    await load_catalog(engine, songs_csv(tmp_path / "s.csv", GOOD))
    assert await seed_demo_catalog(engine) is None and len(await rows(engine)) == 3
