"""Fixtures: a real PostgreSQL (DATABASE_URL, else the embedded one), one database per test.

Every test that touches the database gets its own database, copied from a template that
was migrated once per session, so tests are isolated without mocking transactions.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.app import create_app
from tempo.bundled import BUNDLED_DIR
from tempo.core.db import asyncpg_dsn, create_engine, migrate, normalize_url
from tempo.core.embedded import embedded_database_url
from tempo.core.settings import Settings
from tests.s3_server import S3Server, seaweedfs

if TYPE_CHECKING:
    from playwright.async_api import Browser

SAMPLE_DIR = BUNDLED_DIR  # Tempo's leaderboard sample: messages.csv and users.csv
TOKEN = "test-token-0123456789abcdef"
__all__ = ["asyncpg_dsn"]  # tests import it from here


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    configured = os.environ.get("DATABASE_URL")
    if configured:
        return normalize_url(configured)
    return embedded_database_url(tmp_path_factory.mktemp("embedded-postgres"))


async def _admin(server_url: str, sql: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def template_database(server_url: str) -> AsyncIterator[str]:
    name = f"tempo_template_{uuid.uuid4().hex[:12]}"
    await _admin(server_url, f'CREATE DATABASE "{name}"')
    engine = create_engine(with_database(server_url, name))
    await migrate(engine)
    await engine.dispose()
    yield name
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _fresh_database(server_url: str, template: str | None) -> str:
    name = f"tempo_test_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    await _admin(server_url, f'CREATE DATABASE "{name}"{clause}')
    return name


@pytest.fixture
async def database_url(server_url: str, template_database: str) -> AsyncIterator[str]:
    """A migrated database of this test's own."""
    name = await _fresh_database(server_url, template_database)
    yield with_database(server_url, name)
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def empty_database_url(server_url: str) -> AsyncIterator[str]:
    """A database of this test's own that was never migrated."""
    name = await _fresh_database(server_url, None)
    yield with_database(server_url, name)
    await _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "production",
        "database_url": database_url,
        "api_token": TOKEN,
        "data_dir": data_dir,
        "log_format": "json",
        "seed_demo_data": False,
    } | overrides
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def settings(database_url: str, data_dir: Path) -> Settings:
    return make_settings(database_url, data_dir)


async def running(
    app: FastAPI, raise_app_exceptions: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app` with its lifespan running; `raise_app_exceptions=False` answers an
    exception the way a server does, with the 500 the app sent before re-raising it."""
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url="http://tempo.test") as client:
            yield client


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in running(create_app(settings)):
        yield c


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def sample_dir(tmp_path: Path) -> Iterator[Path]:
    """A private copy of the leaderboard sample: messages.csv and users.csv."""
    target = tmp_path / "sample"
    target.mkdir()
    for name in ("messages.csv", "users.csv"):
        shutil.copyfile(SAMPLE_DIR / name, target / name)
    yield target


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS on 127.0.0.1, started on first use and stopped at the end of the session."""
    with seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture
def s3_settings(s3_server: S3Server, database_url: str, data_dir: Path) -> Settings:
    """Object storage on, with raw and result buckets of this test's own."""
    return make_settings(database_url, data_dir, **s3_server.settings())


@pytest.fixture
async def s3_client(s3_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in running(create_app(s3_settings)):
        yield c


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    """Headless Chromium for a module of browser tests (see tests/browser_support.py)."""
    from tests.browser_support import chromium  # Playwright only where a test needs it

    async with chromium() as launched:
        yield launched
