"""A write never hangs: the database dies or stalls in the middle of a feed's COPY.

Each test runs on a PostgreSQL server of its own (tests/fixtures/own_postgres.py), so it may kill a
backend, stop the server or freeze it (SIGSTOP: the kernel still accepts and acknowledges
packets, but nothing answers, as with a hung host). The feed is held in place inside its
COPY deterministically: another transaction has inserted, without committing, a user id
that the new ranking also has, so the COPY waits on it at that row.

Every write must then answer within 10 s (503 `database_unavailable` with `Retry-After`, or
exit code 1 and one line from the CLI), leave its run `failed`, release the advisory lock
and the pooled connection, leave the old board as it was, and not hold up a shutdown.
"""

from __future__ import annotations

import asyncio
import csv
import enum
import io
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import obstore
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from tempo.app import create_app
from tempo.core.db import asyncpg_dsn, create_engine, csv_chunks, migrate
from tempo.pipeline.feed import feed_file
from tempo.pipeline.runs import recent_runs
from tests.fixtures.app import TOKEN, make_settings
from tests.fixtures.database import with_database
from tests.fixtures.own_postgres import OwnPostgres
from tests.fixtures.s3 import S3Server

ANSWER_WITHIN = 10.0  # seconds from the fault to the answer
NEW_ROWS = 20_000
BLOCKING_USER = 1_000 + NEW_ROWS // 2  # a user of the new ranking, mid-file
OLD_BOARD = [(1, 1, "Old One", 5), (2, 2, "Old Two", 3)]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Fault(enum.Enum):
    TERMINATE = "pg_terminate_backend"
    KILL = "SIGKILL of the backend"
    STOP_FAST = "pg_ctl stop -m fast"
    STOP_IMMEDIATE = "pg_ctl stop -m immediate"
    FREEZE_BACKEND = "SIGSTOP of the backend"
    FREEZE_SERVER = "SIGSTOP of every server process"


T = TypeVar("T")

# What a client sees of a server that is restarting after a crash: a backend SIGKILLed makes
# the postmaster end every other one and recover, and a connection made just before that
# is closed under its first query, one made during it refused ("in recovery mode").
RESTARTING = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
)


async def _until_answered(work: Callable[[], Awaitable[T]], within: float = 30) -> T:
    """`work` done once the server answers, retried while it restarts (at most `within` s)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await work()
        except RESTARTING:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _admin(pg: OwnPostgres, sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(pg.url), timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    await _until_answered(run)


@pytest.fixture(scope="module")
async def template(own_pg: OwnPostgres) -> str:
    pg = own_pg
    name = f"tempo_template_{uuid.uuid4().hex[:12]}"
    await _admin(pg, f'CREATE DATABASE "{name}"')
    engine = create_engine(with_database(pg.url, name))
    await migrate(engine)
    await engine.dispose()
    return name


def _server_processes(pg: OwnPostgres) -> list[int]:
    postmaster = pg.postmaster_pid
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if parent == postmaster:
                children.append(int(entry))
    return [postmaster, *children]


def _signal_server(pg: OwnPostgres, signum: signal.Signals) -> None:
    """Signal the postmaster and every backend; one that has just exited is passed over."""
    for pid in _server_processes(pg):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _recover(pg: OwnPostgres) -> None:
    """Whatever the fault left, a running server again."""
    if (pg.pgdata / "postmaster.pid").exists():
        _signal_server(pg, signal.SIGCONT)
    if not (pg.pgdata / "postmaster.pid").exists():
        pg.start()


@dataclass
class Scene:
    pg: OwnPostgres
    url: str
    data_dir: Path
    database: str

    @property
    def dsn(self) -> str:
        return asyncpg_dsn(self.url)


@pytest.fixture
async def scene(own_pg: OwnPostgres, template: str, tmp_path: Path) -> AsyncIterator[Scene]:
    pg = own_pg
    _recover(pg)
    name = f"tempo_test_{uuid.uuid4().hex[:12]}"
    await _admin(pg, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    scene = Scene(pg, with_database(pg.url, name), data_dir, name)
    # The board being served before the feed that the fault interrupts.
    old = tmp_path / "old.csv"
    lines = "".join(f"{r},{u},{n},{m}\n" for r, u, n, m in OLD_BOARD)
    old.write_text("rank,user_id,name,messages\n" + lines)
    engine = create_engine(scene.url)
    await feed_file(engine, old)
    await engine.dispose()
    rows = "".join(f"{i + 1},{1_000 + i},User {i},{NEW_ROWS - i}\n" for i in range(NEW_ROWS))
    (data_dir / "pipeline_result.csv").write_text("rank,user_id,name,messages\n" + rows)
    yield scene
    _recover(pg)
    await _admin(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _hold_copy(scene: Scene) -> asyncpg.Connection:
    """A transaction that makes the next feed's COPY wait at BLOCKING_USER's row."""
    blocker = await asyncpg.connect(scene.dsn)
    await blocker.execute("BEGIN")
    await blocker.execute(
        "INSERT INTO leaderboard (rank, user_id, name, messages) VALUES (1, $1, 'x', 1)",
        BLOCKING_USER,
    )
    return blocker


async def _copying_backend(scene: Scene) -> int:
    """The pid of the backend whose COPY waits on the blocker."""
    monitor = await asyncpg.connect(scene.dsn)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pid = await monitor.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'COPY%' "
                "AND wait_event_type = 'Lock'",
                scene.database,
            )
            if pid is not None:
                return int(pid)
            await asyncio.sleep(0.05)
    finally:
        await monitor.close()
    raise AssertionError("the feed never reached its COPY")


async def _inject(fault: Fault, scene: Scene, backend: int) -> None:
    pg = scene.pg
    if fault is Fault.TERMINATE:
        await _admin(pg, f"SELECT pg_terminate_backend({backend})")
    elif fault is Fault.KILL:
        pg.signal_backend(backend, signal.SIGKILL)
    elif fault is Fault.STOP_FAST:
        await asyncio.to_thread(pg.stop, "fast")
    elif fault is Fault.STOP_IMMEDIATE:
        await asyncio.to_thread(pg.stop, "immediate")
    elif fault is Fault.FREEZE_BACKEND:
        pg.signal_backend(backend, signal.SIGSTOP)
    else:
        _signal_server(pg, signal.SIGSTOP)


async def _after_recovery(scene: Scene, blocker: asyncpg.Connection) -> None:
    """Back to a running server: the blocker gives up, and no lock or feed remains."""
    _recover(scene.pg)
    try:
        await asyncio.wait_for(blocker.execute("ROLLBACK"), 5)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
        pass
    finally:
        blocker.terminate()


async def _check_nothing_changed(scene: Scene, *, runs: int = 0) -> None:
    await _until_answered(lambda: _check_board_and_locks(scene))
    await _check_runs(scene, runs)


async def _check_board_and_locks(scene: Scene) -> None:
    deadline = time.monotonic() + 30
    conn = await asyncpg.connect(scene.dsn, timeout=5)
    try:
        board = await conn.fetch("SELECT rank, user_id, name, messages FROM leaderboard ORDER BY 1")
        assert [tuple(r) for r in board] == OLD_BOARD
        assert await conn.fetchval("SELECT count(*) FROM leaderboard_feed") == 1
        # The interrupted transaction's locks go with its backend; a frozen one notices
        # its client has gone as soon as it runs again.
        while await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        ):
            holders = await conn.fetch(
                "SELECT l.objid, a.pid, a.state, a.wait_event, left(a.query, 40) AS query "
                "FROM pg_locks l LEFT JOIN pg_stat_activity a USING (pid) "
                "WHERE l.locktype = 'advisory'"
            )
            assert time.monotonic() < deadline, f"advisory locks never released: {holders}"
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def _check_runs(scene: Scene, runs: int) -> None:
    if runs:
        # As a client asks for them, once the database answers again: none left `running`.
        engine = create_engine(scene.url)
        try:
            async with AsyncSession(engine) as session:
                recorded, total = await recent_runs(session, limit=10, offset=0)
        finally:
            await engine.dispose()
        assert total == runs
        assert [r.status for r in recorded] == ["failed"] * runs, recorded


async def _timed(request: Any, fault: Fault, scene: Scene) -> tuple[Any, float]:
    blocker = await _hold_copy(scene)
    try:
        task = asyncio.ensure_future(request)
        backend = await _copying_backend(scene)
        started = time.monotonic()
        await _inject(fault, scene, backend)
        done, _ = await asyncio.wait([task], timeout=ANSWER_WITHIN + 20)
        elapsed = time.monotonic() - started
        assert done, f"no answer {elapsed:.1f} s after {fault.value}"
        return task.result(), elapsed
    finally:
        if fault is not Fault.FREEZE_SERVER:
            await _after_recovery(scene, blocker)
        else:
            scene.blocker = blocker  # type: ignore[attr-defined]


def _raw_inputs(data_dir: Path) -> None:
    """messages.csv and users.csv whose ranking has NEW_ROWS users, BLOCKING_USER mid-file."""
    users = "".join(f"{1_000 + i},First{i},Last{i}\n" for i in range(NEW_ROWS))
    (data_dir / "users.csv").write_text("user_id,first_name,last_name\n" + users)
    (data_dir / "messages.csv").write_text(
        "message_id,author_id,received_at,content\n1,1000,2026-01-05 08:12:09,hello\n"
    )


def _multipart(data_dir: Path) -> dict[str, tuple[str, bytes, str]]:
    return {
        name: (f"{name}.csv", (data_dir / f"{name}.csv").read_bytes(), "text/csv")
        for name in ("messages", "users")
    }


async def _post(
    route: str, client: httpx.AsyncClient, data_dir: Path, bucket: str | None = None
) -> httpx.Response:
    if route == "/feed/s3":
        return await client.post("/feed/s3", json={"s3_bucket": bucket}, headers=AUTH)
    if route == "/feed":
        return await client.post("/feed", json={"data_path": "pipeline_result.csv"}, headers=AUTH)
    if route == "/pipeline/run":
        return await client.post("/pipeline/run", headers=AUTH)
    if route == "/uploads":
        return await client.post("/uploads", files=_multipart(data_dir), headers=AUTH)
    return await client.post("/upload", data={"token": TOKEN}, files=_multipart(data_dir))


# Every fault on the plain feed; each other write with a different one, silent ones too.
HTTP_CASES = [
    *(("/feed", fault) for fault in Fault if fault is not Fault.FREEZE_BACKEND),
    ("/feed/s3", Fault.FREEZE_BACKEND),
    ("/pipeline/run", Fault.FREEZE_BACKEND),
    ("/pipeline/run", Fault.STOP_FAST),
    ("/uploads", Fault.TERMINATE),
    ("/upload", Fault.KILL),
]


@pytest.mark.parametrize(
    ("route", "fault"),
    [
        # The S3 case asks for the S3 server itself: mark it as the fixture would.
        pytest.param(r, f, id=f"{r}-{f.name.lower()}", marks=[pytest.mark.s3] * (r == "/feed/s3"))
        for r, f in HTTP_CASES
    ],
)
@pytest.mark.slow
async def test_a_write_answers_503_within_10_s(
    route: str, fault: Fault, scene: Scene, request: pytest.FixtureRequest
) -> None:
    runs = 0 if route.startswith("/feed") else 1
    if runs:
        _raw_inputs(scene.data_dir)
    storage: dict[str, str] = {}
    if route == "/feed/s3":
        # The same ranking from a bucket of the real S3-compatible server (started only here).
        server: S3Server = request.getfixturevalue("s3_server")
        storage = server.settings()
        ranking = (scene.data_dir / "pipeline_result.csv").read_bytes()
        obstore.put(server.store(storage["result_bucket"]), "pipeline_result.csv", ranking)
    app = create_app(make_settings(scene.url, scene.data_dir, **storage))
    manager = LifespanManager(app)
    await manager.__aenter__()
    state: dict[str, Any] = manager._state
    engine: AsyncEngine = state["engine"]
    transport = httpx.ASGITransport(app=manager.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://tempo.test") as client:
            post = _post(route, client, scene.data_dir, storage.get("result_bucket"))
            response, elapsed = await _timed(post, fault, scene)
        _report(f"{route}, {fault.value}", response.status_code, elapsed)
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"].isdigit()
        if route == "/upload":
            assert "database" in response.text  # the page says what failed
        else:
            assert response.json()["error"]["code"] == "database_unavailable"
        assert elapsed < ANSWER_WITHIN
        # Nothing keeps a pooled connection: it went back to the pool or was closed.
        assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        # A shutdown, with the server possibly still frozen, does not wait for it.
        started = time.monotonic()
        await manager.__aexit__(None, None, None)
        assert time.monotonic() - started < ANSWER_WITHIN
    if fault is Fault.FREEZE_SERVER:
        await _after_recovery(scene, scene.blocker)  # type: ignore[attr-defined]
    await _check_nothing_changed(scene, runs=runs)


CLI_CASES = [("feed", Fault.FREEZE_SERVER), ("pipeline run", Fault.STOP_IMMEDIATE)]


@pytest.mark.parametrize(
    ("command", "fault"), CLI_CASES, ids=[f"{c}-{f.name.lower()}" for c, f in CLI_CASES]
)
@pytest.mark.slow
async def test_the_cli_exits_1_with_one_line_within_10_s(
    command: str, fault: Fault, scene: Scene
) -> None:
    runs = 0 if command == "feed" else 1
    if runs:
        _raw_inputs(scene.data_dir)
    args = command.split()
    if command == "feed":
        args.append(str(scene.data_dir / "pipeline_result.csv"))
    env = os.environ | {
        "DATABASE_URL": scene.url,
        "DATA_DIR": str(scene.data_dir),
        "API_TOKEN": TOKEN,
        "ENVIRONMENT": "production",
        "LOG_FORMAT": "json",
    }
    tempo = Path(sys.executable).parent / "tempo"
    process = await asyncio.create_subprocess_exec(
        str(tempo), *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, elapsed = await _timed(process.wait(), fault, scene)
    stdout, stderr = await process.communicate()
    _report(f"tempo {command}, {fault.value}", process.returncode, elapsed)
    lines = stderr.decode().strip().splitlines()
    assert process.returncode == 1, stderr.decode()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "database" in lines[0]
    assert elapsed < ANSWER_WITHIN
    if fault is Fault.FREEZE_SERVER:
        await _after_recovery(scene, scene.blocker)  # type: ignore[attr-defined]
    await _check_nothing_changed(scene, runs=runs)


def _report(what: str, outcome: int | None, elapsed: float) -> None:
    # Shown with -s: the figures of the README's reliability section.
    print(f"{what}: {outcome} in {elapsed:.2f} s", file=sys.stderr)


@pytest.mark.slow
async def test_a_read_holding_a_pooled_connection_answers_503_within_10_s(scene: Scene) -> None:
    """A server that stops answering under a read: the pooled connection it would use is
    checked (pre-ping) or used, and both end with the driver's timeout, not TCP's."""
    app = create_app(make_settings(scene.url, scene.data_dir))
    manager = LifespanManager(app)
    await manager.__aenter__()
    transport = httpx.ASGITransport(app=manager.app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://tempo.test") as client:
            assert (await client.get("/pipeline/runs", headers=AUTH)).status_code == 200
            _signal_server(scene.pg, signal.SIGSTOP)
            started = time.monotonic()
            response = await client.get("/pipeline/runs", headers=AUTH)
            elapsed = time.monotonic() - started
        _report(
            "GET /pipeline/runs, SIGSTOP of every server process", response.status_code, elapsed
        )
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "database_unavailable"
        assert response.headers["Retry-After"].isdigit()
        assert elapsed < ANSWER_WITHIN
    finally:
        started = time.monotonic()
        await manager.__aexit__(None, None, None)
        assert time.monotonic() - started < ANSWER_WITHIN
        _recover(scene.pg)


def test_copy_chunks_end_at_record_boundaries_even_inside_quotes() -> None:
    """The COPY goes in bounded pieces; a newline or quote inside a value never splits one."""
    rows = [[str(i), f'line one\nline "two" of {i}' if i % 3 else f"User {i}", str(i * 7)]
            for i in range(500)]  # fmt: skip
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    payload = buffer.getvalue().encode()
    chunks = list(csv_chunks(payload, size=200))
    assert len(chunks) > 50
    assert b"".join(chunks) == payload
    parsed = [row for chunk in chunks for row in csv.reader(io.StringIO(chunk.decode()))]
    assert parsed == rows
    assert list(csv_chunks(payload)) == [payload]  # small: one statement, as before
