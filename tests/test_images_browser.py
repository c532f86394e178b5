"""The Classify page in a real headless Chromium against a real `tempo serve`: a digit
uploaded through the form, with and without JavaScript, and a refused file in words."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.fixtures.browser import assert_accessible, assert_no_machine_path, screenshot
from tests.fixtures.processes import tempo_serve

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "digit-3.png"
MODEL_JSON = ROOT / "src" / "tempo" / "images" / "model" / "digits.json"


@pytest.fixture(scope="module")
async def server(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    with tempo_serve(module_database_url, tmp_path_factory.mktemp("serve")) as base:
        yield base


async def test_classify_a_digit_in_a_browser(browser: Browser, server: str) -> None:
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    await page.goto(server + "/")
    await page.get_by_role("link", name="Classify").click()
    await expect(page).to_have_title("Classify · Tempo")
    stated = json.loads(MODEL_JSON.read_text())["accuracy"]["held_out"]
    await expect(page.locator(".lead")).to_contain_text(
        f"{stated:.1%} of the 450".replace("%", " %")
    )
    await assert_accessible(page, "the classify page")

    await page.set_input_files("#image", SAMPLE)
    await page.select_option("#top_k", "3")
    await page.get_by_role("button", name="Classify").click()
    await expect(page).to_have_title("Classified: Classify · Tempo")
    await expect(page.get_by_role("heading", level=2)).to_have_text("The model says: 3")
    rows = page.locator("table.scores tbody tr")
    await expect(rows).to_have_count(3)
    await expect(rows.first).to_contain_text("3")
    # A score as a percentage with one decimal: the sample is a clear 3 (over 90 %).
    await expect(rows.first.locator("td.num")).to_have_text(re.compile(r"^(9\d|100)\.\d %$"))
    bar = await rows.first.locator(".bar").bounding_box()
    cell = await rows.first.locator(".bar-cell").bounding_box()
    assert bar is not None and cell is not None and bar["width"] > 0.9 * (cell["width"] - 20)
    preview = page.locator("figure.preview img")
    assert (await preview.get_attribute("src") or "").startswith("data:image/png;base64,")
    assert await preview.evaluate("i => i.complete && i.naturalWidth === 192")
    await expect(page.locator("figure.preview figcaption")).to_have_text("PNG, 64 × 64 pixels")
    await assert_accessible(page, "the classify page with an answer")
    await assert_no_machine_path(page)
    await screenshot(page, "classify.png", readme=True)
    await context.close()


async def test_without_javascript_and_a_refused_file(
    browser: Browser, server: str, tmp_path: Path
) -> None:
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(server + "/classify")
    text = tmp_path / "notes.png"
    text.write_text("a shopping list, not a picture")
    await page.set_input_files("#image", text)
    await page.get_by_role("button", name="Classify").click()
    await expect(page).to_have_title("Error: Classify · Tempo")
    summary = page.get_by_role("alert")
    await expect(summary).to_contain_text("The image was not classified")
    await expect(summary).to_contain_text(
        "the file is text, not an image; send a PNG, JPEG or WebP image"
    )
    await expect(page.locator("#image")).to_have_attribute("aria-invalid", "true")
    await assert_accessible(page, "the classify page with an error")

    await page.get_by_role("button", name="Classify").click()  # no file chosen
    await expect(summary).to_contain_text("Choose an image file (PNG, JPEG or WebP) to classify.")

    await page.set_input_files("#image", ROOT / "samples" / "digit-7.png")
    await page.get_by_role("button", name="Classify").click()
    await expect(page.get_by_role("heading", level=2)).to_have_text("The model says: 7")
    await expect(page.locator("table.scores tbody tr")).to_have_count(5)  # the default
    await context.close()
