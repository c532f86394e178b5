"""Database plumbing: where the database is, the async engine, and migrations."""

from __future__ import annotations

import io
from collections.abc import Sequence
from enum import IntEnum, unique
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tempo.embedded import embedded_database_url
from tempo.settings import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# PostgreSQL takes OFFSET as a bigint: a larger one fails in the driver (a 500), so the
# routes refuse it as a bad request.
MAX_OFFSET = 2**63 - 1
# PostgreSQL text cannot hold a NUL character (the driver fails: a 500), so text parameters
# that reach a query declare this pattern and a NUL is refused as a bad request (422).
NO_NUL = r"^[^\x00]*$"


@unique
class Lock(IntEnum):
    """PostgreSQL advisory-lock keys: one per kind of exclusive job, across every process
    and replica. Kept in one place so no two jobs share a key by accident."""

    MIGRATION = 7_401_001
    FEED = 7_401_002
    CATALOG = 7_401_003
    PIPELINE = 7_401_004
    PEOPLE = 7_401_005
    MAJORS = 7_401_006


MIGRATION_LOCK = Lock.MIGRATION


def normalize_url(url: str) -> str:
    """Accept the usual PostgreSQL URL spellings and select the asyncpg driver."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(f"DATABASE_URL must be a PostgreSQL URL, got {parsed.drivername!r}")
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


async def replace_rows(
    conn: AsyncConnection, lock: Lock, table: str, columns: Sequence[str], csv_rows: bytes
) -> None:
    """Inside the caller's transaction: take `lock`, delete every row of `table` and COPY
    `csv_rows` (CSV, no header) in. Readers see the old rows until the commit (MVCC)."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int(lock)})
    await conn.execute(text(f"DELETE FROM {table}"))
    raw = await conn.get_raw_connection()
    await raw.driver_connection.copy_to_table(  # type: ignore[union-attr]
        table, source=io.BytesIO(csv_rows), columns=list(columns), format="csv"
    )


async def notify(conn: AsyncConnection, channel: str, payload: str) -> None:
    """Delivered on commit only, so listeners never hear of a change that rolled back."""
    await conn.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
    )


def asyncpg_dsn(url: str) -> str:
    """The same database as a plain libpq-style URL, for asyncpg.connect()."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return normalize_url(settings.database_url.get_secret_value())
    return embedded_database_url(settings.embedded_db_dir)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=5,
        connect_args={"timeout": 5, "command_timeout": 60},
    )


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _current_revisions(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade to the newest schema; safe when several processes start at once."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        try:
            await conn.run_sync(_upgrade)
            await conn.commit()
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            await conn.commit()


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


async def pending_migrations(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        current = await conn.run_sync(_current_revisions)
    return current != head_revisions()
