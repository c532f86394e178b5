"""Loading a ranking into PostgreSQL with COPY, replacing the served one atomically."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.core.csv_input import CsvError, CsvInput
from tempo.core.db import Lock, record_load, replace_rows
from tempo.core.sources import read_errors
from tempo.leaderboard.models import LeaderboardFeed
from tempo.pipeline.aggregate import RESULT_COLUMNS
from tempo.pipeline.result_csv import read_result

FEED_LOCK = Lock.FEED  # pg_advisory_xact_lock key: one feed at a time, everywhere
NOTIFY_CHANNEL = "tempo_leaderboard"


@dataclass(frozen=True)
class FeedResult:
    feed_id: int
    rows: int
    seconds: float
    validate_seconds: float  # reading and checking the file
    load_seconds: float  # the transaction: DELETE, COPY, feed record, commit
    loaded_at: datetime
    source: str

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    def line(self) -> str:
        load_rate = self.rows / self.load_seconds if self.load_seconds > 0 else float("inf")
        return (
            f"fed {self.rows:,} rows from {self.source} in {self.seconds:.2f} s "
            f"({self.rows_per_second:,.0f} rows/s; validate {self.validate_seconds:.2f} s, "
            f"COPY and swap {self.load_seconds:.2f} s = {load_rate:,.0f} rows/s), "
            f"feed #{self.feed_id}"
        )


def _prepare(path: CsvInput, allow_empty: bool) -> tuple[bytes, int, str]:
    frame = read_result(path, allow_empty=allow_empty)
    payload = frame.select(RESULT_COLUMNS).write_csv(include_header=False).encode()
    return payload, frame.height, hashlib.sha256(payload).hexdigest()


async def feed_file(
    engine: AsyncEngine,
    path: CsvInput,
    *,
    source: str | None = None,
    progress: Callable[[str], None] | None = None,
    allow_empty: bool = False,
) -> FeedResult:
    """Validate `path` (a local file or an s3:// object), then swap it in as the leaderboard
    in one transaction.

    Readers keep seeing the previous ranking (MVCC) until the commit; a file that fails
    validation, or a COPY that fails, changes nothing. A file without rows, which would
    empty the leaderboard, fails validation unless `allow_empty`.
    """
    started = time.perf_counter()
    label = source or str(path)
    if progress is not None:
        progress(f"validating {label}")
    try:
        with read_errors(path):
            payload, rows, digest = await asyncio.to_thread(_prepare, path, allow_empty)
    except CsvError as exc:
        raise exc.renamed(label) from None

    validated = time.perf_counter()
    if progress is not None:
        progress(f"loading {rows:,} rows (COPY) and swapping them in")
    async with engine.begin() as conn:
        await replace_rows(conn, FEED_LOCK, "leaderboard", RESULT_COLUMNS, payload)
        # `loaded_at` (the board's `updated_at`) is when the new ranking becomes visible.
        # The column's default, now(), is the transaction's start: before the wait for the
        # feed lock and the COPY, seconds or minutes earlier for a large ranking. This is
        # the transaction's last statement, so clock_timestamp() here trails the commit
        # only by the commit itself (commit timestamps would need track_commit_timestamp).
        feed = await record_load(
            conn,
            LeaderboardFeed,
            NOTIFY_CHANNEL,
            source=label,
            rows=rows,
            sha256=digest,
            loaded_at=func.clock_timestamp(),
        )
    finished = time.perf_counter()
    return FeedResult(
        feed_id=feed.id,
        rows=rows,
        seconds=finished - started,
        validate_seconds=validated - started,
        load_seconds=finished - validated,
        loaded_at=feed.loaded_at,
        source=label,
    )
