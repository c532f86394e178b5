"""What the browser tests share: headless Chromium, and a real `tempo serve` to point it at.

Chromium is the Debian package at /usr/bin/chromium (`make browser` installs it; CHROMIUM
names another); Playwright drives it and never downloads a browser of its own. The
`browser` fixture in conftest.py launches it once per test module.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, async_playwright

from tests.test_cli import TEMPO, free_port

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--no-first-run",
    "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"  # screenshots
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
