"""The in-memory catalog answers as the SQL look-ups do, and a catalog load drops it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from tempo.app import create_app
from tempo.catalog import repository
from tempo.catalog.demo import seed_demo_catalog
from tempo.catalog.index import CatalogIndex, CatalogIndexes, load_index
from tempo.catalog.load import load_catalog
from tempo.core.settings import Settings
from tempo.schedule.schemas import MusicWant
from tempo.schedule.service import resolve_music
from tests.fixtures.app import running
from tests.fixtures.catalog import demo_rows, song, songs_csv


@pytest.fixture
async def demo(engine: AsyncEngine) -> AsyncIterator[tuple[AsyncSession, CatalogIndex]]:
    assert await seed_demo_catalog(engine)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        index = await load_index(session)
        assert index is not None
        yield session, index


def texts_of_the_catalog() -> list[str]:
    """Every way a client names a demo track, and near misses."""
    texts: list[str] = []
    for row in demo_rows():
        name, artist = row["track_name"], row["track_artist"]
        words = name.split()
        texts += [
            f"{name} - {artist}", f"{name.upper()} – {artist.lower()}", f"{name} — {artist}",
            name, name.lower(), f"  {name}  ", words[0] if words else name,
            " ".join(words[1:3]), name[1:-1], f"{name} - {artist[: len(artist) // 2]}",
            f"{artist} - {name}", artist, row["track_id"], f" {row['track_id']} ",
            f"{name} - nobody at all",
        ]  # fmt: skip
    texts += [
        "", "   ", "-", " - ", "!!!", "a", "e", "the", "remix", "feat", "love", "%", "_", "\\",
        "100%", "a_b", "zzzz qqqq", "Dance\x00Monkey", "Dance Monkey - ", " - Tones and I",
        "Memories - Dillon Francis Remix", "Memories - Dillon Francis Remix - Maroon 5",
        "0" * 22, "5ZULALImTm80tzUbYQYM9d", "5zulalimtm80tzubyqym9d", "ΣΟΦΙΑ", "Celébrate",
    ]  # fmt: skip
    return texts


async def test_texts_ids_and_genres_get_the_answers_of_the_sql_look_ups(
    demo: tuple[AsyncSession, CatalogIndex],
) -> None:
    session, index = demo
    texts = texts_of_the_catalog()
    expected = await repository.match_tracks(session, texts)
    assert index.match_tracks(texts) == expected
    assert sum(found is not None for found in expected.values()) > len(texts) // 3
    # One at a time, the same answers (a text's answer does not depend on the others).
    for text in texts[:: max(1, len(texts) // 40)]:
        assert index.match_tracks([text])[text] == expected[text], text

    ids = [r["track_id"] for r in demo_rows()] + ["nope", "", "x\x00"]
    assert index.tracks_by_id(ids) == await repository.tracks_by_id(session, ids)

    known = await repository.known_genres(session)
    assert index.genres == set(known)
    genres = [*known, *(g.upper() for g in known), " Pop ", "polka", "", "p\x00p"]
    assert index.tracks_for_genres(genres) == await repository.tracks_for_genres(session, genres)
    assert index.tracks_for_genres(["pop"], 3) == await repository.tracks_for_genres(
        session, ["pop"], 3
    )


@settings(
    max_examples=150, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)  # fmt: skip
@given(
    st.lists(
        st.one_of(
            st.text(alphabet=st.sampled_from("aeiounrstlm -–—éÉ'&%_\\"), max_size=14),
            st.sampled_from([r["track_name"] for r in demo_rows()]).map(
                lambda name: name[: len(name) // 2]
            ),
            st.text(max_size=6),
        ),
        min_size=1, max_size=8,
    )
)  # fmt: skip
async def test_any_text_gets_the_answer_of_the_sql_look_up(
    demo: tuple[AsyncSession, CatalogIndex], texts: list[str]
) -> None:
    session, index = demo
    assert index.match_tracks(texts) == await repository.match_tracks(session, texts)


def day(*music: dict[str, Any]) -> dict[str, Any]:
    return {"day_start": "08:00", "day_end": "20:00", "music": list(music)}


async def track_for(client: httpx.AsyncClient, text: str) -> str | None:
    answer = await client.post("/schedule", json=day({"text": text}))
    assert answer.status_code == 200, answer.text
    songs = [i for i in answer.json()["timeline"] if i["kind"] == "music"]
    return songs[0]["track_id"] if songs else None


async def test_a_catalog_load_changes_the_answer_of_the_next_plans(
    settings: Settings, engine: AsyncEngine, tmp_path: Path
) -> None:
    first = songs_csv(tmp_path / "a.csv", [song(track_id="aaa", track_name="Morning Tune")])
    second = songs_csv(
        tmp_path / "b.csv",
        [song(track_id="bbb", track_name="Morning Tune", track_popularity="90"),
         song(track_id="ccc", track_name="Evening Tune")],
    )  # fmt: skip
    await load_catalog(engine, first)
    app = create_app(settings)
    async for client in running(app):
        indexes = app.catalog_index
        # A burst of first requests reads the catalog once.
        answers = await asyncio.gather(*(track_for(client, "morning tune") for _ in range(8)))
        assert answers == ["aaa"] * 8
        assert indexes.builds == 1
        assert indexes.current is not None
        assert await track_for(client, "evening tune") is None

        # The load is another process's as far as the app knows: it hears the NOTIFY.
        await load_catalog(engine, second)
        deadline = time.monotonic() + 10
        while indexes.current is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert indexes.current is None, "the catalog load did not drop the index"
        assert await track_for(client, "morning tune") == "bbb"
        assert await track_for(client, "evening tune") == "ccc"
        assert indexes.builds == 2


async def test_an_index_is_kept_only_while_listening_and_unchanged(engine: AsyncEngine) -> None:
    assert await seed_demo_catalog(engine)
    listening = asyncio.Event()
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow_load(session: AsyncSession) -> CatalogIndex | None:
        started.set()
        await release.wait()
        return await load_index(session)

    indexes = CatalogIndexes(listening, slow_load)
    async with AsyncSession(engine) as session:
        # Before LISTEN: answers, but is not kept.
        release.set()
        assert len(await indexes.get(session)) == len({r["track_id"] for r in demo_rows()})
        assert indexes.current is None
        listening.set()
        # A change while building: the build answers its request but is not kept.
        release.clear()
        started.clear()
        building = asyncio.create_task(indexes.get(session))
        await started.wait()
        indexes.invalidate()
        release.set()
        await building
        assert indexes.current is None
        # Otherwise it is kept, until the next change.
        kept = await indexes.get(session)
        assert indexes.current is kept and await indexes.get(session) is kept
        indexes.invalidate()
        assert indexes.current is None
        assert indexes.builds == 3


async def test_a_catalog_over_the_limit_is_looked_up_in_sql(engine: AsyncEngine) -> None:
    assert await seed_demo_catalog(engine)
    listening = asyncio.Event()
    listening.set()

    async def small_limit(session: AsyncSession) -> CatalogIndex | None:
        return await load_index(session, limit=100)  # the demo catalog has 151 tracks

    indexes = CatalogIndexes(listening, small_limit)
    wants = [MusicWant(text="Dance Monkey - Tones and I"), MusicWant(genre="pop", minutes=9)]
    async with AsyncSession(engine) as session:
        assert await indexes.get(session) is None
        assert await indexes.get(session) is None
        assert indexes.builds == 1  # remembered until the catalog changes
        songs, missing = await resolve_music(wants, session, indexes)
        assert (songs, missing) == await resolve_music(wants, session)
        assert songs[0].title == "Dance Monkey" and len(songs) > 1 and not missing
        indexes.invalidate()
        assert await indexes.get(session) is None
        assert indexes.builds == 2
