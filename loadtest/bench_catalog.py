"""Catalog look-ups of POST /schedule: SQL (before) against the in-memory index (after).

    DATABASE_URL=postgresql://… uv run --group dev python loadtest/bench_catalog.py
        [--before 5] [--after 200]

Loads the real catalog (samples/spotify_songs.csv.gz, 28,356 tracks) into a scratch
database on DATABASE_URL's server (dropped afterwards), then, in one process and one run:

- POST /schedule with 148 look-ups (100 "title - artist" texts, 48 genre wants) in-process
  (ASGI, the app's lifespan running), `--before` times with the index set aside (the SQL
  look-ups of tempo.catalog.repository), then `--after` times from the index;
- the index build (one SELECT, then the structures, in a thread): wall and CPU time, the
  longest the event loop went without running while it was built, and the RSS it adds.

CPU is this process's (the SQL path's work is mostly in PostgreSQL, so compare wall time
there). Prints a Markdown table; there are no thresholds: the numbers go into the README.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtest.bench_http import scratch_database  # noqa: E402
from loadtest.burst import SPOTIFY, catalog_texts  # noqa: E402

from tempo.app import create_app  # noqa: E402
from tempo.catalog.index import CatalogIndex, CatalogIndexes, load_index  # noqa: E402
from tempo.catalog.load import load_catalog  # noqa: E402
from tempo.core.db import create_engine, migrate, normalize_url  # noqa: E402
from tempo.core.settings import Settings  # noqa: E402
from tempo.schedule import routes as schedule_routes  # noqa: E402
from tempo.schedule.schemas import ScheduleRequest  # noqa: E402
from tempo.schedule.service import resolve_music  # noqa: E402

GENRES = ("pop", "rap", "rock", "latin", "edm", "r&b")


def request_body() -> dict[str, Any]:
    """100 texts as a planner user types them and 48 genre wants: 148 look-ups."""
    music: list[dict[str, Any]] = [{"text": t} for t in catalog_texts(100)]
    music += [{"genre": GENRES[i % 6], "minutes": 5 + i % 20} for i in range(48)]
    return {"day_start": "00:00", "day_end": "23:59", "music": music}


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def timed(
    call: Callable[[], Awaitable[Any]], times: int
) -> tuple[list[float], list[float], Any]:
    walls, cpus, result = [], [], None
    for _ in range(times):
        wall, cpu = time.perf_counter(), time.process_time()
        result = await call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus, result


async def longest_stall(work: Awaitable[Any]) -> tuple[Any, float, float]:
    """`work`'s result and the longest the loop went between 1 ms ticks while it ran: in
    wall time (which includes waiting for a core on a busy machine) and in this thread's
    CPU time (the work that held the loop)."""
    wall_longest = cpu_longest = 0.0
    done = False

    async def tick() -> None:
        nonlocal wall_longest, cpu_longest
        wall, cpu = time.perf_counter(), time.thread_time()
        while not done:
            await asyncio.sleep(0.001)
            now_wall, now_cpu = time.perf_counter(), time.thread_time()
            wall_longest = max(wall_longest, now_wall - wall)
            cpu_longest = max(cpu_longest, now_cpu - cpu)
            wall, cpu = now_wall, now_cpu

    ticker = asyncio.create_task(tick())
    try:
        result = await work
    finally:
        done = True
        await ticker
    return result, wall_longest, cpu_longest


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:,.1f} ms (min {min(values) * 1000:,.1f})"


async def run(url: str, before: int, after: int) -> list[tuple[str, str]]:
    engine = create_engine(normalize_url(url))
    await migrate(engine)
    await load_catalog(engine, SPOTIFY)
    body = request_body()
    rows: list[tuple[str, str]] = []

    # The build alone, on a session of its own.
    async with AsyncSession(engine) as session:
        # As the app does once started: what exists now is left out of garbage collections.
        gc.collect()
        gc.freeze()
        rss = rss_mb()
        # The first build in this process, kept: what a worker's RSS grows by (with what
        # the build's garbage leaves in the allocator's pools).
        kept = await load_index(session)
        assert kept is not None
        gc.collect()
        added = rss_mb() - rss
        tracemalloc.start()
        await load_index(session)  # garbage at once: only what the kept one holds counts
        traced = await load_index(session)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.stop()
        del traced
        (walls, cpus, index), stall, stall_cpu = await longest_stall(
            timed(lambda: load_index(session), 5)
        )  # fmt: skip
        assert isinstance(index, CatalogIndex) and len(index) == len(kept)
    rows.append(("index build (SELECT + structures), wall", ms(walls)))
    rows.append(("index build, CPU of this process", ms(cpus)))
    rows.append(("longest event-loop stall during 5 builds, wall", f"{stall * 1000:.1f} ms"))
    rows.append(("… in CPU time of the loop's thread", f"{stall_cpu * 1000:.1f} ms"))
    _, idle, _ = await longest_stall(asyncio.sleep(sum(walls)))
    rows.append(("… baseline: longest wall stall with no work, as long", f"{idle * 1000:.1f} ms"))
    rows.append((f"RSS added by the first index ({len(index):,} tracks)", f"{added:.0f} MiB"))
    rows.append(("Python memory one index holds (tracemalloc)", f"{held:.0f} MiB"))
    del kept, index
    await engine.dispose()

    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            environment="production", database_url=url, api_token="bench-" + "x" * 24,
            data_dir=Path(data_dir), log_level="WARNING", seed_demo_data=False,
        )  # fmt: skip
        app = create_app(settings)
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                statuses: list[int] = []

                async def post() -> httpx.Response:
                    answer = await client.post("/schedule", json=body)
                    statuses.append(answer.status_code)
                    # A 503 is the statement timeout (4.5 s) on a loaded machine: counted.
                    assert answer.status_code in (200, 503), answer.text
                    return answer

                # Before: the same route with the index set aside (SQL look-ups).
                real = schedule_routes.answer

                async def without_index(body: Any, session: Any, ics: bool, index: Any = None):  # type: ignore[no-untyped-def]  # noqa: ANN202
                    return await real(body, session, ics)

                schedule_routes.answer = without_index  # type: ignore[assignment]
                try:
                    await post()
                    statuses.clear()
                    walls, cpus, sql_answer = await timed(post, before)
                finally:
                    schedule_routes.answer = real
                rows.append(("POST /schedule, 148 look-ups, SQL (before), wall", ms(walls)))
                rows.append(("… SQL, CPU of this process", ms(cpus)))
                rows.append(("… SQL, answers", ", ".join(map(str, statuses))))
                statuses.clear()
                first, _, _ = await timed(post, 1)  # builds the index
                rows.append(("… index, first request (builds it), wall", ms(first)))
                walls, cpus, index_answer = await timed(post, after)
                rows.append(("POST /schedule, 148 look-ups, index (after), wall", ms(walls)))
                rows.append(("… index, CPU of this process", ms(cpus)))
                rows.append(("… index, answers", f"{statuses.count(200)} × 200 of {len(statuses)}"))
                assert app.catalog_index.builds == 1
        # The look-ups alone, without the statement or command timeouts (a plain engine):
        # what SQL takes when let finish.
        engine = create_async_engine(normalize_url(url))
        wants = ScheduleRequest.model_validate(body).music
        async with AsyncSession(engine) as session:
            await session.exec(text("SET statement_timeout = 0"))  # type: ignore[call-overload]
            indexes = CatalogIndexes(asyncio.Event())
            walls, _, by_sql = await timed(lambda: resolve_music(wants, session), before)
            rows.append(("resolve_music, SQL, no statement timeout, wall", ms(walls)))
            walls, _, by_index = await timed(lambda: resolve_music(wants, session, indexes), 1)
            rows.append(("resolve_music, index (not kept: built each call), wall", ms(walls)))
            kept = await load_index(session)
            assert kept is not None
            walls, _, by_kept = await timed(lambda: resolve_music_from(kept, wants, session), after)
            rows.append(("resolve_music, index built, wall", ms(walls)))
        await engine.dispose()
        same = by_sql == by_index == by_kept
        rows.append(("same songs and misses, SQL and index", "yes" if same else "NO"))
        if sql_answer.status_code == 200:
            same = sql_answer.content == index_answer.content
            rows.append(("same plan over HTTP, byte for byte", "yes" if same else "NO"))
    return rows


async def resolve_music_from(index: CatalogIndex, wants: Any, session: AsyncSession) -> Any:
    """resolve_music with `index` already built (as a worker's kept one)."""

    class Kept(CatalogIndexes):
        async def get(self, session: Any) -> CatalogIndex:
            return index

    return await resolve_music(wants, session, Kept(asyncio.Event()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=int, default=5)
    parser.add_argument("--after", type=int, default=200)
    args = parser.parse_args()
    with scratch_database(prefix="tempo_bench_catalog") as url:
        rows = asyncio.run(run(url, args.before, args.after))
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
