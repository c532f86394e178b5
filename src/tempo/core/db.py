"""Database plumbing: where the database is, the async engine, and migrations."""

from __future__ import annotations

import ast
import io
import logging
import socket
from collections.abc import Iterator, Sequence
from datetime import datetime
from enum import IntEnum, unique
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
from sqlalchemy import Connection, DateTime, Row, Text, event, func, insert, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import Field, SQLModel

from tempo.core.embedded import embedded_database_url
from tempo.core.errors import RETRY_AFTER_SECONDS, TempoError
from tempo.core.settings import Settings, refuse_other_databases

if TYPE_CHECKING:
    from alembic.config import Config

# tempo/migrations: Alembic reads it by path, so core imports no domain model here.
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# PostgreSQL takes OFFSET as a bigint: a larger one fails in the driver (a 500), so the
# routes refuse it as a bad request.
MAX_OFFSET = 2**63 - 1
# PostgreSQL text cannot hold a NUL character (the driver fails: a 500), so text parameters
# that reach a query declare this pattern and a NUL is refused as a bad request (422).
NO_NUL = r"^[^\x00]*$"

# How long Tempo waits for the database before it answers 503. A server that stops
# answering (a hung host, a frozen process, a lost network) never closes the connection, so
# only these driver timeouts end the wait; every request, feed and run then answers within
# COMMAND_TIMEOUT plus the 2 s SQLAlchemy gives a dead connection to close (< 10 s).
CONNECT_TIMEOUT = 3  # seconds to open a connection and log in
COMMAND_TIMEOUT = 5  # seconds any one statement (or one COPY chunk) may take
POOL_TIMEOUT = 3  # seconds a request waits for a pooled connection
# Server side, for write transactions: PostgreSQL cancels a statement (a lock wait, a slow
# DELETE) a little before the client would give up, so the connection stays usable, and
# ends a session left idle inside a transaction by a client that vanished, which releases
# its locks (the advisory lock included) without waiting for TCP to notice.
WRITE_STATEMENT_TIMEOUT_MS = 4_500
# Every statement gets the same server-side limit: a statement that is merely slow (a
# planner request with 150 catalog look-ups on a loaded machine) is then cancelled by
# PostgreSQL with its own error (57014), which says that the database is up but the work
# took too long, and the connection stays usable; only a database that does not answer at
# all reaches COMMAND_TIMEOUT, which is what "database unavailable" means.
STATEMENT_TIMEOUT_MS = WRITE_STATEMENT_TIMEOUT_MS
IDLE_IN_TRANSACTION_TIMEOUT_MS = 10_000
# COPY in chunks of about this size, each a statement well inside COMMAND_TIMEOUT (some
# 25,000 leaderboard rows, or 4,000 catalog tracks, whose trigram index makes each row
# dearer: 4 MiB chunks of the catalog took over 5 s on a loaded 2-core machine), so a long
# load is never mistaken for a stalled server.
COPY_CHUNK_BYTES = 1024 * 1024
# TCP keepalives, both ways: a peer that vanished without closing (a host gone, a NAT
# entry dropped) is noticed after about 5 + 3 × 2 = 11 s of silence, on idle pooled
# connections too, instead of the operating system's default of more than two hours.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 5, 2, 3
# A job waits this long for another one holding its advisory lock (a feed behind a feed),
# then gives up with JobBusy: inside the statement limit, so the answer says "busy", not
# "database unavailable".
LOCK_WAIT_MS = 4_000
# The old rows are deleted a slice of the table's pages at a time (a TID range scan), each
# slice a statement well inside the statement limit whatever the table's size.
DELETE_BLOCKS = 2_000  # 8 KiB pages: ~16 MB, some 200,000 leaderboard rows
# Migrations may rewrite big tables: they get no statement limit of their own.
MIGRATION_COMMAND_TIMEOUT = None


@unique
class Lock(IntEnum):
    """PostgreSQL advisory-lock keys: one per kind of exclusive job, across every process
    and replica. Kept in one place so no two jobs share a key by accident."""

    MIGRATION = 7_401_001  # the names below say what JobBusy reports
    FEED = 7_401_002
    CATALOG = 7_401_003
    PIPELINE = 7_401_004
    PEOPLE = 7_401_005
    MAJORS = 7_401_006


MIGRATION_LOCK = Lock.MIGRATION


class JobBusy(TempoError):
    """Another process holds the advisory lock of this kind of job (a feed, a catalog load)
    for longer than LOCK_WAIT_MS: try again shortly. The database is fine, and a 503 `busy`
    says so."""

    event = "job_busy"
    level = logging.INFO

    def __init__(self, lock: Lock) -> None:
        self.lock = lock
        super().__init__(
            503,
            "busy",
            f"another {lock.name.lower()} job is running; try again in a few seconds",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )

    def log_fields(self) -> dict[str, Any]:
        return {"job": self.lock.name.lower()}


def normalize_url(url: str) -> str:
    """Accept the usual PostgreSQL URL spellings and select the asyncpg driver."""
    refuse_other_databases(url)
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def csv_chunks(csv_rows: bytes, size: int = COPY_CHUNK_BYTES) -> Iterator[bytes]:
    """`csv_rows` in pieces of about `size` bytes, each ending at the end of a record.

    A newline inside a quoted value has an odd number of quotes before it in its piece
    (an escaped quote is two), so a piece only ends at a newline after an even number."""
    start = 0
    while start < len(csv_rows):
        end = csv_rows.find(b"\n", start + size)
        while end != -1 and csv_rows.count(b'"', start, end) % 2:
            end = csv_rows.find(b"\n", end + 1)
        if end == -1:
            yield csv_rows[start:]
            return
        yield csv_rows[start : end + 1]
        start = end + 1


async def limit_write_transaction(conn: AsyncConnection) -> None:
    """Inside a write transaction: the server-side limits of WRITE_STATEMENT_TIMEOUT_MS."""
    await conn.execute(text(f"SET LOCAL statement_timeout = {WRITE_STATEMENT_TIMEOUT_MS}"))
    await conn.execute(
        text(f"SET LOCAL idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_TIMEOUT_MS}")
    )


async def replace_rows(
    conn: AsyncConnection, lock: Lock, table: str, columns: Sequence[str], csv_rows: bytes
) -> None:
    """Inside the caller's transaction: take `lock`, delete every row of `table` and COPY
    `csv_rows` (CSV, no header) in. Readers see the old rows until the commit (MVCC).

    The rows go in as several COPY statements, each bounded by the driver's timeout. A
    connection that times out or breaks during one is closed at once, not rolled back: a
    server that stopped answering would not answer the ROLLBACK either."""
    await limit_write_transaction(conn)
    await take_lock(conn, lock)
    await delete_all(conn, table)
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    try:
        for chunk in csv_chunks(csv_rows):
            await driver.copy_to_table(
                table, source=io.BytesIO(chunk), columns=list(columns), format="csv"
            )
    except (TimeoutError, OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
        driver.terminate()  # no goodbye to a server that may not be listening
        await conn.invalidate()
        raise


async def take_lock(conn: AsyncConnection, lock: Lock) -> None:
    """The transaction's advisory lock `lock`, waiting at most LOCK_WAIT_MS (JobBusy)."""
    await conn.execute(text(f"SET LOCAL lock_timeout = {LOCK_WAIT_MS}"))
    try:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int(lock)})
    except DBAPIError as exc:
        if any(isinstance(e, asyncpg.LockNotAvailableError) for e in driver_errors(exc)):
            # lock_timeout ran out: another job holds the lock, the server is fine.
            raise JobBusy(lock) from None
        raise
    await conn.execute(text("SET LOCAL lock_timeout = 0"))


def driver_errors(exc: BaseException) -> list[BaseException]:
    """The exception, SQLAlchemy's wrapped driver error and what that error wraps: where
    asyncpg's own error class, which says what happened, is found."""
    chain = [exc]
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        chain.append(exc.orig)
    if chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    return chain


async def delete_all(conn: AsyncConnection, table: str) -> None:
    """DELETE every row of `table`, a slice of DELETE_BLOCKS pages per statement, so that
    no statement of a big table's swap runs into the statement limit. Inside the caller's
    transaction: readers still see every row until the commit."""
    blocks = (
        await conn.execute(
            text(
                "SELECT pg_relation_size(CAST(:t AS regclass)) / current_setting('block_size')::int"
            ),
            {"t": table},
        )
    ).scalar_one()
    for first in range(0, int(blocks), DELETE_BLOCKS):
        await conn.execute(
            text(f"DELETE FROM {table} WHERE ctid >= CAST(:lo AS tid) AND ctid < CAST(:hi AS tid)"),
            {"lo": (first, 0), "hi": (first + DELETE_BLOCKS, 0)},  # (page, item): asyncpg's tid
        )
    # Rows past the pages counted above (none while the lock is held): cheap, all dead.
    await conn.execute(text(f"DELETE FROM {table}"))


class LoadRecord(SQLModel):
    """The record of one successful load of a served table (a feed, a catalog load): the
    latest one describes what is being served. `record_load` writes it."""

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(sa_type=Text, nullable=False)
    sha256: str = Field(sa_type=Text, nullable=False)
    loaded_at: datetime = Field(
        sa_type=DateTime(timezone=True),
        nullable=False,
        sa_column_kwargs={"server_default": func.now()},
    )


async def record_load(
    conn: AsyncConnection, record: type[LoadRecord], channel: str, **values: Any
) -> Row[Any]:
    """Inside the caller's swap transaction: insert the load's `record` row (its id and
    loaded_at come back) and NOTIFY `channel` of its id. The notice is delivered on commit
    only, so listeners never hear of a change that rolled back."""
    table = record.__table__  # type: ignore[attr-defined]  # set on table=True subclasses
    statement = insert(table).values(**values).returning(table.c.id, table.c.loaded_at)
    row = (await conn.execute(statement)).one()
    notice = {"channel": channel, "payload": str(row.id)}
    await conn.execute(text("SELECT pg_notify(:channel, :payload)"), notice)
    return row


def asyncpg_dsn(url: str) -> str:
    """The same database as a plain libpq-style URL, for asyncpg.connect()."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return normalize_url(settings.database_url.get_secret_value())
    return embedded_database_url(settings.embedded_db_dir)


class KeepaliveConnection(asyncpg.Connection):  # type: ignore[misc]
    """An asyncpg connection whose TCP socket sends keepalives (asyncpg has no option for
    them; libpq's `keepalives*` parameters are not asyncpg's)."""

    def __init__(self, protocol: Any, transport: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(protocol, transport, *args, **kwargs)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for option, value in (
                ("TCP_KEEPIDLE", KEEPALIVE_IDLE),
                ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
                ("TCP_KEEPCNT", KEEPALIVE_COUNT),
            ):
                if hasattr(socket, option):  # Linux; macOS lacks some
                    sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


def connect_args(command_timeout: float | None = COMMAND_TIMEOUT) -> dict[str, Any]:
    """asyncpg.connect() options: the timeouts above, and keepalives in both directions
    (the server's own `tcp_keepalives_*` settings, for a client that vanished), and with a
    command timeout, the server's statement limit just inside it."""
    server_settings = {
        "tcp_keepalives_idle": str(KEEPALIVE_IDLE),
        "tcp_keepalives_interval": str(KEEPALIVE_INTERVAL),
        "tcp_keepalives_count": str(KEEPALIVE_COUNT),
    }
    if command_timeout is not None:
        server_settings["statement_timeout"] = str(STATEMENT_TIMEOUT_MS)
    return {
        "timeout": CONNECT_TIMEOUT,
        "command_timeout": command_timeout,
        "connection_class": KeepaliveConnection,
        "server_settings": server_settings,
    }


def _timeouts_are_disconnects(context: ExceptionContext) -> None:
    """A statement that timed out leaves its connection waiting on a cancel the server may
    never acknowledge: SQLAlchemy is told to close it rather than roll it back (which would
    wait COMMAND_TIMEOUT again) or return it to the pool."""
    if isinstance(context.original_exception, TimeoutError):
        context.is_disconnect = True


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # Waiting for a free connection: every one busy is overload, answered 503
        # `database_busy` quickly. Shorter than the statement limit, so a request waiting
        # behind the statements that hold the pool says so before they are cancelled.
        pool_timeout=POOL_TIMEOUT,
        connect_args=connect_args(),
    )
    event.listen(engine.sync_engine, "handle_error", _timeouts_are_disconnects)
    return engine


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _upgrade(connection: Connection) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade to the newest schema; safe when several processes start at once.

    On a connection of its own, without COMMAND_TIMEOUT: rewriting a big table, or waiting
    for another process's migration, may take longer than any request should."""
    migrations = create_async_engine(
        engine.url, poolclass=NullPool, connect_args=connect_args(MIGRATION_COMMAND_TIMEOUT)
    )
    try:
        await _migrate(migrations)
    finally:
        await migrations.dispose()


async def _migrate(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        try:
            await conn.run_sync(_upgrade)
            await conn.commit()
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            await conn.commit()


def head_revisions(migrations: Path = MIGRATIONS_DIR) -> set[str]:
    """The newest migrations: those that no other one revises.

    Read from the `revision` and `down_revision` assignments of the files in
    migrations/versions, not through Alembic: /readyz asks on every probe, and importing
    Alembic (and Mako) would cost each worker about 10 MB (tests/test_lean_imports.py
    checks this against Alembic's own answer)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in sorted((migrations / "versions").glob("*.py")):
        assigned = _literal_assignments(path, ("revision", "down_revision"))
        revision = assigned.get("revision")
        if not isinstance(revision, str):
            continue
        revisions.add(revision)
        down = assigned.get("down_revision")
        revised.update((down,) if isinstance(down, str) else down or ())
    return revisions - revised


def _literal_assignments(path: Path, names: tuple[str, ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in names and node.value:
                    found[target.id] = ast.literal_eval(node.value)
    return found


async def _current_revisions(conn: AsyncConnection) -> set[str]:
    """The revisions recorded in the database, as Alembic reads them (none: no table)."""
    if not await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL")):
        return set()
    rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
    return {row[0] for row in rows}


async def pending_migrations(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        current = await _current_revisions(conn)
    return current != head_revisions()
