"""The Upload, Leaderboard and Datamart pages in a real headless Chromium against a real
`tempo serve`, with JavaScript off: the pages have none, and need none."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.fixtures.app import TOKEN
from tests.fixtures.browser import assert_accessible, assert_no_machine_path, screenshot
from tests.fixtures.files import Ranking, csv_rows, many_users, write
from tests.fixtures.processes import tempo_serve


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[str]:
    """`tempo serve` on this test's own database, with an empty data directory."""
    env = {"DATA_DIR": str(tmp_path / "data"), "API_TOKEN": TOKEN}
    with tempo_serve(database_url, tmp_path, **env) as base:
        yield base


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(
        java_script_enabled=False, viewport={"width": 1200, "height": 900}
    )
    yield await context.new_page()
    await context.close()


async def table_rows(page: Page, selector: str) -> list[list[str]]:
    """The rows of a table that has some, once the page shows them: the URL changes when a
    navigation commits, before the new page's table is parsed (an empty list, once, in CI)."""
    rows = page.locator(f"{selector} tbody tr")
    await rows.first.wait_for()
    return [(await row.inner_text()).split("\t") for row in await rows.all()]


async def board(page: Page) -> Ranking:
    return [
        (int(rank), int(uid), "" if name == "not in users.csv" else name, int(messages))
        for rank, name, uid, messages in await table_rows(page, "table.ranking")
    ]


async def upload(page: Page, token: str, **files: Path) -> None:
    await page.fill("#token", token)
    for field, path in files.items():
        await page.set_input_files(f"#{field}", path)
    await page.get_by_role("button", name="Upload", exact=True).click()


async def shot(page: Page, name: str, *, readme: bool = False) -> None:
    """The page passes axe-core's checks, then is kept as a screenshot."""
    await assert_accessible(page, name)
    await screenshot(page, name, readme=readme)


async def test_upload_then_page_through_the_leaderboard_and_the_datamart(
    page: Page, server: str, tmp_path: Path
) -> None:
    expected = many_users(tmp_path / "upload", 60)
    await page.goto(server + "/board")
    await expect(page.locator(".empty")).to_contain_text("Nothing has been fed yet")
    await assert_accessible(page, "the empty leaderboard")
    await page.get_by_role("link", name="Upload page").click()
    await expect(page).to_have_title("Upload · Tempo")
    await assert_accessible(page, "the upload form")

    folder = tmp_path / "upload"
    await upload(page, TOKEN, messages=folder / "messages.csv", users=folder / "users.csv")
    await expect(page).to_have_title("Uploaded: Upload · Tempo")
    await expect(page.locator(".ran")).to_contain_text(
        f"gave {len(expected)} ranked users (1 message from user ids missing from users.csv)"
    )
    await shot(page, "upload.png")

    await page.get_by_role("link", name="See the leaderboard").click()
    await expect(page).to_have_url(server + "/board")
    await expect(page.locator("table.ranking caption")).to_have_text("Users 1 to 25 of 61")
    assert await board(page) == expected[:25]
    await assert_no_machine_path(page)
    await shot(page, "leaderboard.png", readme=True)

    pager = page.get_by_role("navigation", name="Pages of the ranking")
    await pager.get_by_role("link", name="Next page").click()
    await expect(page).to_have_url(server + "/board?page=2")
    assert await board(page) == expected[25:50]
    await pager.get_by_role("link", name="Last page").click()
    await expect(page.locator("table.ranking caption")).to_have_text("Users 51 to 61 of 61")
    assert await board(page) == expected[50:]
    await expect(pager.get_by_role("link", name="Next page")).to_have_count(0)
    await pager.get_by_role("link", name="Previous page").click()
    await expect(page).to_have_url(server + "/board?page=2")
    assert await board(page) == expected[25:50]

    # The raw Users table, through the site's links and the pager's.
    await page.get_by_role("navigation", name="Tempo").get_by_role("link", name="Datamart").click()
    await expect(page.locator("table.raw caption")).to_contain_text("Messages: rows 1 to 25 of")
    await assert_accessible(page, "the datamart's Messages table")
    await page.get_by_role("navigation", name="Tables").get_by_role("link", name="Users").click()
    await expect(page).to_have_url(server + "/datamart?table=users")
    users = [[str(n), *row.values()] for n, row in enumerate(csv_rows(folder / "users.csv"), 1)]
    assert await table_rows(page, "table.raw") == users[:25]
    await shot(page, "datamart.png")
    pager = page.get_by_role("navigation", name="Pages of Users")
    await pager.get_by_role("link", name="Next page").click()
    await expect(page).to_have_url(server + "/datamart?table=users&page=2")
    assert await table_rows(page, "table.raw") == users[25:50]
    await pager.get_by_label("Go to page").fill("3")
    await pager.get_by_role("button", name="Go").click()
    await expect(page).to_have_url(server + "/datamart?table=users&page=3")
    assert await table_rows(page, "table.raw") == users[50:]
    await pager.get_by_role("link", name="First page").click()
    assert await table_rows(page, "table.raw") == users[:25]

    # A page past the end, typed into the address bar: a 404 that offers the pages there are.
    response = await page.goto(server + "/board?page=99")
    assert response is not None and response.status == 404
    await expect(page).to_have_title("No such page: Leaderboard · Tempo")
    missing = page.get_by_role("alert")
    await expect(missing).to_contain_text(
        re.compile(r"There is no page 99\.\s+The ranking has\s+[\d,]+ rows on 3 pages\.")
    )
    await expect(page.get_by_text(re.compile(r"Page \S+ of"))).to_have_count(0)
    await shot(page, "leaderboard-404.png")
    await assert_accessible(page, "a page past the end of the ranking")
    await missing.get_by_role("link", name="Go to the last page").click()
    await expect(page).to_have_url(server + "/board?page=3")
    assert await board(page) == expected[50:]
    response = await page.goto(server + "/datamart?table=users&page=0")
    assert response is not None and response.status == 404
    await page.get_by_label("Go to page").fill("2")
    await page.get_by_role("button", name="Go").click()
    await expect(page).to_have_url(server + "/datamart?table=users&page=2")
    assert await table_rows(page, "table.raw") == users[25:50]


async def test_refused_uploads_say_why_and_change_nothing(
    page: Page, server: str, tmp_path: Path
) -> None:
    good = tmp_path / "good"
    expected = many_users(good, 10)
    await page.goto(server + "/upload")
    await upload(page, TOKEN, messages=good / "messages.csv", users=good / "users.csv")
    await expect(page.locator(".ran")).to_be_visible()

    # users.csv left empty: Chromium sends it as a part without a file, which stores nothing.
    bad = write(tmp_path / "bad" / "messages.csv", "message_id,author_id\n1,5\n2,6,7\n3,8\n")
    await upload(page, TOKEN, messages=bad)
    await expect(page).to_have_title("Error: Upload · Tempo")
    summary = page.get_by_role("alert")
    await expect(summary).to_contain_text(
        "messages.csv: malformed CSV: 3 fields where the header has 2 (record ending on line 3)"
    )
    await expect(summary.locator("dl")).to_contain_text("Row2")
    await expect(summary).to_contain_text("Nothing was replaced")
    await expect(page.locator("#messages")).to_have_attribute("aria-invalid", "true")
    await shot(page, "upload-error.png")

    await upload(page, "not-the-token", messages=good / "messages.csv")
    await expect(page.get_by_role("alert")).to_contain_text("That API token is not valid.")
    await assert_accessible(page, "the upload form's 401 page")

    await page.goto(server + "/board")
    assert await board(page) == expected
    await page.goto(server + "/datamart")
    messages = csv_rows(good / "messages.csv")
    await expect(page.locator("table.raw caption")).to_contain_text(
        f"rows 1 to 25 of {len(messages)}"
    )


async def test_the_pages_fit_a_small_phone(browser: Browser, server: str, tmp_path: Path) -> None:
    many_users(tmp_path / "phone", 30)
    files = {
        name: (tmp_path / "phone" / f"{name}.csv").read_bytes() for name in ("messages", "users")
    }
    fed = httpx.post(server + "/uploads", files=files, headers={"Authorization": f"Bearer {TOKEN}"})
    assert fed.status_code == 200 and fed.json()["run"]["status"] == "succeeded", fed.text
    context = await browser.new_context(viewport={"width": 360, "height": 740})
    page = await context.new_page()
    for path, name in (("/upload", "upload-360.png"), ("/board", "leaderboard-360.png"),
                       ("/datamart", "datamart-360.png")):  # fmt: skip
        await page.goto(server + path)
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360, path
        await shot(page, name)
    await context.close()
