"""Pipeline runs: the raw messages + users → pipeline_result.csv → the served leaderboard.

The raw files and the result live in the data directory, or in the raw and result buckets
when object storage is configured. A PostgreSQL advisory lock runs one pipeline at a time
across every process, replica and Lambda invocation, and each run is recorded in
`pipeline_run`. Nothing is written before both inputs have been read and checked, and the
feed is one transaction, so a run that fails leaves the served leaderboard as it was.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from tempo.core.csv_input import CsvInput, require_plain, require_plain_object
from tempo.core.db import Lock
from tempo.core.db_errors import database_failure, is_database_unavailable
from tempo.core.errors import TempoError
from tempo.core.logs import get_logger
from tempo.core.settings import Settings
from tempo.core.sources import ObjectFile, ObjectStorage, S3Location, SourceError
from tempo.leaderboard.models import PipelineRun
from tempo.pipeline.aggregate import (
    RESULT_FILE,
    AggregateSummary,
    Progress,
    Ranking,
    read_inputs,
    write_atomically,
)
from tempo.pipeline.feed import feed_file

log = get_logger(__name__)

PIPELINE_LOCK = Lock.PIPELINE  # pg_advisory_lock key: one pipeline run at a time, everywhere
LOCK_POLL_SECONDS = 0.2
MESSAGES_FILE = "messages.csv"
USERS_FILE = "users.csv"
INTERRUPTED = (
    "interrupted: the process running it stopped, or lost the database, before it finished"
)

Trigger = Literal["api", "upload", "lambda", "cli"]
Location = Path | S3Location


@dataclass(frozen=True)
class PipelinePlan:
    """Where a run reads its inputs and writes its result."""

    messages: Location
    users: Location
    result: Location
    data_dir: Path | None = None  # local locations are shown relative to it

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelinePlan:
        if settings.object_storage_enabled:
            raw, results = settings.raw_bucket, settings.result_bucket
            return cls(
                S3Location(raw, MESSAGES_FILE),
                S3Location(raw, USERS_FILE),
                S3Location(results, RESULT_FILE),
            )
        folder = settings.data_dir
        return cls(folder / MESSAGES_FILE, folder / USERS_FILE, folder / RESULT_FILE, folder)

    @classmethod
    def from_raw_bucket(cls, raw_bucket: str, result_bucket: str) -> PipelinePlan:
        return cls(
            S3Location(raw_bucket, MESSAGES_FILE),
            S3Location(raw_bucket, USERS_FILE),
            S3Location(result_bucket, RESULT_FILE),
        )

    def label(self, location: Location) -> str:
        """What clients call a location: an s3:// URL, or a path inside the data directory
        (server paths are not theirs to see)."""
        if isinstance(location, S3Location):
            return location.url
        if self.data_dir is not None and location.is_relative_to(self.data_dir):
            return location.relative_to(self.data_dir).as_posix()
        return str(location)


class RunFailed(Exception):
    """A run that ended in `failed`; `cause` is what went wrong, `run` the record. Not a
    TempoError itself: a client is told its cause, naming the run."""

    def __init__(self, run: PipelineRun, cause: Exception) -> None:
        super().__init__(run.error or str(cause))
        self.run = run
        self.cause = cause


def describe_failure(exc: BaseException) -> str:
    if isinstance(exc, TempoError):
        return exc.message
    return database_failure(exc)


@asynccontextmanager
async def _serialised(engine: AsyncEngine | None) -> AsyncIterator[None]:
    """Hold the pipeline lock for the block; without a database there is nothing to share."""
    if engine is None:
        yield
        return
    async with engine.connect() as conn:
        # Polled rather than waited for: a run can outlast the driver's command timeout,
        # which would turn a long wait into a false "database unavailable".
        lock = text("SELECT pg_try_advisory_lock(:key)")
        while True:
            acquired = (await conn.execute(lock, {"key": PIPELINE_LOCK})).scalar()
            # A session lock outlives the transaction; committing keeps the connection
            # from sitting idle in a transaction for the whole run.
            await conn.commit()
            if acquired:
                break
            await asyncio.sleep(LOCK_POLL_SECONDS)
        try:
            yield
        except Exception as exc:
            if is_database_unavailable(exc):
                # Ending the session releases its lock. Asking a server that stopped
                # answering to unlock would wait COMMAND_TIMEOUT for nothing.
                await _close_at_once(conn)
            raise
        finally:
            if not conn.invalidated:
                try:
                    await conn.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": PIPELINE_LOCK}
                    )
                    await conn.commit()
                except Exception as exc:  # closing the connection releases the lock anyway
                    log.warning("pipeline_unlock_failed", error=describe_failure(exc))


async def _close_at_once(conn: AsyncConnection) -> None:
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if driver is not None:
        driver.terminate()
    await conn.invalidate()


async def _start(engine: AsyncEngine | None, run: PipelineRun) -> PipelineRun:
    if engine is None:
        run.started_at = datetime.now(UTC)
        return run
    async with AsyncSession(engine, expire_on_commit=False) as session:
        # Holding the lock proves that no run is in progress: a 'running' row left over is
        # from a process that died mid-run.
        await session.exec(
            update(PipelineRun)
            .where(col(PipelineRun.status) == "running")
            .values(status="failed", finished_at=func.now(), error=INTERRUPTED)
        )
        session.add(run)
        await session.commit()
        await session.refresh(run)
    return run


async def _finish(engine: AsyncEngine | None, run: PipelineRun) -> PipelineRun:
    run.finished_at = datetime.now(UTC)
    if engine is None or run.id is None:
        return run
    values = run.model_dump(exclude={"id", "started_at", "finished_at", "trigger"})
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            # The database's clock, as for started_at: the two are compared.
            finished = await session.exec(
                update(PipelineRun)
                .where(col(PipelineRun.id) == run.id)
                .values(**values, finished_at=func.now())
                .returning(col(PipelineRun.finished_at))
            )
            run.finished_at = finished.scalar_one()
            await session.commit()
    except Exception as exc:
        # The outcome stands even if it cannot be recorded; the row is marked failed once
        # the database answers (mark_interrupted). Not a warning: the lost database is
        # already reported, by the 503 or the command's one line.
        log.info("pipeline_run_not_recorded", run_id=run.id, error=describe_failure(exc))
    return run


@asynccontextmanager
async def open_input(
    plan: PipelinePlan,
    location: Location,
    storage: ObjectStorage | None,
    *,
    compressed: bool = False,
) -> AsyncIterator[CsvInput]:
    """One of the plan's raw inputs to read; SourceError 404 while it is not there, and 415
    for a compressed file or object unless `compressed` (only the CLI reads those)."""
    if isinstance(location, S3Location):
        if storage is None:
            raise ObjectStorage.not_configured(location.url)
        source = await storage.require_object(location)
        if not compressed:
            await require_plain_object(source, plan.label(location))
        yield source
        return
    if not location.is_file():
        raise SourceError(
            plan.label(location),
            "no such file in the data directory; upload it first (POST /uploads)",
            404,
            code="file_not_found",
        )
    if not compressed:
        require_plain(location, plan.label(location))
    yield location


def _size(source: CsvInput) -> int:
    return source.size if isinstance(source, ObjectFile) else source.stat().st_size


async def _write(ranking: Ranking, location: Location, storage: ObjectStorage | None) -> CsvInput:
    """Store the result whole; what to feed from (the stored copy)."""
    if isinstance(location, S3Location):
        if storage is None:
            raise ObjectStorage.not_configured(location.url)
        payload = await asyncio.to_thread(ranking.csv_bytes)
        await storage.put(location, payload)
        return await storage.require_object(location)
    await asyncio.to_thread(write_atomically, ranking.result, location)
    return location


async def run_pipeline(
    engine: AsyncEngine | None,
    plan: PipelinePlan,
    *,
    storage: ObjectStorage | None,
    trigger: Trigger,
    feed: bool = True,
    progress: Progress | None = None,
    compressed: bool = False,
    allow_empty: bool = False,
) -> PipelineRun:
    """Aggregate the raw inputs into the result and (with a database) feed it.

    A gzip-compressed local input fails the run (415) unless `compressed`: the command line
    reads one, a request does not make the server inflate it (see require_plain). An input
    with a header and no rows fails it (422) unless `allow_empty`.

    Returns the run record, `succeeded`; raises RunFailed with a `failed` record otherwise.
    Without an engine (a Lambda with no DATABASE_URL) the run is neither locked, recorded
    nor fed.
    """
    async with _serialised(engine):
        run = await _start(
            engine,
            PipelineRun(
                status="running",
                trigger=trigger,
                inputs={
                    "messages": {"location": plan.label(plan.messages), "bytes": None},
                    "users": {"location": plan.label(plan.users), "bytes": None},
                },
                output=plan.label(plan.result),
            ),
        )
        log.info("pipeline_run_started", run_id=run.id, trigger=trigger, inputs=run.inputs)
        started = time.perf_counter()
        try:
            summary, feed_id = await _execute(
                engine,
                plan,
                storage,
                run,
                feed=feed,
                progress=progress,
                compressed=compressed,
                allow_empty=allow_empty,
            )
        except Exception as exc:
            run.status = "failed"
            run.error = describe_failure(exc)
            run.seconds = round(time.perf_counter() - started, 6)
            if _server_silent(exc):
                # A server that stopped answering would keep this answer waiting again;
                # the row is marked failed once it answers (mark_interrupted).
                log.info("pipeline_run_not_recorded", run_id=run.id, error=run.error)
            else:
                await _finish(engine, run)
            log.info("pipeline_run_failed", run_id=run.id, error=run.error)
            raise RunFailed(run, exc) from exc
        run.status = "succeeded"
        run.messages = summary.messages
        run.users = summary.users
        run.ranked_users = summary.ranked_users
        run.orphan_messages = summary.orphan_messages
        run.feed_id = feed_id
        run.seconds = round(time.perf_counter() - started, 6)
        await _finish(engine, run)
        log.info("pipeline_run_succeeded", run_id=run.id, line=summary.line(), feed_id=feed_id)
        return run


async def _execute(
    engine: AsyncEngine | None,
    plan: PipelinePlan,
    storage: ObjectStorage | None,
    run: PipelineRun,
    *,
    feed: bool,
    progress: Progress | None = None,
    compressed: bool = False,
    allow_empty: bool = False,
) -> tuple[AggregateSummary, int | None]:
    started = time.perf_counter()
    async with (
        open_input(plan, plan.messages, storage, compressed=compressed) as messages,
        open_input(plan, plan.users, storage, compressed=compressed) as users,
    ):
        run.inputs = {
            "messages": {"location": plan.label(plan.messages), "bytes": _size(messages)},
            "users": {"location": plan.label(plan.users), "bytes": _size(users)},
        }
        ranking = await read_inputs(
            messages,
            users,
            labels=(plan.label(plan.messages), plan.label(plan.users)),
            progress=progress,
            allow_empty=allow_empty,
        )
    if progress is not None:
        progress(f"writing {plan.label(plan.result)}")
    stored = await _write(ranking, plan.result, storage)
    summary = ranking.summary(plan.result, time.perf_counter() - started)
    if not feed or engine is None:
        return summary, None
    fed = await feed_file(
        engine, stored, source=plan.label(plan.result), progress=progress, allow_empty=allow_empty
    )
    return summary, fed.feed_id


def _server_silent(exc: BaseException) -> bool:
    """The database stopped answering (a driver timeout), rather than refusing or closing."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__ or getattr(seen, "orig", None)
    return False


# A run is `running` only while its process holds the pipeline lock in this database.
_MARK_INTERRUPTED = text(
    "UPDATE pipeline_run SET status = 'failed', finished_at = now(), error = :error "
    "WHERE status = 'running' AND NOT EXISTS (SELECT 1 FROM pg_locks WHERE "
    "locktype = 'advisory' AND classid = 0 AND objid = :key AND objsubid = 1 AND "
    "database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
)


async def mark_interrupted(session: AsyncSession) -> None:
    """Record as failed the runs that lost their database or their process mid-run: the
    ones left `running` while no one holds the lock."""
    conn = await session.connection()
    await conn.execute(_MARK_INTERRUPTED, {"error": INTERRUPTED, "key": int(PIPELINE_LOCK)})
    await session.commit()


async def recent_runs(
    session: AsyncSession, *, limit: int, offset: int
) -> tuple[list[PipelineRun], int]:
    """Newest first, with the number of runs ever recorded."""
    await mark_interrupted(session)
    statement = (
        select(PipelineRun)
        .order_by(col(PipelineRun.started_at).desc(), col(PipelineRun.id).desc())
        .limit(limit)
        .offset(offset)
    )
    runs = list((await session.exec(statement)).all())
    total = (await session.exec(select(func.count()).select_from(PipelineRun))).one()
    return runs, int(total)


def run_fields(run: PipelineRun) -> dict[str, Any]:
    """The record as plain values, for responses and the Lambda's JSON summary."""
    return run.model_dump(mode="json")
