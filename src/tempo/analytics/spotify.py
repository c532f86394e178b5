"""Analyses of the Spotify songs CSV, computed with Polars on the file itself.

The catalog table keeps one row per track, but some questions need the file's own rows (a
track once per playlist), so the analyses read the CSV: the one the catalog was loaded
from, or any file or URL given. A parsed file is kept per process, keyed by its path,
modification time and size, so a page of charts parses it once.

Units. A track that sits in several playlists appears in the file once per playlist. Every
answer says what it counts:

- `track`: each track once, with the attributes of its first row in the file (as the
  catalog does); in the genre table, once in each of its genres.
- `playlist` (genre table only): each track once per playlist that lists it under a genre.
  A few rows repeat a track in the same playlist because the playlist was collected under
  two subgenres; those count once.
"""

from __future__ import annotations

import calendar
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tempo.analytics.schemas import (
    GENRE_UNITS,
    TRACK_UNIT,
    CorrelationMatrix,
    Dataset,
    Excluded,
    FeatureCorrelation,
    FeatureCorrelations,
    GenreStats,
    GenreTable,
    Histogram,
    HistogramBin,
    MonthStats,
    Rejected,
    ReleaseMonths,
    TopTrack,
    TopTracks,
)
from tempo.analytics.stats import mean_interval
from tempo.core.csv_input import (
    ROW,
    CsvError,
    RowCheck,
    as_int,
    read_columns,
    refuse_unusable,
    reject_rows,
)

if TYPE_CHECKING:
    import polars as pl

Per = Literal["track", "playlist"]
Progress = Callable[[str], None]

MISSING = "NA"  # how the file spells a missing value
# Audio features and their units, in the order of the file.
FEATURES: Mapping[str, str] = {
    "danceability": "0 to 1",
    "energy": "0 to 1",
    "key": "pitch class 0 to 11",
    "loudness": "dB",
    "mode": "0 minor, 1 major",
    "speechiness": "0 to 1",
    "acousticness": "0 to 1",
    "instrumentalness": "0 to 1",
    "liveness": "0 to 1",
    "valence": "0 to 1",
    "tempo": "beats per minute",
    "duration_ms": "milliseconds",
}
REQUIRED_COLUMNS = (
    "track_id",
    "track_name",
    "track_artist",
    "track_popularity",
    "track_album_name",
    "track_album_release_date",
    "playlist_id",
    "playlist_genre",
    *FEATURES,
)
# 1 January is a common stand-in for an unknown day; say so when it stands out this much.
PLACEHOLDER_FACTOR = 3
MISSING_TRACK_ID = "missing track_id"
BAD_POPULARITY = "track_popularity is not an integer from 0 to 100"
FIRST_ROWS = 5
MAX_BINS = 100
CONFIDENCE = 0.95

# Release-date precision, as the catalog names it; None for a missing date.
_DAY, _MONTH, _YEAR, _INVALID = "day", "month", "year", "invalid"
EXCLUDED_REASONS: Mapping[str, str] = {
    _YEAR: "the release date gives the year only (YYYY), so the month is unknown",
    _INVALID: "the release date is not a valid YYYY-MM-DD, YYYY-MM or YYYY date",
    "missing": "the release date is missing (NA)",
}


@dataclass(frozen=True)
class SpotifyData:
    """One parsed file: its valid rows, one row per track, and what was left out."""

    label: str
    rows: pl.DataFrame  # valid rows in file order, typed
    tracks: pl.DataFrame  # one row per track: its first valid row, genres and playlists
    rows_read: int
    rejected: Mapping[str, tuple[int, tuple[int, ...]]]  # reason → (rows, first row numbers)
    seconds: float

    def dataset(self) -> Dataset:
        return Dataset(
            source=self.label,
            rows_read=self.rows_read,
            rows_used=self.rows.height,
            tracks=self.tracks.height,
            rejected=[
                Rejected(reason=reason, rows=count, first_rows=list(first))
                for reason, (count, first) in self.rejected.items()
            ],
        )


def _text(column: str) -> pl.Expr:
    """Stripped text; the literal NA and blank text are missing."""
    import polars as pl

    value = pl.col(column).str.strip_chars()
    return pl.when(value.is_in([MISSING, ""])).then(None).otherwise(value)


def _number(column: str) -> pl.Expr:
    import polars as pl

    value = _text(column).cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value)


def _precision() -> pl.Expr:
    import polars as pl

    raw = _text("track_album_release_date")
    padded = (
        pl.when(raw.str.contains(r"^\d{4}-\d{2}-\d{2}$"))
        .then(raw)
        .when(raw.str.contains(r"^\d{4}-\d{2}$"))
        .then(raw + "-01")
    )
    # A month of 13 or a 31 February is not a date: it has no month to count under.
    valid = padded.str.to_date("%Y-%m-%d", strict=False).is_not_null()
    return (
        pl.when(raw.is_null())
        .then(None)
        .when(raw.str.contains(r"^\d{4}$"))
        .then(pl.lit(_YEAR))
        .when(valid & (raw.str.len_chars() == 10))
        .then(pl.lit(_DAY))
        .when(valid)
        .then(pl.lit(_MONTH))
        .otherwise(pl.lit(_INVALID))
    )


def read_spotify(
    path: Path, label: str | None = None, progress: Progress | None = None
) -> SpotifyData:
    """The Spotify songs CSV at `path`, typed; bad rows are counted, a bad file refused."""
    import polars as pl

    started = time.perf_counter()
    say = progress or (lambda _: None)
    label = label or str(path)
    say(f"reading {label}")
    raw = read_columns(path, REQUIRED_COLUMNS, of="the Spotify songs CSV")
    say(f"checking {raw.height:,} rows")
    popularity = as_int("track_popularity")
    checks = [
        RowCheck(MISSING_TRACK_ID, "track_id", _text("track_id").is_null()),
        RowCheck(
            BAD_POPULARITY,
            "track_popularity",
            popularity.is_null() | (popularity < 0) | (popularity > 100),
        ),
    ]
    rejections = reject_rows(raw, checks, FIRST_ROWS)
    rejected = {
        reason: (count, tuple(e.row for e in rejections.examples if e.reason == reason))
        for reason, count in sorted(rejections.counts.items())
    }
    valid = raw.filter(~rejections.rejected)
    refuse_unusable(path, raw.height, valid.height, rejections.first)

    rows = valid.select(
        pl.col(ROW),
        _text("track_id").alias("track_id"),
        _text("track_name").alias("name"),
        _text("track_artist").alias("artist"),
        _text("track_album_name").alias("album_name"),
        popularity.cast(pl.Int16).alias("popularity"),
        _text("track_album_release_date").alias("release_date"),
        _precision().alias("release_precision"),
        # Rows without a playlist id count as playlists of their own.
        pl.coalesce(_text("playlist_id"), pl.lit("row ") + pl.col(ROW).cast(pl.String)).alias(
            "playlist_id"
        ),
        _text("playlist_genre").str.to_lowercase().alias("genre"),
        *(_number(feature).alias(feature) for feature in FEATURES),
    ).sort(ROW)
    say(f"grouping {rows.height:,} rows into tracks")
    first = rows.unique("track_id", keep="first", maintain_order=True)
    memberships = rows.group_by("track_id").agg(
        pl.col("genre").drop_nulls().unique().sort().alias("genres"),
        pl.col("playlist_id").n_unique().alias("playlists"),
    )
    tracks = first.join(memberships, on="track_id", how="left", maintain_order="left")
    return SpotifyData(
        label=label,
        rows=rows,
        tracks=tracks,
        rows_read=raw.height,
        rejected=rejected,
        seconds=time.perf_counter() - started,
    )


# --- one parse per file and process ---------------------------------------------------

_CACHE_SIZE = 4
_cache: dict[tuple[str, ...], SpotifyData] = {}
_cache_lock = threading.Lock()


def file_key(path: Path) -> tuple[str, ...]:
    """What identifies a file's contents cheaply: where it is, when it changed, its size."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise CsvError(path, f"cannot read the file: {exc.strerror or exc}") from None
    return (str(path.resolve()), str(stat.st_mtime_ns), str(stat.st_size))


def cached(key: tuple[str, ...], read: Callable[[], SpotifyData]) -> SpotifyData:
    """The parse stored under `key`, or `read()` once (concurrent callers wait for it)."""
    with _cache_lock:
        found = _cache.get(key)
        if found is None:
            found = read()
            if len(_cache) >= _CACHE_SIZE:
                _cache.pop(next(iter(_cache)))
            _cache[key] = found
        return found


def cached_result(key: tuple[str, ...]) -> SpotifyData | None:
    with _cache_lock:
        return _cache.get(key)


def read_cached(path: Path, label: str | None = None) -> SpotifyData:
    # The label is part of the key: an answer names its source as the caller knows it.
    key = ("file", *file_key(path), label or str(path))
    return cached(key, lambda: read_spotify(path, label))


# --- the answers ----------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def top_tracks(data: SpotifyData, limit: int = 1) -> TopTracks:
    """The `limit` most popular tracks, and every track tied with the last of them."""
    import polars as pl

    ordered = data.tracks.sort(["popularity", "track_id"], descending=[True, False])
    cutoff = int(ordered["popularity"][min(limit, ordered.height) - 1])
    chosen = ordered.filter(pl.col("popularity") >= cutoff)
    return TopTracks(
        dataset=data.dataset(),
        unit=TRACK_UNIT,
        limit=limit,
        popularity_cutoff=cutoff,
        tracks=[
            TopTrack(
                track_id=row["track_id"],
                name=row["name"],
                artist=row["artist"],
                album_name=row["album_name"],
                popularity=row["popularity"],
                release_date=row["release_date"],
                genres=row["genres"],
                playlists=row["playlists"],
            )
            for row in chosen.iter_rows(named=True)
        ],
    )


def _summaries(frame: pl.DataFrame, by: str) -> list[tuple[Any, dict[str, Any]]]:
    """Per `by` value, in `by` order: the value, and the count, mean, median and sample sd of
    popularity with the mean's 95 % t interval, as GenreStats and MonthStats name them."""
    import polars as pl

    summary = (
        frame.group_by(by)
        .agg(
            pl.len().alias("count"),
            pl.col("popularity").mean().alias("mean"),
            pl.col("popularity").median().alias("median"),
            pl.col("popularity").std(ddof=1).alias("sd"),
        )
        .sort(by)
    )
    summaries = []
    for value, count, mean, median, sd in summary.iter_rows():  # `by`, then the aggregates
        interval = mean_interval(int(count or 0), float(mean or 0), _sd(sd))
        stats = {
            "count": interval.n,
            "mean": interval.mean,
            "median": float(median or 0),
            "sd": interval.sd,
            "ci_low": interval.low,
            "ci_high": interval.high,
        }
        summaries.append((value, stats))
    return summaries


def genre_stats(data: SpotifyData, per: Per = "track") -> GenreTable:
    """Popularity per playlist genre, with a 95 % t interval for each mean."""
    import polars as pl

    with_genre = data.rows.filter(pl.col("genre").is_not_null())
    keys = ["track_id", "genre"] if per == "track" else ["track_id", "playlist_id", "genre"]
    entries = with_genre.unique(keys, keep="first", maintain_order=True)
    genres = [
        GenreStats(genre=str(genre), **stats) for genre, stats in _summaries(entries, "genre")
    ]
    genres.sort(key=lambda g: (-g.mean, g.genre))
    no_genre = data.rows.filter(pl.col("genre").is_null())
    return GenreTable(
        dataset=data.dataset(),
        per=per,
        unit=GENRE_UNITS[per],
        confidence=CONFIDENCE,
        entries=entries.height,
        rows_without_genre=no_genre.height,
        genres=genres,
    )


def _sd(value: object) -> float | None:
    return _finite(float(value)) if isinstance(value, int | float) else None


def release_months(data: SpotifyData) -> ReleaseMonths:
    """Mean popularity by month of release (January to December), per track.

    Only dates that name a month (YYYY-MM-DD or YYYY-MM) count; the rest are reported.
    """
    import polars as pl

    tracks = data.tracks
    counted = tracks.filter(pl.col("release_precision").is_in([_DAY, _MONTH])).with_columns(
        pl.col("release_date").str.slice(5, 2).cast(pl.Int8).alias("month")
    )
    months = [
        MonthStats(month=month, name=calendar.month_name[month], **stats)
        for month, stats in _summaries(counted, "month")
    ]
    precision = pl.col("release_precision").fill_null("missing")
    excluded = []
    for key, reason in EXCLUDED_REASONS.items():
        excluded_tracks = tracks.filter(precision == key).height
        excluded_rows = data.rows.filter(precision == key).height
        if excluded_tracks or excluded_rows:
            excluded.append(Excluded(reason=reason, tracks=excluded_tracks, rows=excluded_rows))
    notes = [] if counted.is_empty() else _january_first_note(counted)
    return ReleaseMonths(
        dataset=data.dataset(),
        unit=TRACK_UNIT,
        confidence=CONFIDENCE,
        counted_tracks=counted.height,
        months=months,
        excluded=excluded,
        notes=notes,
    )


def _january_first_note(counted: pl.DataFrame) -> list[str]:
    import polars as pl

    days = (
        counted.filter(pl.col("release_precision") == _DAY)
        .group_by(pl.col("release_date").str.slice(5, 5).alias("day"))
        .len()
        .sort(["len", "day"], descending=[True, False])
    )
    if days.height < 2 or days["day"][0] != "01-01":
        return []
    first, (runner_up, runner_up_count) = int(days["len"][0]), days.row(1)
    if first < PLACEHOLDER_FACTOR * runner_up_count:
        return []
    month, day = (int(part) for part in runner_up.split("-"))
    return [
        f"{first:,} of the {counted.height:,} counted tracks are dated 1 January, "
        f"{first / runner_up_count:.0f} times as many as the next most common day "
        f"({day} {calendar.month_name[month]}, {runner_up_count:,}). The date often stands "
        "in for an unknown one, so the January figures are the least reliable; the tracks "
        "still count under January."
    ]


def popularity_histogram(data: SpotifyData, bins: int = 10) -> Histogram:
    """How many tracks have each popularity, in `bins` equal bins over 0 to 100.

    Each bin includes its lower edge; the last one also includes 100.
    """
    import polars as pl

    if not 1 <= bins <= MAX_BINS:
        raise ValueError(f"bins must be from 1 to {MAX_BINS}, got {bins}")
    popularity = data.tracks["popularity"].cast(pl.Int64)
    # Integer arithmetic: popularity p is in bin i exactly when i <= p * bins / 100 < i + 1.
    index = ((popularity * bins) // 100).clip(upper_bound=bins - 1)
    counts = dict(index.value_counts().iter_rows())
    total = popularity.len()
    histogram = []
    for i in range(bins):
        lower, upper = 100 * i / bins, 100 * (i + 1) / bins
        closing = "]" if i == bins - 1 else ")"
        count = int(counts.get(i, 0))
        histogram.append(
            HistogramBin(
                lower=lower,
                upper=upper,
                label=f"[{lower:g}, {upper:g}{closing}",
                count=count,
                share=count / total,
            )
        )
    return Histogram(
        dataset=data.dataset(),
        unit=TRACK_UNIT,
        tracks=total,
        mean=float(popularity.mean() or 0),  # type: ignore[arg-type]
        median=float(popularity.median() or 0),  # type: ignore[arg-type]
        zero_popularity=int((popularity == 0).sum()),
        bins=histogram,
    )


def _pearson(frame: pl.DataFrame, x: str, y: str) -> tuple[int, float | None]:
    import polars as pl

    pairs = frame.select(x, y).drop_nulls()
    if pairs.height < 2:
        return pairs.height, None
    value = pairs.select(pl.corr(x, y)).item()
    return pairs.height, _finite(value)


def _spearman(frame: pl.DataFrame, x: str, y: str) -> float | None:
    """Pearson's r of the ranks, ties given their average rank."""
    import polars as pl

    pairs = frame.select(x, y).drop_nulls()
    if pairs.height < 2:
        return None
    ranked = pairs.select(
        pl.col(x).rank(method="average").alias(x), pl.col(y).rank(method="average").alias(y)
    )
    return _finite(ranked.select(pl.corr(x, y)).item())


def feature_correlations(data: SpotifyData) -> FeatureCorrelations:
    """Each audio feature against popularity (Pearson and Spearman), and all against all."""
    import polars as pl

    tracks = data.tracks.with_columns(pl.col("popularity").cast(pl.Float64))
    rows = []
    for feature, unit in FEATURES.items():
        n, pearson = _pearson(tracks, feature, "popularity")
        rows.append(
            FeatureCorrelation(
                feature=feature,
                unit=unit,
                n=n,
                pearson=pearson,
                spearman=_spearman(tracks, feature, "popularity"),
            )
        )
    rows.sort(key=lambda r: (-abs(r.pearson or 0.0), r.feature))
    columns = ["popularity", *FEATURES]
    values = [[1.0 if a == b else _pearson(tracks, a, b)[1] for b in columns] for a in columns]
    return FeatureCorrelations(
        dataset=data.dataset(),
        unit=TRACK_UNIT,
        with_popularity=rows,
        matrix=CorrelationMatrix(columns=columns, values=values),
    )
