"""Reading the Spotify songs CSV into one validated row per track.

Every column is read as text first, so each kind of bad value is ours to name. A bad row is
rejected with a reason and counted, and the rest of the file is still used: one odd record
in a catalog of tens of thousands should not block it. A bad *file* (missing columns,
malformed CSV, nothing usable) is refused as a whole with a CsvError.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tempo.catalog.normalize import normalize_expr
from tempo.core.csv_input import (
    ROW,
    RowCheck,
    RowProblem,
    as_int,
    read_columns,
    refuse_unusable,
    reject_rows,
)

if TYPE_CHECKING:
    import polars as pl

# The audio features, in the file's order: numbers, but for key and mode, which are integers.
AUDIO_FEATURES = (
    "danceability",
    "energy",
    "key",
    "loudness",
    "mode",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
)
FLOAT_FEATURES = tuple(f for f in AUDIO_FEATURES if f not in ("key", "mode"))
# Source column → tracks column, for the text kept as it is.
TEXT_COLUMNS = {
    "track_name": "name",
    "track_artist": "artist",
    "track_album_id": "album_id",
    "track_album_name": "album_name",
}
REQUIRED_COLUMNS = (
    "track_id",
    "track_name",
    "track_artist",
    "track_popularity",
    "track_album_id",
    "track_album_name",
    "track_album_release_date",
    "playlist_genre",
    "playlist_subgenre",
    *FLOAT_FEATURES,
    "key",
    "mode",
    "duration_ms",
)
# The tracks table, in the order the COPY sends its columns.
TRACK_COLUMNS = (
    "track_id",
    "name",
    "artist",
    "popularity",
    "album_id",
    "album_name",
    "release_date",
    "release_precision",
    "duration_ms",
    "genres",
    "subgenres",
    *AUDIO_FEATURES,
    "search_text",
)
MISSING = "NA"  # how the file spells a missing value
MAX_DURATION_MS = 2**31 - 1  # PostgreSQL INTEGER
EXAMPLES_PER_REASON = 3

MISSING_TRACK_ID = "missing track_id"
NUL_CHARACTER = "contains a NUL character, which PostgreSQL cannot store"
BAD_DURATION = "duration_ms is not a positive integer"
BAD_POPULARITY = "track_popularity is not an integer from 0 to 100"
BAD_RELEASE_DATE = "track_album_release_date is not YYYY-MM-DD, YYYY-MM or YYYY"
BAD_FEATURE = "audio feature is not a number"
BAD_KEY = "key is not an integer from -1 (no key) to 11"
BAD_MODE = "mode is not 0 or 1"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class CatalogResult:
    tracks: pl.DataFrame  # TRACK_COLUMNS, one row per track_id, sorted by track_id
    rows_read: int
    rejected: dict[str, int]  # reason → rejected rows, most frequent first
    examples: tuple[RowProblem, ...]  # the first few rows of each reason, in file order
    seconds: float = field(default=0.0)

    @property
    def rejected_rows(self) -> int:
        return sum(self.rejected.values())

    @property
    def track_count(self) -> int:
        return self.tracks.height


def _text(column: str) -> pl.Expr:
    """The stripped text of `column`; the literal NA and blank text are missing (null)."""
    import polars as pl

    value = pl.col(column).str.strip_chars()
    return pl.when(value.is_in([MISSING, ""])).then(None).otherwise(value)


def _release_date() -> tuple[pl.Expr, pl.Expr]:
    """(date, precision): partial dates become the first day of their month or year."""
    import polars as pl

    raw = _text("track_album_release_date")
    precision = (
        pl.when(raw.str.contains(r"^\d{4}-\d{2}-\d{2}$"))
        .then(pl.lit("day"))
        .when(raw.str.contains(r"^\d{4}-\d{2}$"))
        .then(pl.lit("month"))
        .when(raw.str.contains(r"^\d{4}$"))
        .then(pl.lit("year"))
    )
    padded = (
        pl.when(precision == "day")
        .then(raw)
        .when(precision == "month")
        .then(raw + "-01")
        .when(precision == "year")
        .then(raw + "-01-01")
    )
    parsed = padded.str.to_date("%Y-%m-%d", strict=False)
    # PostgreSQL has no year 0, which chrono (and so Polars) accepts.
    date = pl.when(parsed.dt.year() >= 1).then(parsed)
    return date, pl.when(date.is_not_null()).then(precision)


def _number(column: str) -> pl.Expr:
    """The finite float in `column`, else null (also for a missing value)."""
    import polars as pl

    value = _text(column).cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value)


def _checks(names: list[str]) -> list[RowCheck]:
    """In priority order: a row with several problems is counted under the first."""
    import polars as pl

    duration = as_int("duration_ms")
    popularity = as_int("track_popularity")
    key, mode = _number("key"), _number("mode")
    checks = [RowCheck(MISSING_TRACK_ID, "track_id", _text("track_id").is_null())]
    checks += [
        RowCheck(NUL_CHARACTER, column, pl.col(column).str.contains("\x00", literal=True))
        for column in names
    ]
    checks += [
        RowCheck(
            BAD_DURATION,
            "duration_ms",
            duration.is_null() | (duration <= 0) | (duration > MAX_DURATION_MS),
        ),
        RowCheck(
            BAD_POPULARITY,
            "track_popularity",
            popularity.is_null() | (popularity < 0) | (popularity > 100),
        ),
        RowCheck(
            BAD_RELEASE_DATE,
            "track_album_release_date",
            _text("track_album_release_date").is_not_null() & _release_date()[0].is_null(),
        ),
    ]
    checks += [
        RowCheck(BAD_FEATURE, column, _text(column).is_not_null() & _number(column).is_null())
        for column in (*FLOAT_FEATURES, "key", "mode")
    ]
    checks += [
        RowCheck(BAD_KEY, "key", key.is_not_null() & ~key.is_in([float(k) for k in range(-1, 12)])),
        RowCheck(BAD_MODE, "mode", mode.is_not_null() & ~mode.is_in([0.0, 1.0])),
    ]
    return checks


def _typed_rows() -> list[pl.Expr]:
    import polars as pl

    release_date, precision = _release_date()
    return [
        pl.col(ROW),
        _text("track_id").alias("track_id"),
        *(_text(source).alias(target) for source, target in TEXT_COLUMNS.items()),
        as_int("track_popularity").cast(pl.Int16).alias("popularity"),
        release_date.alias("release_date"),
        precision.alias("release_precision"),
        as_int("duration_ms").cast(pl.Int32).alias("duration_ms"),
        _text("playlist_genre").str.to_lowercase().alias("genre"),
        _text("playlist_subgenre").str.to_lowercase().alias("subgenre"),
        *(_number(column).alias(column) for column in FLOAT_FEATURES),
        _number("key").cast(pl.Int16).alias("key"),
        _number("mode").cast(pl.Int16).alias("mode"),
    ]


def _one_row_per_track(rows: pl.DataFrame) -> pl.DataFrame:
    """Attributes of each track's first row in file order; genres from all its rows."""
    import polars as pl

    attributes = [c for c in TRACK_COLUMNS if c not in ("genres", "subgenres", "search_text")]
    tracks = rows.group_by("track_id").agg(
        *(pl.col(c).sort_by(ROW).first() for c in attributes if c != "track_id"),
        pl.col("genre").drop_nulls().unique().sort().alias("genres"),
        pl.col("subgenre").drop_nulls().unique().sort().alias("subgenres"),
    )
    search_text = normalize_expr(
        pl.concat_str([pl.col("name"), pl.col("artist")], separator=" ", ignore_nulls=True)
    ).fill_null("")
    # group_by order is not guaranteed: sort, so the same file always gives the same rows.
    return (
        tracks.with_columns(search_text.alias("search_text")).select(TRACK_COLUMNS).sort("track_id")
    )


def read_catalog(path: Path, progress: Progress | None = None) -> CatalogResult:
    """The validated catalog in `path`, or a CsvError when the file cannot be used at all."""
    started = time.perf_counter()
    say = progress or (lambda _: None)
    say(f"reading {path}")
    raw = read_columns(path, REQUIRED_COLUMNS, of="the Spotify songs CSV")
    say(f"validating {raw.height:,} rows")
    rejections = reject_rows(raw, _checks(list(REQUIRED_COLUMNS)), EXAMPLES_PER_REASON)
    valid = raw.filter(~rejections.rejected)
    refuse_unusable(path, raw.height, valid.height, rejections.first)
    tracks = _one_row_per_track(valid.select(_typed_rows()))
    return CatalogResult(
        tracks=tracks,
        rows_read=raw.height,
        rejected=rejections.counts,
        examples=rejections.examples,
        seconds=time.perf_counter() - started,
    )
