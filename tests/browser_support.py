"""What the browser tests share: headless Chromium, and a real `tempo serve` to point it at.

Chromium is the Debian package at /usr/bin/chromium (`make browser` installs it; CHROMIUM
names another); Playwright drives it and never downloads a browser of its own. The
`browser` fixture in conftest.py launches it once per test module.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, Route, async_playwright

from tests.test_cli import TEMPO, free_port

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
    "--disable-sync",
]  # fmt: skip
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"  # screenshots
# UPDATE_SCREENSHOTS=1 (`make screenshots`) also writes the README's copies here.
README_ASSETS = ROOT / ".github" / "assets"
# axe-core from npm (`make axe`); the checks inject this file, nothing comes from a CDN.
AXE_JS = ROOT / ".tempo" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# Failures a user meets head-on; "minor" and "moderate" findings are reported, not fatal.
AXE_FATAL = ("serious", "critical")
READY_SECONDS = 60


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    # A missing browser is a broken setup, not a reason to pass quietly.
    if not CHROMIUM.exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make browser` installs it")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@contextmanager
def tempo_serve(database_url: str, folder: Path, **env: str) -> Iterator[str]:
    """`tempo serve` on a free port and `database_url`, run in `folder` with these extra
    environment variables; its base URL once /readyz answers 200. Stopped afterwards."""
    port = free_port()
    log_path = folder / "serve.log"
    settings = {
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "development",
        "SEED_DEMO_DATA": "false",
        "LOG_FORMAT": "json",
    }
    environment = os.environ | settings | env
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [TEMPO, "serve", "--host", "127.0.0.1", "--port", str(port)], cwd=folder,
            env=environment, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + READY_SECONDS
            while True:
                assert proc.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "not ready:\n" + log_path.read_text()
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)


async def screenshot(page: Page, name: str, *, readme: bool = False) -> None:
    """A full-page screenshot into test-artifacts/; with UPDATE_SCREENSHOTS=1, a `readme`
    one also replaces the README's copy in .github/assets/."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / name, full_page=True)
    if readme and os.environ.get("UPDATE_SCREENSHOTS") == "1":
        await page.screenshot(path=README_ASSETS / name, full_page=True)


AXE_RUN = """() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(
    v => ({id: v.id, impact: v.impact, help: v.help,
           nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)})))"""


async def assert_accessible(page: Page, where: str = "") -> None:
    """Run axe-core on the page as shown: no violation of impact serious or critical.

    The pages forbid scripts (CSP) and some tests turn JavaScript off, while axe is a
    script: the page's markup as it stands is then shown again, at the same address and
    size, in a context that runs scripts, and checked there."""
    if not AXE_JS.is_file():
        pytest.fail(f"axe-core is not installed at {AXE_JS}: run `make axe`")
    html, url = await page.content(), page.url.split("#")[0]
    browser = page.context.browser
    assert browser is not None
    context = await browser.new_context(bypass_csp=True, viewport=page.viewport_size)
    try:
        shown = await context.new_page()

        async def same_markup(route: Route) -> None:
            await route.fulfill(body=html, content_type="text/html; charset=utf-8")

        await shown.route(url, same_markup)
        await shown.goto(url)
        await shown.add_script_tag(path=AXE_JS)
        violations = await shown.evaluate(AXE_RUN)
    finally:
        await context.close()
    fatal = [v for v in violations if v["impact"] in AXE_FATAL]
    report = "\n".join(
        f"{v['impact']} {v['id']} ({v['help']}):\n    " + "\n    ".join(v["nodes"][:5])
        for v in fatal
    )
    assert not fatal, f"axe-core on {where or url}:\n{report}"


# Two or more segments after a slash that follows no word, scheme or dot: /tmp/x, /work/y.
ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~])/[\w.-]+/[\w./-]+")


async def assert_no_machine_path(page: Page) -> None:
    """The page's text names no file or folder of the machine that serves it."""
    text = await page.inner_text("body")
    assert not ABSOLUTE_PATH.findall(text), ABSOLUTE_PATH.findall(text)
