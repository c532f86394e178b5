"""`tempo etl majors`: FiveThirtyEight's women-stem.csv into a Delta table and PostgreSQL.

Extract: a local file or an http(s):// URL (tempo.core.sources); by default the copy of the file
shipped in tempo/bundled. Transform: with Polars, every column read as text first so each
bad value is reported with its row and column; snake_case names, integer counts, the share
of women recomputed from the counts (and checked against the file's own ShareWomen). Load:
the Delta table gets a new version on every load, and the PostgreSQL `majors` table (what
`GET /analytics/majors` lists) is replaced atomically.

The file is small and a reference table, so any bad row refuses the whole file: a partial
table of majors would give wrong category totals without saying so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.analytics import delta
from tempo.analytics.delta import DeltaLocation
from tempo.bundled import WOMEN_STEM
from tempo.core.csv_input import ROW, CsvError, RowCheck, as_int, read_columns, refuse_bad_rows
from tempo.core.db import Lock, replace_rows
from tempo.core.sources import DownloadLimits, display_url, is_url, local_file

# The default source: FiveThirtyEight's file, shipped in the package so a load needs no network.
MAJORS_DEFAULT = WOMEN_STEM
MAJORS_TABLE = "majors"
MAJORS_LOCK = Lock.MAJORS  # pg_advisory_xact_lock key: one majors load at a time, everywhere
INTEGER_COLUMNS = ("Rank", "Major_code", "Total", "Men", "Women", "Median")
TEXT_COLUMNS = ("Major", "Major_category")
SOURCE_COLUMNS = (
    "Rank", "Major_code", "Major", "Major_category", "Total", "Men", "Women", "ShareWomen",
    "Median",
)  # fmt: skip
# The Delta table and the PostgreSQL table, in this column order.
COLUMNS = (
    "major_code",
    "major",
    "major_category",
    "rank",
    "total",
    "men",
    "women",
    "share_women",
    "median_earnings",
)
# The file gives shares to 9 decimals; anything further off contradicts its own counts.
SHARE_TOLERANCE = 1e-6

Progress = Callable[[str], None]


@dataclass(frozen=True)
class MajorsLoad:
    source: str
    rows: int
    categories: pl.DataFrame  # category_totals() of what was loaded
    table: str
    version: int
    seconds: float

    def lines(self) -> list[str]:
        return [
            f"loaded {self.rows:,} majors in {self.categories.height:,} categories from "
            f"{self.source} in {self.seconds:.2f} s: Delta table {self.table} version "
            f"{self.version}, PostgreSQL table {MAJORS_TABLE}"
        ]


def _blank(column: str) -> pl.Expr:
    stripped = pl.col(column).str.strip_chars()
    return stripped.is_null() | (stripped == "")


def read_majors(path: Path) -> pl.DataFrame:
    """The majors in `path`, typed and checked: COLUMNS in file order, or a CsvError."""
    # The published file ends with a blank line, which is no data row.
    raw = read_columns(path, SOURCE_COLUMNS, of="women-stem.csv")
    share = pl.col("ShareWomen").str.strip_chars().cast(pl.Float64, strict=False)
    total, men, women = as_int("Total"), as_int("Men"), as_int("Women")
    share_women = women / total
    later_duplicate = pl.col(ROW) != pl.col(ROW).min().over(as_int("Major_code"))
    refuse_bad_rows(
        path,
        raw,
        [
            *(
                check
                for column in INTEGER_COLUMNS
                for check in (
                    RowCheck("not an integer", column, as_int(column).is_null()),
                    RowCheck("negative; expected a count", column, as_int(column) < 0),
                )
            ),
            *(RowCheck("empty value", column, _blank(column)) for column in TEXT_COLUMNS),
            RowCheck("not a number", "ShareWomen", share.is_null() | ~share.is_finite()),
            RowCheck("no graduates; a share needs some", "Total", total == 0),
            RowCheck("Men + Women is not Total", "Total", men + women != total),
            RowCheck(
                "not Women / Total", "ShareWomen", (share_women - share).abs() > SHARE_TOLERANCE
            ),
            RowCheck("duplicate major code", "Major_code", later_duplicate),
        ],
    )
    return raw.sort(ROW).select(
        as_int("Major_code").alias("major_code"),
        pl.col("Major").str.strip_chars().alias("major"),
        pl.col("Major_category").str.strip_chars().alias("major_category"),
        as_int("Rank").alias("rank"),
        total.alias("total"),
        men.alias("men"),
        women.alias("women"),
        share_women.alias("share_women"),
        as_int("Median").alias("median_earnings"),
    )


def category_totals(majors: pl.DataFrame) -> pl.DataFrame:
    """Men, women and graduates per major category, most graduates first."""
    return (
        majors.group_by("major_category")
        .agg(
            pl.len().alias("majors"),
            pl.col("men").sum(),
            pl.col("women").sum(),
            pl.col("total").sum(),
        )
        .with_columns((pl.col("women") / pl.col("total")).alias("share_women"))
        .sort(["total", "major_category"], descending=[True, False])
    )


async def load_majors(
    engine: AsyncEngine,
    location: DeltaLocation,
    source: str | Path = MAJORS_DEFAULT,
    *,
    progress: Progress | None = None,
    limits: DownloadLimits | None = None,
) -> MajorsLoad:
    """Extract, transform and load: a new Delta version and the PostgreSQL table, together.

    The PostgreSQL swap and the Delta write happen inside one transaction that holds an
    advisory lock: a Delta write that fails rolls the table back, so PostgreSQL never holds
    rows of a version that does not exist. (A COPY or commit that fails after the Delta write
    leaves Delta one version ahead, which the next load puts right.)
    """
    started = time.perf_counter()
    if is_url(source):
        label = display_url(source)
    elif Path(source) == MAJORS_DEFAULT:
        # The bundled file's real path is wherever the package is installed (site-packages):
        # name the file, not this machine's folders.
        label = f"{MAJORS_DEFAULT.name} (shipped with Tempo)"
    else:
        label = str(source)
    say = progress or (lambda _: None)
    async with local_file(source, limits=limits, progress=say) as local:
        say(f"reading {label}")
        try:
            majors = await asyncio.to_thread(read_majors, local)
        except CsvError as exc:
            raise exc.renamed(label) from None
    say(f"transformed {majors.height:,} majors")

    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MAJORS_LOCK})
        say(f"writing a new version of the Delta table {location.uri}")
        version = await asyncio.to_thread(delta.write, location, majors.select(COLUMNS))
        say(f"replacing the PostgreSQL table {MAJORS_TABLE} (version {version})")
        payload = (
            majors.select(COLUMNS)
            .with_columns(pl.lit(version, dtype=pl.Int64).alias("delta_version"))
            .write_csv(include_header=False)
            .encode()
        )
        # The lock is already held (it covers the Delta write); taking it again is a no-op.
        await replace_rows(conn, MAJORS_LOCK, MAJORS_TABLE, [*COLUMNS, "delta_version"], payload)
    return MajorsLoad(
        source=label,
        rows=majors.height,
        categories=category_totals(majors),
        table=location.uri,
        version=version,
        seconds=time.perf_counter() - started,
    )
