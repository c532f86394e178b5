"""GET /tracks and the catalog service the planner uses, on a hand-made catalog."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from tempo.catalog import repository
from tempo.catalog.load import load_catalog
from tests.fixtures.catalog import song, songs_csv

CATALOG = [
    song(track_id="cel", track_name="Celébrate", track_artist="Miki Núñez",
         track_popularity="57", playlist_genre="latin"),
    song(track_id="dmA", track_name="Dance Monkey", track_artist="Tones and I",
         track_popularity="92", playlist_genre="pop", duration_ms="209438"),
    song(track_id="dmA", playlist_genre="r&b", playlist_subgenre="hip pop"),
    song(track_id="dmB", track_name="Dance Monkey - Stripped Back", track_artist="Tones and I",
         track_popularity="95", playlist_genre="pop"),
    song(track_id="dmC", track_name="Dance Monkey", track_artist="Kidz Bop Kids",
         track_popularity="40", playlist_genre="pop"),
    song(track_id="mem1", track_name="Memories - Dillon Francis Remix", track_artist="Maroon 5",
         track_popularity="67", playlist_genre="edm"),
    song(track_id="mem2", track_name="Memories", track_artist="Maroon 5",
         track_popularity="98", playlist_genre="pop"),
    song(track_id="tieB", track_name="Same Title", track_artist="X", track_popularity="50",
         playlist_genre="rock"),
    song(track_id="tieA", track_name="Same Title", track_artist="Y", track_popularity="50",
         playlist_genre="rock"),
    song(track_id="pct", track_name="100% Pure Love", track_artist="Crystal Waters",
         track_popularity="30", playlist_genre="edm"),
    song(track_id="und", track_name="snake_case", track_artist="Under Score",
         track_popularity="10", playlist_genre="rock"),
    song(track_id="nan", track_name="NA", track_artist="NA", track_popularity="5",
         playlist_genre="rock"),
]  # fmt: skip
BY_POPULARITY = ["mem2", "dmB", "dmA", "mem1", "cel", "tieA", "tieB", "dmC", "pct", "und", "nan"]


@pytest.fixture
async def catalog(engine: AsyncEngine, tmp_path: Path) -> AsyncEngine:
    await load_catalog(engine, songs_csv(tmp_path / "catalog.csv", CATALOG))
    return engine


async def ids(client: httpx.AsyncClient, **params: object) -> list[str]:
    response = await client.get("/tracks", params=params)
    assert response.status_code == 200, response.text
    return [t["track_id"] for t in response.json()["tracks"]]


async def test_an_empty_catalog(client: httpx.AsyncClient) -> None:
    response = await client.get("/tracks")
    assert response.status_code == 200
    assert response.json() == {"tracks": [], "total": 0}


@pytest.mark.usefixtures("catalog")
async def test_everything_most_popular_first_then_by_track_id(client: httpx.AsyncClient) -> None:
    body = (await client.get("/tracks")).json()
    assert [t["track_id"] for t in body["tracks"]] == BY_POPULARITY
    assert body["total"] == len(BY_POPULARITY)
    dance_monkey = next(t for t in body["tracks"] if t["track_id"] == "dmA")
    assert dance_monkey["name"] == "Dance Monkey" and dance_monkey["duration_ms"] == 209438
    assert dance_monkey["genres"] == ["pop", "r&b"] and dance_monkey["subgenres"] == [
        "dance pop", "hip pop",
    ]  # fmt: skip
    assert dance_monkey["release_date"] == "2019-06-14"
    assert dance_monkey["release_precision"] == "day" and dance_monkey["key"] == 6
    assert "search_text" not in dance_monkey
    nameless = next(t for t in body["tracks"] if t["track_id"] == "nan")
    assert nameless["name"] is None and nameless["artist"] is None


@pytest.mark.usefixtures("catalog")
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("celebrate", ["cel"]),
        ("CELÉBRATE", ["cel"]),
        ("nunez", ["cel"]),
        ("  MIKI   núñez ", ["cel"]),
        ("dance monkey", ["dmB", "dmA", "dmC"]),
        ("monkey DANCE", ["dmB", "dmA", "dmC"]),
        ("tones monkey", ["dmB", "dmA"]),
        ("maroon", ["mem2", "mem1"]),
        ("same title", ["tieA", "tieB"]),
        ("%", ["pct"]),
        ("100%", ["pct"]),
        ("_", ["und"]),
        ("e_c", ["und"]),
        ("nothing like this", []),
        ("", BY_POPULARITY),
        ("   ", BY_POPULARITY),
    ],
)
async def test_text_search_ignores_case_accents_and_word_order(
    client: httpx.AsyncClient, q: str, expected: list[str]
) -> None:
    response = await client.get("/tracks", params={"q": q})
    assert [t["track_id"] for t in response.json()["tracks"]] == expected
    assert response.json()["total"] == len(expected)


@pytest.mark.usefixtures("catalog")
async def test_genre_filter_alone_and_with_text(client: httpx.AsyncClient) -> None:
    assert await ids(client, genre="pop") == ["mem2", "dmB", "dmA", "dmC"]
    assert await ids(client, genre=" POP ") == ["mem2", "dmB", "dmA", "dmC"]
    assert await ids(client, genre="r&b") == ["dmA"]
    assert await ids(client, genre="pop", q="kidz") == ["dmC"]
    assert await ids(client, genre="edm", q="memories") == ["mem1"]


@pytest.mark.usefixtures("catalog")
async def test_an_unknown_genre_is_a_422_listing_the_known_ones(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/tracks", params={"genre": "jazz"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and "query.genre" in error["message"]
    assert error["message"].endswith(
        "unknown genre 'jazz'; known genres: edm, latin, pop, r&b, rock"
    )
    detail = error["details"][0]
    assert detail["field"] == "query.genre" and detail["type"] == "unknown_genre"
    assert detail["known_genres"] == ["edm", "latin", "pop", "r&b", "rock"]


async def test_every_genre_is_unknown_in_an_empty_catalog(client: httpx.AsyncClient) -> None:
    response = await client.get("/tracks", params={"genre": "pop"})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["known_genres"] == []
    assert "the catalog is empty" in response.json()["error"]["message"]


@pytest.mark.usefixtures("catalog")
async def test_blank_and_impossible_filters(client: httpx.AsyncClient) -> None:
    assert await ids(client, genre="") == BY_POPULARITY
    assert await ids(client, genre="  ", q="celebrate") == ["cel"]
    # A NUL byte (which PostgreSQL text cannot hold) in any query parameter is refused.
    for params in ({"q": "dance\x00"}, {"genre": "pop\x00"}):
        nul = await client.get("/tracks", params=params)
        assert nul.status_code == 422 and nul.json()["error"]["code"] == "invalid_request"


@pytest.mark.usefixtures("catalog")
async def test_limit_and_offset_page_through(client: httpx.AsyncClient) -> None:
    pages = [await ids(client, limit=4, offset=offset) for offset in (0, 4, 8, 12)]
    assert pages[0] + pages[1] + pages[2] == BY_POPULARITY and pages[3] == []
    page = (await client.get("/tracks", params={"limit": 2, "offset": 1, "q": "dance"})).json()
    assert [t["track_id"] for t in page["tracks"]] == ["dmA", "dmC"] and page["total"] == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "query.limit"), ({"limit": 101}, "query.limit"),
     ({"offset": -1}, "query.offset"), ({"limit": "ten"}, "query.limit"),
     ({"q": "x" * 201}, "query.q")],
)  # fmt: skip
async def test_bad_parameters_are_a_422_naming_the_field(
    client: httpx.AsyncClient, params: dict[str, object], field: str
) -> None:
    response = await client.get("/tracks", params=params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["details"][0]["field"] == field


async def test_tracks_is_documented(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/tracks"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"q", "genre", "limit", "offset"}
    example = spec["components"]["schemas"]["TrackPage"]["examples"][0]
    assert example["tracks"][0]["name"] == "Dance Monkey"
    # What tells apart tracks of one title and artist is in the documented answer.
    track = spec["components"]["schemas"]["TrackOut"]
    assert {"album_name", "release_date", "release_precision"} <= set(track["required"])
    assert "same title and artist" in track["properties"]["album_name"]["description"]
    assert track["properties"]["release_date"]["anyOf"][0] == {"type": "string", "format": "date"}


# --- the service functions the day planner calls ------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dance Monkey", "dmA"),  # the exact title, though dmB is more popular
        ("dance monkey", "dmA"),
        ("Dance Monkey - Tones and I", "dmA"),
        ("Dance Monkey – Tones and I", "dmA"),  # en dash
        ("Dance Monkey — tones", "dmA"),  # em dash, part of the artist
        ("Dance Monkey - Kidz Bop", "dmC"),
        ("Stripped Back", "dmB"),  # only a part of a title
        ("Dance Monkey - Stripped Back", "dmB"),  # a title holding the separator
        ("Memories - Dillon Francis Remix", "mem1"),
        ("Memories - Dillon Francis Remix - Maroon 5", "mem1"),
        ("Memories", "mem2"),
        ("memories – maroon 5", "mem2"),
        ("celebrate", "cel"),
        ("CELÉBRATE - nuñez", "cel"),
        ("Same Title", "tieA"),  # equal popularity: the smaller track_id
        ("100% pure", "pct"),
        ("Dance Monkey - Nobody", None),
        ("no such song", None),
        ("", None),
        (" - ", None),
        ("Dance\x00Monkey", None),
    ],
)
async def test_match_track(catalog: AsyncEngine, text: str, expected: str | None) -> None:
    async with AsyncSession(catalog) as session:
        found = await repository.match_track(session, text)
    assert (found.track_id if found else None) == expected


async def test_tracks_by_id_for_genre_and_known_genres(catalog: AsyncEngine) -> None:
    async with AsyncSession(catalog) as session:
        found = await repository.tracks_by_id(session, ["dmA", "nope", "cel", "dmA"])
        assert set(found) == {"dmA", "cel"}
        assert found["dmA"] == repository.TrackInfo(
            track_id="dmA", name="Dance Monkey", artist="Tones and I", duration_ms=209438,
            popularity=92, genres=("pop", "r&b"), album_name="Album",
            release_date=date(2019, 6, 14),
        )  # fmt: skip
        assert await repository.tracks_by_id(session, []) == {}
        pop = await repository.tracks_for_genre(session, "Pop")
        assert [t.track_id for t in pop] == ["mem2", "dmB", "dmA", "dmC"]
        assert [t.track_id for t in await repository.tracks_for_genre(session, "pop", 2)] == [
            "mem2", "dmB",
        ]  # fmt: skip
        assert await repository.tracks_for_genre(session, "jazz") == []
        assert await repository.known_genres(session) == ["edm", "latin", "pop", "r&b", "rock"]
        tracks, total = await repository.search(session, "dance", "pop", 2, 0)
        assert [t.track_id for t in tracks] == ["dmB", "dmA"] and total == 3
