"""The analytics page in a real headless Chromium against a real `tempo serve`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from tempo.analytics.delta import DeltaLocation
from tempo.analytics.etl import load_majors
from tempo.core.db import create_engine
from tests.fixtures.analytics import genre_popularity, majors_csv, read_rows, spotify_csv
from tests.fixtures.browser import assert_accessible, assert_no_machine_path, screenshot
from tests.fixtures.processes import tempo_serve

ALL_IMAGES_LOADED = "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"


@pytest.fixture(scope="module")
async def server(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """`tempo serve` with the real Spotify file and the majors table loaded (versions 0 and
    1 of the real majors file); one for the module's tests that only read it."""
    folder = tmp_path_factory.mktemp("serve")
    engine = create_engine(module_database_url)
    try:
        for _ in range(2):
            await load_majors(engine, DeltaLocation(str(folder / "delta" / "majors")), majors_csv())
    finally:
        await engine.dispose()
    env = {"SPOTIFY_SOURCE": str(spotify_csv()), "DELTA_DIR": str(folder / "delta")}
    with tempo_serve(module_database_url, folder, **env) as base:
        yield base


async def test_the_analytics_page_in_a_browser(browser: Browser, server: str) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto(server + "/")
    await page.get_by_role("link", name="Analytics").click()
    await expect(page).to_have_title("Analytics · Tempo")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Analytics")
    await page.wait_for_load_state("networkidle")
    assert await page.evaluate(ALL_IMAGES_LOADED)

    figures = page.locator("figure.chart")
    await expect(figures).to_have_count(8)
    for figure in await figures.all():
        image = figure.locator("img")
        assert len(await image.get_attribute("alt") or "") > 60
        # The chart and its numbers sit side by side on a wide screen.
        numbers = figure.locator("xpath=following-sibling::div[@role='region']")
        chart_box, table_box = await figure.bounding_box(), await numbers.bounding_box()
        assert chart_box is not None and table_box is not None
        assert table_box["x"] >= chart_box["x"] + chart_box["width"] - 1

    rows = read_rows(spotify_csv())
    per_track = genre_popularity(rows, "track")["pop"]
    genres = page.get_by_role("region", name="Popularity by genre, numbers")
    await expect(genres.locator("tbody tr").first).to_contain_text(f"pop{len(per_track):,}")
    await assert_accessible(page, "the analytics page")
    # The sources are named by file (and table) name, on the page and in the charts.
    await assert_no_machine_path(page)
    await expect(page.locator("#spotify .source strong")).to_have_text(spotify_csv().name)
    await expect(page.locator("#majors .source code")).to_have_text("majors")
    chart = httpx.get(server + "/analytics/spotify/top/chart.svg").text
    assert f"from {spotify_csv().name}" in chart and str(spotify_csv().parent) not in chart
    await screenshot(page, "analytics.png", readme=True)

    # Counting once per playlist: the page asks the server again, no script involved.
    await page.select_option("#per", "playlist")
    await page.locator("#genres").get_by_role("button", name="Show").click()
    await expect(page).to_have_url(f"{server}/analytics?per=playlist#genres")
    per_playlist = genre_popularity(rows, "playlist")["pop"]
    await expect(genres.locator("tbody tr").first).to_contain_text(f"pop{len(per_playlist):,}")

    # An earlier version of the majors table, chosen on the page.
    await page.select_option("#version", "0")
    await page.locator("#majors").get_by_role("button", name="Show").click()
    await expect(page.locator("#majors .source")).to_contain_text("version 0 (the latest is 1)")
    await page.wait_for_load_state("networkidle")
    assert await page.evaluate(ALL_IMAGES_LOADED)
    await context.close()


async def test_the_analytics_page_fits_a_small_phone(browser: Browser, server: str) -> None:
    context = await browser.new_context(viewport={"width": 360, "height": 740})
    page = await context.new_page()
    await page.goto(server + "/analytics")
    await page.wait_for_load_state("networkidle")
    assert await page.evaluate(ALL_IMAGES_LOADED)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    await screenshot(page, "analytics-360.png")
    await context.close()


@pytest.fixture
def bare_server(database_url: str, tmp_path: Path) -> Iterator[str]:
    """`tempo serve` before anything was loaded: no songs file, no majors table."""
    env = {"DELTA_DIR": str(tmp_path / "no-delta-yet")}
    with tempo_serve(database_url, tmp_path, **env) as base:
        yield base


async def test_before_the_first_load_the_page_says_how(browser: Browser, bare_server: str) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    response = await page.goto(bare_server + "/analytics")
    assert response is not None and response.status == 200
    majors = page.locator("#majors")
    await expect(majors.get_by_role("status")).to_contain_text(
        "The college majors have not been loaded yet."
    )
    # The command reads as a command: in a code block of its own, in a monospace font, and
    # never as markup or backticks shown as text.
    command = majors.locator("pre.command > code")
    await expect(command).to_have_text("tempo etl majors")
    font = await command.evaluate("e => getComputedStyle(e).fontFamily")
    assert "monospace" in font
    shown = await majors.inner_text()
    assert "`" not in shown and "<code>" not in shown and "&lt;" not in shown
    await expect(page.locator("figure.chart")).to_have_count(0)
    await screenshot(page, "analytics-not-loaded.png")
    await context.close()
