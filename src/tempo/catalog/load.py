"""Loading the catalog into PostgreSQL with COPY, replacing the served one atomically."""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.catalog.models import CatalogLoad
from tempo.catalog.pipeline import TRACK_COLUMNS, CatalogResult, Progress, read_catalog
from tempo.core.csv_input import CsvError, RowProblem
from tempo.core.db import Lock, record_load, replace_rows
from tempo.core.sources import DownloadLimits, display_url, is_url, local_file

if TYPE_CHECKING:
    import polars as pl

CATALOG_LOCK = Lock.CATALOG  # pg_advisory_xact_lock key: one catalog load at a time, everywhere
NOTIFY_CHANNEL = "tempo_catalog"


@dataclass(frozen=True)
class LoadResult:
    load_id: int
    source: str
    rows_read: int
    tracks: int
    rejected: dict[str, int]  # reason → rows, most frequent first
    examples: tuple[RowProblem, ...]
    sha256: str
    seconds: float
    read_seconds: float  # downloading, reading and validating
    load_seconds: float  # the transaction: DELETE, COPY, load record, commit
    loaded_at: datetime

    @property
    def rejected_rows(self) -> int:
        return sum(self.rejected.values())

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        return (
            f"read {self.rows_read:,} rows from {self.source} → {self.tracks:,} unique tracks, "
            f"{self.rejected_rows:,} rejected rows, in {self.seconds:.2f} s "
            f"({self.rows_per_second:,.0f} rows/s; read and validate {self.read_seconds:.2f} s, "
            f"COPY and swap {self.load_seconds:.2f} s), catalog load #{self.load_id}"
        )

    def lines(self) -> list[str]:
        """The summary, then one line per rejection reason with its first rows."""
        lines = [self.summary()]
        for reason, count in self.rejected.items():
            first = ", ".join(
                f"row {e.row}: {e.column}={'NA' if e.value is None else repr(e.value[:40])}"
                for e in self.examples
                if e.reason == reason
            )
            lines.append(f"  rejected {count:,} × {reason} (first: {first})")
        return lines


def _array_literal(column: str) -> pl.Expr:
    """A list of text as a PostgreSQL array literal, each element quoted: {"pop","r&b"}."""
    import polars as pl

    quoted = pl.col(column).list.eval(
        pl.lit('"') + pl.element().str.replace_all(r'([\\"])', r"\$1") + pl.lit('"')
    )
    return (pl.lit("{") + quoted.list.join(",") + pl.lit("}")).alias(column)


def copy_payload(tracks: pl.DataFrame) -> bytes:
    """The tracks as COPY … (FORMAT csv) input: null is an unquoted empty field."""
    frame = tracks.select(TRACK_COLUMNS).with_columns(
        _array_literal("genres"), _array_literal("subgenres")
    )
    return frame.write_csv(include_header=False).encode()


def _prepare(path: Path, progress: Progress | None) -> tuple[CatalogResult, bytes]:
    result = read_catalog(path, progress)
    return result, copy_payload(result.tracks)


async def load_catalog(
    engine: AsyncEngine,
    path: str | Path,
    source: str | None = None,
    *,
    progress: Progress | None = None,
    limits: DownloadLimits | None = None,
) -> LoadResult:
    """Validate `path` (a local file or an http(s):// URL), then swap it in as the catalog.

    Everything is checked before the database is touched, and the swap is one transaction:
    readers see the old catalog or the new one, and a file that fails changes nothing.
    """
    started = time.perf_counter()
    label = source or (display_url(path) if is_url(path) else str(path))
    say = progress or (lambda _: None)
    async with local_file(path, limits=limits, progress=say) as local:
        try:
            result, payload = await asyncio.to_thread(_prepare, local, say)
        except CsvError as exc:
            raise exc.renamed(label) from None
    digest = hashlib.sha256(payload).hexdigest()

    validated = time.perf_counter()
    say(f"loading {result.track_count:,} tracks")
    async with engine.begin() as conn:
        await replace_rows(conn, CATALOG_LOCK, "tracks", TRACK_COLUMNS, payload)
        # Fresh statistics let the planner pick the right index for text and genre searches
        # at once, not after autovacuum gets round to it; only the columns searches filter
        # and sort on, which is a quarter of the cost of analysing every column.
        await conn.execute(text("ANALYZE tracks (search_text, genres, popularity)"))
        load = await record_load(
            conn,
            CatalogLoad,
            NOTIFY_CHANNEL,
            source=label,
            rows_read=result.rows_read,
            tracks=result.track_count,
            rejected=result.rejected_rows,
            sha256=digest,
        )
    finished = time.perf_counter()
    return LoadResult(
        load_id=load.id,
        source=label,
        rows_read=result.rows_read,
        tracks=result.track_count,
        rejected=result.rejected,
        examples=result.examples,
        sha256=digest,
        seconds=finished - started,
        read_seconds=validated - started,
        load_seconds=finished - validated,
        loaded_at=load.loaded_at,
    )
