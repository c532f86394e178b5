"""/docs (Swagger UI) and /redoc (ReDoc) in a real headless Chromium against a real
`tempo serve`, with every request to anywhere but this machine refused: the pages must work
offline, and must not even try to reach another host."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Route, expect

from tests.fixtures.browser import ARTIFACTS
from tests.fixtures.processes import tempo_serve

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# Every Content-Security-Policy violation the page sees, whether or not it logs it.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@dataclass
class OfflinePage:
    page: Page
    refused: list[str] = field(default_factory=list)  # requests to another host
    errors: list[str] = field(default_factory=list)  # console errors and uncaught ones

    async def csp_violations(self) -> list[str]:
        violations: list[str] = await self.page.evaluate("window.__cspViolations")
        return violations

    async def assert_clean(self) -> None:
        assert self.refused == [], "requests to other hosts were attempted"
        assert await self.csp_violations() == []
        assert self.errors == []


@pytest.fixture(scope="module")
def server(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`tempo serve` with its demo leaderboard, so GET /leaderboard has rows to show; one for
    the module, whose tests only read."""
    folder = tmp_path_factory.mktemp("serve")
    env = {"SEED_DEMO_DATA": "true", "DATA_DIR": str(folder / "data")}
    with tempo_serve(module_database_url, folder, **env) as base:
        yield base


@pytest.fixture
async def offline(browser: Browser) -> AsyncIterator[OfflinePage]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    watched = OfflinePage(page)

    async def local_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOCAL_HOSTS:
            await route.continue_()
        else:
            watched.refused.append(route.request.url)
            await route.abort("internetdisconnected")

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(message.text)

    await context.route("**/*", local_only)
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    page.on("console", console)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    yield watched
    await context.close()


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / name, full_page=True)


async def test_swagger_ui_offline_runs_a_request_against_the_service(
    offline: OfflinePage, server: str
) -> None:
    page = offline.page
    await page.goto(server + "/docs")
    await expect(page).to_have_title("Tempo - Swagger UI")
    # The UI renders once its 1.4 MB bundle has run and fetched the document: seconds on
    # a runner busy with the rest of the suite, which expect's 5 s default does not allow.
    await expect(page.locator(".info .title")).to_contain_text("Tempo", timeout=30_000)
    spec = httpx.get(server + "/openapi.json").json()
    operations = sum(len(methods) for methods in spec["paths"].values())
    await expect(page.locator(".opblock")).to_have_count(operations)

    get_leaderboard = page.locator("#operations-leaderboard-get_leaderboard_leaderboard_get")
    await get_leaderboard.locator(".opblock-summary").click()
    await get_leaderboard.get_by_role("button", name="Try it out").click()
    await get_leaderboard.get_by_role("button", name="Execute").click()

    live = get_leaderboard.locator(".live-responses-table .response")
    await expect(live.locator(".response-col_status")).to_have_text("200")
    request_url = await get_leaderboard.locator(".request-url pre").inner_text()
    assert urlsplit(request_url).netloc == urlsplit(server).netloc
    shown = json.loads(await live.locator(".response-col_description pre").first.inner_text())
    # What Swagger UI shows is what the service answers to that same request.
    expected = httpx.get(request_url).json()
    assert shown == expected
    assert expected["total"] > 0 and len(expected["leaderboard"]) == expected["total"]
    await shot(page, "api-docs-swagger.png")
    await offline.assert_clean()


async def test_redoc_offline_renders_the_api(offline: OfflinePage, server: str) -> None:
    page = offline.page
    await page.goto(server + "/redoc")
    await expect(page).to_have_title("Tempo - ReDoc")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Tempo", timeout=30_000)
    heading = page.get_by_role("heading", level=2, name="The ranked users, most messages first")
    await expect(heading).to_be_visible()
    await shot(page, "api-docs-redoc.png")
    # ReDoc rendered the whole document: a heading for each tag and for each operation.
    spec = httpx.get(server + "/openapi.json").json()
    operations = [op for methods in spec["paths"].values() for op in methods.values()]
    tags = {tag for op in operations for tag in op["tags"]}
    headings = page.locator("h2")
    await expect(headings).to_have_count(len(operations) + len(tags))
    shown = sorted(text.strip() for text in await headings.all_inner_texts())
    assert shown == sorted([op["summary"] for op in operations] + list(tags))
    await offline.assert_clean()
