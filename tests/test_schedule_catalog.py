"""Music from the catalog in a plan: track ids, free text and genres (demo catalog loaded)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.catalog.demo import seed_demo_catalog
from tests.fixtures.catalog import demo_rows

DANCE_MONKEY = "5ZULALImTm80tzUbYQYM9d"


@pytest.fixture
async def catalog(engine: AsyncEngine) -> None:
    assert await seed_demo_catalog(engine)


def day(*music: dict[str, Any]) -> dict[str, Any]:
    return {"day_start": "08:00", "day_end": "20:00", "music": list(music)}


async def music_of(client: httpx.AsyncClient, *wants: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/schedule", json=day(*wants))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.usefixtures("catalog")
@pytest.mark.parametrize(
    "want",
    [{"track_id": DANCE_MONKEY}, {"text": "Dance Monkey - Tones and I"},
     {"text": "dance monkey – tones and i"}, {"text": "Dance Monkey"}],
)  # fmt: skip
async def test_a_track_by_id_or_by_text(client: httpx.AsyncClient, want: dict[str, Any]) -> None:
    if "track_id" in want:
        row = next(r for r in demo_rows() if r["track_id"] == want["track_id"])
    else:  # text: the exact title, most popular first, then by track id
        titled = [r for r in demo_rows() if r["track_name"].lower() == "dance monkey"]
        row = min(titled, key=lambda r: (-int(r["track_popularity"]), r["track_id"]))
    body = await music_of(client, want)
    [song] = [i for i in body["timeline"] if i["kind"] == "music"]
    assert (song["title"], song["artist"], song["track_id"]) == (
        row["track_name"], row["track_artist"], row["track_id"],
    )  # fmt: skip
    assert song["start"] == "08:00:00"
    assert song["duration_seconds"] == round(int(row["duration_ms"]) / 1000)


@pytest.mark.usefixtures("catalog")
async def test_unknown_tracks_and_text_are_reported(client: httpx.AsyncClient) -> None:
    body = await music_of(client, {"track_id": "nope"}, {"text": "zzzz qqqq"})
    assert [(u["source"], u["reason"]) for u in body["unplaced"]] == [
        ("music[0]", "unknown track"),
        ("music[1]", "no track in the catalog matches this text"),
    ]


@pytest.mark.usefixtures("catalog")
async def test_a_genre_fills_its_minutes_with_popular_whole_songs(
    client: httpx.AsyncClient,
) -> None:
    body = await music_of(client, {"genre": "Rock", "minutes": 20})
    songs = [i for i in body["timeline"] if i["kind"] == "music"]
    assert songs and sum(s["duration_seconds"] for s in songs) <= 20 * 60
    rock = {r["track_id"]: r for r in demo_rows() if r["playlist_genre"] == "rock"}
    assert all(s["track_id"] in rock for s in songs)
    assert len({s["track_id"] for s in songs}) == len(songs)
    popularity = [int(rock[s["track_id"]]["track_popularity"]) for s in songs]
    assert popularity == sorted(popularity, reverse=True)
    # back to back, from the start of the day
    assert songs[0]["start"] == "08:00:00"
    assert all(a["end"] == b["start"] for a, b in zip(songs, songs[1:], strict=False))


@pytest.mark.usefixtures("catalog")
async def test_an_unknown_genre_is_a_422_listing_the_known_ones(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/schedule", json=day({"genre": "polka", "minutes": 10}))
    assert response.status_code == 422
    [detail] = response.json()["error"]["details"]
    assert detail["field"] == "body.music.0.genre"
    assert "unknown genre 'polka'" in detail["message"] and "rock" in detail["message"]


async def test_genres_need_a_catalog(client: httpx.AsyncClient) -> None:
    response = await client.post("/schedule", json=day({"genre": "rock", "minutes": 10}))
    assert response.status_code == 422
    assert "tempo catalog load" in response.json()["error"]["details"][0]["message"]
