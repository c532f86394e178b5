"""GET /analytics/…: the answers over HTTP, their charts, and the analytics page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.analytics import majors, spotify
from tempo.analytics.delta import DeltaLocation
from tempo.analytics.etl import load_majors
from tempo.analytics.service import DEMO_LABEL
from tempo.analytics.spotify import read_cached
from tempo.app import create_app
from tempo.catalog.demo import seed_demo_catalog
from tempo.catalog.load import load_catalog
from tempo.core.settings import Settings
from tests.fixtures.analytics import majors_csv, spotify_csv
from tests.fixtures.app import make_settings, running
from tests.fixtures.catalog import song, songs_csv
from tests.fixtures.files import write
from tests.fixtures.html import parse

SMALL_MAJORS = (
    "Rank,Major_code,Major,Major_category,Total,Men,Women,ShareWomen,Median\n"
    "1,1001,ROCKET SCIENCE,Engineering,100,75,25,0.25,90000\n"
    "2,1002,NURSING,Health,50,5,45,0.9,45000\n"
)
SPOTIFY_ROUTES = {
    "/analytics/spotify/top?limit=3": lambda d: spotify.top_tracks(d, 3),
    "/analytics/spotify/genres": lambda d: spotify.genre_stats(d, "track"),
    "/analytics/spotify/genres?per=playlist": lambda d: spotify.genre_stats(d, "playlist"),
    "/analytics/spotify/release-months": spotify.release_months,
    "/analytics/spotify/popularity-histogram?bins=5": lambda d: spotify.popularity_histogram(d, 5),
    "/analytics/spotify/features": spotify.feature_correlations,
}
CHARTS = {
    "/analytics/spotify/top/chart": ("The most popular tracks", "Spotify popularity (0 to 100)"),
    "/analytics/spotify/genres/chart": ("Popularity by playlist genre", "Mean popularity"),
    "/analytics/spotify/release-months/chart": ("Popularity by release month", "Month of the"),
    "/analytics/spotify/popularity-histogram/chart": ("Distribution of popularity", "Tracks"),
    "/analytics/spotify/features/chart": ("Audio features and popularity", "Correlation with"),
    "/analytics/majors/largest/chart": ("STEM majors with the most", "Graduates (people)"),
    "/analytics/majors/by-category/chart": ("Men and women per major category", "Graduates"),
    "/analytics/majors/share-vs-earnings/chart": (
        "Share of women vs median earnings", "Median earnings (USD a year)",
    ),
}  # fmt: skip


@pytest.fixture
def delta_dir(tmp_path: Path) -> Path:
    return tmp_path / "delta"


@pytest.fixture
def settings(database_url: str, data_dir: Path, delta_dir: Path) -> Settings:
    """Analytics on the real Spotify file, the majors table in this test's own folder."""
    return make_settings(
        database_url, data_dir, spotify_source=str(spotify_csv()), delta_dir=str(delta_dir)
    )


@pytest.fixture
async def loaded_majors(engine: AsyncEngine, delta_dir: Path, tmp_path: Path) -> DeltaLocation:
    """Version 0: the real file; version 1: a small hand-made one."""
    location = DeltaLocation(str(delta_dir / "majors"))
    await load_majors(engine, location, majors_csv())
    await load_majors(engine, location, write(tmp_path / "small.csv", SMALL_MAJORS))
    return location


@pytest.fixture
async def unconfigured(
    database_url: str, data_dir: Path, delta_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no SPOTIFY_SOURCE: analyses follow the catalog."""
    settings = make_settings(database_url, data_dir, delta_dir=str(delta_dir))
    async for client in running(create_app(settings)):
        yield client


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


async def test_the_spotify_routes_answer_as_the_analyses_do(client: httpx.AsyncClient) -> None:
    data = read_cached(spotify_csv())
    for url, answer in SPOTIFY_ROUTES.items():
        response = await client.get(url)
        assert response.status_code == 200, (url, response.text)
        assert response.json() == answer(data).model_dump(mode="json"), url
    top = (await client.get("/analytics/spotify/top")).json()
    assert [t["name"] for t in top["tracks"]] == ["Dance Monkey"]
    assert top["dataset"]["source"] == str(spotify_csv())


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/analytics/spotify/genres?per=song", "query.per"),
        ("/analytics/spotify/popularity-histogram?bins=0", "query.bins"),
        ("/analytics/spotify/popularity-histogram?bins=101", "query.bins"),
        ("/analytics/spotify/top?limit=0", "query.limit"),
        ("/analytics/majors/largest?version=-1", "query.version"),
        ("/analytics/spotify/top/chart.gif", "path.fmt"),
    ],
)
async def test_bad_parameters_are_a_422_naming_them(
    client: httpx.AsyncClient, url: str, field: str
) -> None:
    response = await client.get(url)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == field


async def test_every_answer_is_also_a_chart(
    client: httpx.AsyncClient, loaded_majors: DeltaLocation
) -> None:
    for url, (title, axis) in CHARTS.items():
        svg = await client.get(f"{url}.svg")
        assert svg.status_code == 200, (url, svg.text)
        assert svg.headers["content-type"] == "image/svg+xml"
        assert "default-src 'none'" in svg.headers["content-security-policy"]
        body = svg.text
        assert body.lstrip().startswith("<?xml") and "<svg" in body and "<script" not in body
        # Text stays text in the SVG: the title and an axis label can be found in it.
        texts = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", body))
        assert title in texts and axis in texts, (url, texts[:300])

        png = await client.get(f"{url}.png")
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG\r\n\x1a\n")

    again = await client.get("/analytics/spotify/genres/chart.svg")
    assert again.content == (await client.get("/analytics/spotify/genres/chart.svg")).content
    etag = again.headers["etag"]
    cached = await client.get(
        "/analytics/spotify/genres/chart.svg", headers={"If-None-Match": etag}
    )
    assert cached.status_code == 304 and cached.content == b""
    for if_none_match in (f"W/{etag}", f'"stale", W/"x", {etag}', f'W/"x",W/{etag}', "*"):
        weak = await client.get(
            "/analytics/spotify/genres/chart.svg", headers={"If-None-Match": if_none_match}
        )
        assert weak.status_code == 304 and weak.content == b"", if_none_match
        assert weak.headers["etag"] == etag
        assert "default-src 'none'" in weak.headers["content-security-policy"]
    png = await client.get("/analytics/majors/largest/chart.png")
    listed = f'"stale", W/{png.headers["etag"]}'
    revalidated = await client.get(
        "/analytics/majors/largest/chart.png", headers={"If-None-Match": listed}
    )
    assert revalidated.status_code == 304
    stale = await client.get(
        "/analytics/spotify/genres/chart.svg", headers={"If-None-Match": '"stale", W/"x"'}
    )
    assert stale.status_code == 200 and stale.content == again.content
    other = await client.get("/analytics/spotify/genres/chart.svg?per=playlist")
    assert other.headers["etag"] != etag


async def test_the_majors_routes_read_the_delta_table_and_its_versions(
    client: httpx.AsyncClient, loaded_majors: DeltaLocation
) -> None:
    latest = (await client.get("/analytics/majors/largest")).json()
    assert latest == majors.largest(loaded_majors).model_dump(mode="json")
    assert [m["major"] for m in latest["majors"]] == ["ROCKET SCIENCE", "NURSING"]
    assert latest["delta"]["version"] == latest["delta"]["latest_version"] == 1

    old = (await client.get("/analytics/majors/largest", params={"version": 0})).json()
    assert old["majors"][0]["major"] == "BIOLOGY" and old["delta"]["version"] == 0
    categories = (await client.get("/analytics/majors/by-category?version=0")).json()
    assert len(categories["categories"]) == 5
    share = (await client.get("/analytics/majors/share-vs-earnings?version=0")).json()
    assert share["fit"]["n"] == 76
    versions = (await client.get("/analytics/majors/versions")).json()
    assert [v["version"] for v in versions["versions"]] == [1, 0]

    missing = await client.get("/analytics/majors/largest", params={"version": 9})
    assert missing.status_code == 404 and error_code(missing) == "version_not_found"
    assert missing.json()["error"]["details"] == {"versions": [0, 1]}

    table = (await client.get("/analytics/majors")).json()
    assert table["delta_version"] == 1 and table["total"] == 2
    health = (await client.get("/analytics/majors", params={"category": "Health"})).json()
    assert [m["major"] for m in health["majors"]] == ["NURSING"]


MAJORS_ROUTES = ("", "/versions", "/largest", "/by-category", "/share-vs-earnings")


async def test_majors_before_the_first_load(
    unconfigured: httpx.AsyncClient, engine: AsyncEngine, delta_dir: Path, tmp_path: Path
) -> None:
    """Every majors route, the PostgreSQL table and the Delta answers and their charts alike,
    is the documented 404 `not_loaded` in the one error shape until `tempo etl majors` ran."""
    charts = ("/largest/chart.svg", "/by-category/chart.png", "/share-vs-earnings/chart.svg")
    for route in (*MAJORS_ROUTES, "?category=Health", "/largest?version=0", *charts):
        response = await unconfigured.get(f"/analytics/majors{route}")
        assert response.status_code == 404, route
        assert response.headers["content-type"] == "application/json", route
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
        assert body["error"]["code"] == "not_loaded", route
        assert "run `tempo etl majors` first" in body["error"]["message"], route

    # Once loaded, a category no major has is an empty answer, not a table never loaded.
    await load_majors(
        engine, DeltaLocation(str(delta_dir / "majors")), write(tmp_path / "s.csv", SMALL_MAJORS)
    )
    none = await unconfigured.get("/analytics/majors", params={"category": "Arts"})
    assert none.status_code == 200
    assert none.json() == {"delta_version": 0, "total": 0, "majors": []}
    for route in MAJORS_ROUTES:
        assert (await unconfigured.get(f"/analytics/majors{route}")).status_code == 200, route


async def test_the_majors_routes_declare_their_404(unconfigured: httpx.AsyncClient) -> None:
    spec = (await unconfigured.get("/openapi.json")).json()
    for route in MAJORS_ROUTES:
        operation = spec["paths"][f"/analytics/majors{route}"]["get"]
        declared = operation["responses"]["404"]["content"]["application/json"]["schema"]
        assert declared == {"$ref": "#/components/schemas/ErrorResponse"}, route
        assert "404 `not_loaded` before the first load" in operation["description"], route
    error = spec["components"]["schemas"]["ErrorBody"]
    assert set(error["properties"]) == {"code", "message", "details"}


async def test_without_spotify_source_the_catalog_s_file_is_analysed(
    unconfigured: httpx.AsyncClient, engine: AsyncEngine, tmp_path: Path
) -> None:
    nothing = await unconfigured.get("/analytics/spotify/genres")
    assert nothing.status_code == 404 and error_code(nothing) == "no_spotify_data"
    assert "SPOTIFY_SOURCE" in nothing.json()["error"]["message"]

    assert await seed_demo_catalog(engine)
    demo = (await unconfigured.get("/analytics/spotify/top")).json()
    assert demo["dataset"]["source"] == DEMO_LABEL
    assert (demo["dataset"]["rows_read"], demo["dataset"]["tracks"]) == (300, 151)

    path = songs_csv(tmp_path / "mine.csv", [song(track_id="mine", track_popularity="42")])
    await load_catalog(engine, path)
    mine = (await unconfigured.get("/analytics/spotify/top")).json()
    assert mine["dataset"]["source"] == str(path) and mine["tracks"][0]["track_id"] == "mine"

    path.unlink()
    gone = await unconfigured.get("/analytics/spotify/top")
    assert gone.status_code == 404 and str(path) in gone.json()["error"]["message"]


async def test_an_unusable_configured_file_is_a_503(
    database_url: str, data_dir: Path, tmp_path: Path
) -> None:
    broken = write(tmp_path / "broken.csv", "just,some\ncolumns,here\n")
    settings = make_settings(database_url, data_dir, spotify_source=str(broken))
    async for client in running(create_app(settings)):
        response = await client.get("/analytics/spotify/top")
        assert response.status_code == 503 and error_code(response) == "spotify_data_unusable"
        assert "missing column" in response.json()["error"]["message"]


async def test_the_openapi_document_has_the_json_routes_only(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    analytics = sorted(p for p in paths if p.startswith("/analytics"))
    assert analytics == [
        "/analytics/majors", "/analytics/majors/by-category", "/analytics/majors/largest",
        "/analytics/majors/share-vs-earnings", "/analytics/majors/versions",
        "/analytics/spotify/features", "/analytics/spotify/genres",
        "/analytics/spotify/popularity-histogram", "/analytics/spotify/release-months",
        "/analytics/spotify/top",
    ]  # fmt: skip
    genres = paths["/analytics/spotify/genres"]["get"]
    assert "/analytics/spotify/genres/chart.svg" in genres["description"]
    assert "once per playlist" in str(genres["parameters"])


# --- the page -------------------------------------------------------------------------


def images(html: str) -> list[dict[str, str]]:
    return [dict(re.findall(r'(\w+)="([^"]*)"', tag)) for tag in re.findall(r"<img [^>]+>", html)]


async def test_the_page_shows_every_chart_with_its_numbers(
    client: httpx.AsyncClient, loaded_majors: DeltaLocation
) -> None:
    response = await client.get("/analytics")
    assert response.status_code == 200
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    html = response.text
    found = images(html)
    assert len(found) == 8
    for image in found:
        assert image["src"].split("?")[0].removesuffix(".svg") in CHARTS
        assert len(image["alt"]) > 60  # says what the chart shows, not just "chart"
        chart = await client.get(image["src"].replace("&amp;", "&"))
        assert chart.status_code == 200, image["src"]
    assert html.count("<table") == 8 and html.count("<figcaption") == 8
    assert "Dance Monkey" in html and "Rocket Science" in html
    assert "1,656 tracks (1,855 rows)" in html  # year-only dates, left out and counted
    assert 'href="/analytics/spotify/genres?per=track"' in html


async def test_the_page_explains_what_is_missing(
    unconfigured: httpx.AsyncClient,
) -> None:
    html = (await unconfigured.get("/analytics", params={"per": "x", "version": "v2"})).text
    assert "there is no Spotify songs file to analyse" in html
    assert "is not a way to count" in html and "is not a table version" in html
    assert "<img" not in html
    # How to load the majors: the command as code, not as escaped or backticked text.
    majors_section = parse(html).one("section", id="majors")
    assert majors_section.one("pre", class_="command").one("code").text() == "tempo etl majors"
    said = majors_section.one(class_="empty").text()
    assert said.startswith("The college majors have not been loaded yet.")
    assert "`" not in said and "&lt;" not in html and "&amp;lt;" not in html
    # A version asked for before the first load changes nothing.
    again = parse((await unconfigured.get("/analytics", params={"version": "3"})).text)
    assert again.one("section", id="majors").one("pre", class_="command")
    assert again.all(class_="notice", role="alert") == []


def test_backticked_names_in_messages_become_code() -> None:
    from tempo.site.templating import code_spans

    assert code_spans("run `tempo migrate`.") == "run <code>tempo migrate</code>."
    assert code_spans("a <b> & `x<y>`") == "a &lt;b&gt; &amp; <code>x&lt;y&gt;</code>"
    assert code_spans("one ` backtick <i>") == "one ` backtick &lt;i&gt;"


async def test_the_page_on_an_unmigrated_database_shows_the_command(
    empty_database_url: str, data_dir: Path, delta_dir: Path
) -> None:
    settings = make_settings(empty_database_url, data_dir, delta_dir=str(delta_dir))
    async for client in running(create_app(settings)):
        doc = parse((await client.get("/analytics")).text)
        notice = doc.one("section", id="spotify").one(class_="notice")
        assert notice.text() == "The database is not set up: run tempo migrate ."
        assert notice.one("code").text() == "tempo migrate"


async def test_the_page_falls_back_to_the_latest_version(
    client: httpx.AsyncClient, loaded_majors: DeltaLocation
) -> None:
    old = (await client.get("/analytics", params={"version": "0", "per": "playlist"})).text
    assert "version 0 (the latest is 1)" in old and "Biology" in old
    assert "/analytics/majors/largest/chart.svg?version=0" in old
    assert "once per playlist listing it</option>" in old
    unknown = (await client.get("/analytics", params={"version": "9"})).text
    assert "has no version 9" in unknown and "Rocket Science" in unknown


def test_the_documented_examples_are_valid_answers() -> None:
    from pydantic import BaseModel

    from tempo.analytics import schemas

    checked = 0
    for value in vars(schemas).values():
        if isinstance(value, type) and issubclass(value, BaseModel):
            extra = value.model_config.get("json_schema_extra")
            for example in extra.get("examples", []) if isinstance(extra, dict) else []:
                value.model_validate(example)
                checked += 1
    assert checked == 10  # one per JSON answer


async def test_the_page_without_a_database(data_dir: Path, delta_dir: Path) -> None:
    settings = make_settings(
        "postgresql://postgres@127.0.0.1:9/nowhere", data_dir, delta_dir=str(delta_dir)
    )
    async for client in running(create_app(settings)):
        page = await client.get("/analytics")
        assert page.status_code == 200
        assert "cannot be reached right now" in page.text
        api = await client.get("/analytics/spotify/top")
        assert api.status_code == 503 and error_code(api) == "database_unavailable"
