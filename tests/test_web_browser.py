"""The "Plan your day" page in a real headless Chromium against a real `tempo serve`."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tempo.catalog.demo import DEMO_TRACKS, seed_demo_catalog
from tempo.core.db import create_engine
from tests.fixtures.browser import assert_accessible, assert_no_machine_path, screenshot
from tests.fixtures.processes import tempo_serve


@pytest.fixture(scope="module")
async def server(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """`tempo serve` with the demo catalog loaded, one for the module: the planner stores
    nothing, so what one test does leaves nothing for another to see."""
    engine = create_engine(module_database_url)
    try:
        assert await seed_demo_catalog(engine)
    finally:
        await engine.dispose()
    with tempo_serve(module_database_url, tmp_path_factory.mktemp("serve")) as base:
        yield base


def clock(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def dance_monkey_seconds() -> int:
    """What "Dance Monkey - Tones and I" names: the exact title, the most popular first."""
    with DEMO_TRACKS.open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["track_name"] == "Dance Monkey"]
    best = min(rows, key=lambda r: (-int(r["track_popularity"]), r["track_id"]))
    return round(int(best["duration_ms"]) / 1000)


async def fill_day(page: Page) -> None:
    await page.fill("#date", "2026-11-23")
    await page.fill("#day_start", "08:00")
    await page.fill("#day_end", "13:00")
    await page.fill("#appointments-0-title", "Dentist")
    await page.fill("#appointments-0-start", "08:00")
    await page.fill("#appointments-0-end", "09:00")
    await page.fill("#todos-0-title", "Send the invoices")
    await page.fill("#todos-0-duration", "30")
    await page.fill("#todos-0-earliest", "10:00")
    await page.select_option("#music-0-kind", "inline")
    await page.fill("#music-0-what", "Morning tune - The Band")
    await page.fill("#music-0-length", "3:30")
    await page.fill("#music-1-what", "Dance Monkey - Tones and I")


async def test_plan_a_day_in_a_browser(browser: Browser, server: str) -> None:
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    await page.goto(server + "/")
    await expect(page).to_have_title("Plan your day · Tempo")
    await assert_accessible(page, "the empty planner")
    await fill_day(page)
    await page.get_by_role("button", name="Plan my day").click()
    await expect(page.locator("#plan")).to_be_visible()

    # From the rules, not from the page: the appointment holds 08:00–09:00, so the first
    # song starts at 09:00 and the second follows it back to back; the to-do waits for
    # 10:00, its earliest start.
    first_start = 9 * 3600
    first_end = first_start + 3 * 60 + 30
    song = dance_monkey_seconds()
    second_end = first_end + song
    rows = page.locator("table.timeline tbody tr")
    texts = [" | ".join((await row.inner_text()).split("\t")) for row in await rows.all()]
    assert texts == [
        "08:00 | 09:00 | 1 h | Appointment | Dentist",
        f"{clock(first_start)} | {clock(first_end)} | 3 min 30 s | Music | Morning tune — The Band",
        f"{clock(first_end)} | {clock(second_end)} | {song // 60} min {song % 60} s | Music | "
        "Dance Monkey — Tones and I",
        f"{clock(second_end)} | 10:00 | {(10 * 3600 - second_end) // 60} min "
        f"{(10 * 3600 - second_end) % 60} s | Free | ",
        "10:00 | 10:30 | 30 min | To-do | Send the invoices",
        "10:30 | 13:00 | 2 h 30 min | Free | ",
    ]

    # The day view draws the two songs as one playlist at 09:00: a fifth of the way down
    # the five-hour window.
    playlist = page.locator(".blocks li.music")
    await expect(playlist).to_have_count(1)
    await expect(playlist.locator(".when")).to_have_text(
        f"{clock(first_start)}–{clock(second_end)}"
    )
    await expect(playlist.locator(".what")).to_have_text("2 songs: Morning tune, Dance Monkey")
    view = await page.locator(".dayview").bounding_box()
    block = await playlist.bounding_box()
    assert view is not None and block is not None
    assert abs((block["y"] - view["y"]) - view["height"] / 5) < 1.5
    # Seven minutes are drawn as seven minutes; the text too long for them sits beside.
    minutes = (second_end - first_start) / 60
    assert abs(block["height"] - view["height"] * minutes / 300) < 1.5
    side = page.locator(".side-label.music")
    await expect(side).to_be_visible()
    await expect(side).to_contain_text("2 songs: Morning tune, Dance Monkey")

    await assert_accessible(page, "the planner with a plan")
    await assert_no_machine_path(page)
    await screenshot(page, "plan-your-day.png", readme=True)

    # The calendar file holds the same plan.
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download .ics").click()
    download = await download_info.value
    assert download.suggested_filename == "tempo-2026-11-23.ics"
    ics = Path(await download.path()).read_text()
    assert "DTSTART:20261123T090000" in ics and "SUMMARY:♪ Morning tune — The Band" in ics
    await context.close()


async def test_the_page_works_without_javascript(browser: Browser, server: str) -> None:
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(server + "/")
    await page.fill("#appointments-0-title", "Dentist")
    await page.get_by_role("button", name="Add an appointment row").click()
    await expect(page.locator("#appointments-3-title")).to_be_visible()
    await expect(page.locator("#appointments-0-title")).to_have_value("Dentist")
    assert page.url.endswith("/#appointments")

    # Enter in the search box searches; adding a result fills the first empty song row.
    await page.fill("#q", "tones and i")
    await page.press("#q", "Enter")
    # The demo catalog has Dance Monkey by Tones and I twice: the single and the album
    # track. The album and year tell them apart, in the table and in each button's name.
    results = page.get_by_role("region", name="Search results")
    rows = results.locator("tbody tr").filter(has_text="Dance Monkey")
    await expect(rows).to_have_count(2)
    assert sorted([(await row.inner_text()).split("\t")[2:4] for row in await rows.all()]) == [
        ["Dance Monkey (Stripped Back) / Dance Monkey", "2019"],
        ["The Kids Are Coming", "2019"],
    ]
    await screenshot(page, "catalog-search.png")
    album = "The Kids Are Coming, 2019"
    add = page.get_by_role("button", name=f"Add Dance Monkey ({album}) to my songs")
    await expect(add).to_have_count(1)
    await assert_accessible(page, "the planner with search results")
    await add.click()
    await expect(page.locator("#music-0-kind")).to_have_value("track")
    await expect(page.locator("#music-0-what")).to_have_value("5ZULALImTm80tzUbYQYM9d")
    await expect(page.locator("#music-0-what-hint")).to_contain_text(
        f"Dance Monkey — Tones and I ({album};"
    )

    # A mistake comes back on the page, tied to its input, with everything kept.
    await page.fill("#appointments-0-start", "10:00")
    await page.fill("#appointments-0-end", "09:00")
    await page.get_by_role("button", name="Plan my day").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "Appointment 1, end: End (09:00) must be after start (10:00)"
    )
    end = page.locator("#appointments-0-end")
    await expect(end).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#appointments-0-end-error")).to_be_visible()
    await expect(page.locator("#music-0-what")).not_to_have_value("")
    await assert_accessible(page, "the planner with an error")

    await page.fill("#appointments-0-end", "11:00")
    await page.get_by_role("button", name="Plan my day").click()
    await expect(page.locator("table.timeline")).to_contain_text("Dance Monkey — Tones and I")
    await expect(page.locator("table.timeline")).to_contain_text("Dentist")
    await context.close()


async def test_the_page_fits_a_small_phone(browser: Browser, server: str) -> None:
    context = await browser.new_context(viewport={"width": 360, "height": 740})
    page = await context.new_page()
    await page.goto(server + "/")
    await fill_day(page)
    await page.get_by_role("button", name="Plan my day").click()
    await expect(page.locator("#plan")).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    await screenshot(page, "plan-your-day-360.png")
    await context.close()


SHORT_DAY = {
    "#date": "2026-11-24", "#day_start": "09:00", "#day_end": "11:00",
    "#appointments-0-title": "Stand-up", "#appointments-0-start": "09:00",
    "#appointments-0-end": "09:05",
    "#appointments-1-title": "Call Sam", "#appointments-1-start": "09:08",
    "#appointments-1-end": "09:15",
    "#appointments-2-title": "Sign the forms", "#appointments-2-start": "09:17",
    "#appointments-2-end": "09:25",
    "#todos-0-title": "Water the plants", "#todos-0-duration": "5", "#todos-0-earliest": "09:25",
    "#todos-1-title": "Reply to Kim", "#todos-1-duration": "10", "#todos-1-earliest": "09:30",
    "#todos-2-title": "Pay the bill", "#todos-2-duration": "6", "#todos-2-earliest": "09:45",
    "#music-0-what": "Short one - Band", "#music-0-length": "2:30",
    "#music-1-what": "Tiny tune - Band", "#music-1-length": "0:50",
}  # fmt: skip


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    """Two boxes share more than a hair (sub-pixel rounding) of area."""
    across = min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"])
    down = min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"])
    return across > 0.5 and down > 0.5


@pytest.mark.parametrize("width", [1100, 360])
async def test_every_item_of_the_day_view_is_labelled_and_no_labels_overlap(
    browser: Browser, server: str, width: int
) -> None:
    context = await browser.new_context(viewport={"width": width, "height": 900})
    page = await context.new_page()
    await page.goto(server + "/")
    for selector, value in SHORT_DAY.items():
        await page.fill(selector, value)
    for row in (0, 1):
        await page.select_option(f"#music-{row}-kind", "inline")
    await page.get_by_role("button", name="Plan my day").click()
    await expect(page.locator("#plan")).to_be_visible()
    rows = await page.locator("table.timeline tbody tr").count()
    assert rows >= 12  # six 5–10 minute items, two songs, and the short gaps between them

    blocks = await page.locator(".blocks li.block").all()
    side = await page.locator(".side-labels .side-label").all()
    short = [b for b in blocks if "xs" in (await b.get_attribute("class") or "")]
    assert len(short) >= 6 and len(side) == len(short)
    side_for = dict(zip(short, side, strict=True))
    boxes = []
    for block in blocks:
        inline = block.locator(".label")
        # The block's text, read out by screen readers, is what the visible label shows.
        text = " ".join((await inline.text_content() or "").split())
        label = side_for.get(block, inline)
        await expect(label).to_be_visible()
        shown = " ".join((await label.inner_text()).split())
        assert shown and shown.replace("♪ ", "") == text, (shown, text)
        when = await block.locator(".when").text_content() or ""
        assert when and when in (await block.get_attribute("title") or "")  # a tooltip too
        box = await label.bounding_box()
        assert box is not None and box["height"] >= 12 and box["width"] >= 40, (text, box)
        if block not in side_for:
            outline = await block.bounding_box()
            assert outline is not None
            assert outline["y"] - 0.5 <= box["y"] and box["y"] + box["height"] <= (
                outline["y"] + outline["height"] + 0.5
            ), f"{text}: its label runs out of its block"
        boxes.append((text, box))
    clashes = [
        (a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1 :]
        if overlap(box_a, box_b)
    ]  # fmt: skip
    assert not clashes
    await assert_accessible(page, f"a day of short items, {width} px wide")
    await screenshot(page, f"plan-short-items-{width}.png")
    await context.close()


async def focused_id(page: Page) -> str:
    return str(await page.evaluate("document.activeElement ? document.activeElement.id : ''"))


async def tab_to(page: Page, target: str | Locator) -> None:
    """Move the focus with Tab (forwards) or Shift+Tab (backwards) until it is on the
    target (an element id, or a locator), as someone without a mouse would. A time input
    takes one Tab per part (hours, minutes, AM/PM)."""
    element = page.locator(f"#{target}") if isinstance(target, str) else target
    before = await element.evaluate(
        "t => { const a = document.activeElement;"
        " return !!a && a !== document.body && !!(t.compareDocumentPosition(a) & 4) }"
    )  # the target comes before the focus: go back
    key = "Shift+Tab" if before else "Tab"
    for _ in range(120):
        if await element.evaluate("t => t === document.activeElement"):
            return
        await page.keyboard.press(key)
    pytest.fail(f"{key} never reached {target}; the focus is on #{await focused_id(page)}")


async def test_the_planner_works_with_the_keyboard_alone(browser: Browser, server: str) -> None:
    # Chromium's time inputs have three parts here, whatever the locale: hours, minutes
    # and AM/PM, so "0930A" types 09:30.
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    await page.goto(server + "/")

    # The first Tab reaches the skip link; Enter on it moves the focus to the page itself.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to main content"
    await page.keyboard.press("Enter")
    assert await focused_id(page) == "main"
    await page.keyboard.press("Tab")
    assert await focused_id(page) == "date"
    # Focus is visible: the :focus-visible outline, 3px wide.
    outline = await page.evaluate(
        "(() => { const a = document.activeElement, s = getComputedStyle(a);"
        " return [a.matches(':focus-visible'), s.outlineStyle, s.outlineWidth] })()"
    )
    assert outline == [True, "solid", "3px"]

    # An "add row" button is reached with Tab and pressed with Space; the new row keeps
    # every value typed so far.
    await tab_to(page, "appointments-0-title")
    await page.keyboard.type("Dentist")
    await tab_to(page, "appointments-0-start")
    await page.keyboard.type("0930A")
    await tab_to(page, "appointments-0-end")
    await page.keyboard.type("1015A")
    await tab_to(page, page.get_by_role("button", name="Add an appointment row"))
    await page.keyboard.press("Space")
    await expect(page.locator("#appointments-3-title")).to_be_visible()
    await expect(page.locator("#appointments-0-title")).to_have_value("Dentist")
    await expect(page.locator("#appointments-0-end")).to_have_value("10:15")

    await tab_to(page, "appointments-3-title")
    await page.keyboard.type("Call the bank")
    await tab_to(page, "appointments-3-start")
    await page.keyboard.type("1100A")
    await tab_to(page, "appointments-3-end")
    await page.keyboard.type("1110A")
    await tab_to(page, "appointments-3-title")  # back with Shift+Tab: nothing changes
    await expect(page.locator("#appointments-3-start")).to_have_value("11:00")
    await tab_to(page, "todos-0-title")
    await page.keyboard.type("Write the report")
    await tab_to(page, "todos-0-duration")
    await page.keyboard.type("45")
    await tab_to(page, "music-0-kind")
    await page.keyboard.type("My own")  # typing picks the option that starts with it
    await expect(page.locator("#music-0-kind")).to_have_value("inline")
    await tab_to(page, "music-0-what")
    await page.keyboard.type("Keyboard song - The Typists")
    await tab_to(page, "music-0-length")
    await page.keyboard.type("4:05")

    await tab_to(page, page.get_by_role("button", name="Plan my day"))
    await page.keyboard.press("Enter")
    await expect(page.locator("#plan")).to_be_visible()
    # The day runs 07:00–23:00 by default: the to-do takes its start, the song the first
    # free moment after it, and the appointments keep their times.
    rows = page.locator("table.timeline tbody tr:not(.free)")
    starts = await rows.locator("th").all_inner_texts()
    whats = await rows.locator("td:nth-child(5)").all_inner_texts()
    assert list(zip(starts, whats, strict=True)) == [
        ("07:00", "Write the report"),
        ("07:45", "Keyboard song — The Typists"),
        ("09:30", "Dentist"),
        ("11:00", "Call the bank"),
    ]
    await context.close()


SAMPLE_CALENDAR = Path(__file__).resolve().parents[1] / "samples" / "day.ics"


async def test_plan_a_day_around_an_imported_calendar(browser: Browser, server: str) -> None:
    context = await browser.new_context(
        viewport={"width": 1100, "height": 900}, timezone_id="America/New_York"
    )
    page = await context.new_page()
    await page.goto(server + "/")
    # An empty time zone field takes the browser's zone (the page's one script).
    await expect(page.locator("#timezone")).to_have_value("America/New_York")
    await page.fill("#timezone", "Europe/Paris")
    await page.fill("#date", "2026-11-23")
    await page.fill("#day_start", "08:00")
    await page.fill("#day_end", "19:00")
    await page.set_input_files("#calendar_file", SAMPLE_CALENDAR)
    await page.fill("#todos-0-title", "Write the report")
    await page.fill("#todos-0-duration", "90")
    await page.get_by_role("button", name="Plan my day").click()
    await expect(page.locator("#plan")).to_be_visible()
    await expect(page.locator("#plan-title")).to_contain_text("(Europe/Paris)")

    # The calendar's events where the sample has them in Paris time (the client call is
    # 14:00 UTC), the cancelled dentist gone, yoga optional; the to-do in the first gap
    # long enough for it.
    expected = [
        "08:00 | 09:00 | 1 h | Free | ",
        "09:00 | 09:15 | 15 min | Calendar | Stand-up",
        "09:15 | 10:45 | 1 h 30 min | To-do | Write the report",
        "10:45 | 12:15 | 1 h 30 min | Free | ",
        "12:15 | 13:15 | 1 h | Calendar | Team lunch",
        "13:15 | 15:00 | 1 h 45 min | Free | ",
        "15:00 | 16:00 | 1 h | Calendar | Client call",
        "16:00 | 17:30 | 1 h 30 min | Free | ",
        "17:30 | 18:30 | 1 h | Calendar | Yoga (optional)",
        "18:30 | 19:00 | 30 min | Free | ",
    ]

    async def timeline() -> list[str]:
        rows = page.locator("table.timeline tbody tr")
        return [" | ".join((await row.inner_text()).split("\t")) for row in await rows.all()]

    assert await timeline() == expected
    await expect(page.locator("ul.all-day li")).to_have_text(["Mum's birthday"])
    await expect(page.locator(".blocks li.appointment")).to_have_count(4)
    lunch = page.locator(".blocks li.appointment", has_text="Team lunch")
    await expect(lunch.locator(".kind")).to_have_text("Calendar")
    await assert_accessible(page, "the planner with an imported calendar")
    await screenshot(page, "plan-with-calendar.png", readme=True)

    # The calendar stays imported when the page is shown again (a row added), and plans
    # the same day.
    await page.get_by_role("button", name="Add a to-do row").click()
    await expect(page.get_by_role("status").filter(has_text="Imported: day.ics")).to_be_visible()
    await page.get_by_role("button", name="Plan my day").click()
    assert await timeline() == expected
    await page.get_by_role("button", name="Remove the calendar").click()
    await page.get_by_role("button", name="Plan my day").click()
    assert "Stand-up" not in " ".join(await timeline())
    await context.close()
