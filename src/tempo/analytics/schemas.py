"""The answers of the analytics, as the API returns them (and the CLI and the page show them).

The examples are real: the Spotify ones from samples/spotify_songs.csv.gz (TidyTuesday's
spotify_songs.csv), the majors ones from FiveThirtyEight's women-stem.csv (tempo/bundled),
shortened to a few rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SOURCE = "spotify_songs.csv"
DATASET: dict[str, Any] = {
    "source": SOURCE,
    "rows_read": 32833,
    "rows_used": 32833,
    "tracks": 28356,
    "rejected": [],
}
DELTA: dict[str, Any] = {"table": ".tempo/delta/majors", "version": 1, "latest_version": 1}
# What one entry of most Spotify answers counts (the `unit` they give).
TRACK_UNIT = "each track once, with the attributes of its first row in the file"
GENRE_UNITS: dict[str, str] = {
    "track": "each track once in each of its genres",
    "playlist": "each track once per playlist that lists it under a genre",
}


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


def _spotify_example(unit: str = TRACK_UNIT, **answer: Any) -> ConfigDict:
    """The example of a Spotify answer: the sample file's dataset, the unit, then `answer`."""
    return _examples({"dataset": DATASET, "unit": unit, **answer})


# --- Spotify songs --------------------------------------------------------------------


class Rejected(BaseModel):
    reason: str
    rows: int = Field(description="How many rows of the file were left out for this reason")
    first_rows: list[int] = Field(description="The first of them: data rows, header not counted")


class Dataset(BaseModel):
    """Which file the answer comes from, and how much of it was usable."""

    source: str = Field(description="The file or URL read (a URL without its query string)")
    rows_read: int = Field(description="Data rows in the file")
    rows_used: int = Field(description="Rows left after rejecting unusable ones")
    tracks: int = Field(description="Distinct track ids among the rows used")
    rejected: list[Rejected]


class TopTrack(BaseModel):
    track_id: str
    name: str | None
    artist: str | None
    album_name: str | None
    popularity: int = Field(ge=0, le=100, description="Spotify popularity, 0 to 100")
    release_date: str | None = Field(
        description="As the file gives it: YYYY-MM-DD, YYYY-MM or YYYY"
    )
    genres: list[str] = Field(description="Playlist genres of every playlist listing the track")
    playlists: int = Field(description="Distinct playlists listing the track")


class TopTracks(BaseModel):
    model_config = _spotify_example(
        limit=1,
        popularity_cutoff=100,
        tracks=[
            {
                "track_id": "2XU0oxnq2qxCpomAAuJY8K",
                "name": "Dance Monkey",
                "artist": "Tones and I",
                "album_name": "Dance Monkey (Stripped Back) / Dance Monkey",
                "popularity": 100,
                "release_date": "2019-10-17",
                "genres": ["latin", "pop"],
                "playlists": 2,
            }
        ],
    )

    dataset: Dataset
    unit: str = Field(description="What one entry counts")
    limit: int = Field(description="How many tracks were asked for")
    popularity_cutoff: int = Field(description="The popularity of the limit-th track")
    tracks: list[TopTrack] = Field(
        description="The `limit` most popular tracks and every track tied with the last of "
        "them, most popular first, then by track_id"
    )


class GenreStats(BaseModel):
    genre: str
    count: int = Field(description="Entries in the genre (see `per`)")
    mean: float = Field(description="Mean popularity")
    median: float = Field(description="Median popularity")
    sd: float | None = Field(description="Sample standard deviation (n − 1); null for n = 1")
    ci_low: float | None = Field(description="95 % confidence interval for the mean: low end")
    ci_high: float | None = Field(description="95 % confidence interval for the mean: high end")


class GenreTable(BaseModel):
    model_config = _spotify_example(
        per="track",
        unit=GENRE_UNITS["track"],
        confidence=0.95,
        entries=30385,
        rows_without_genre=0,
        genres=[
            {
                "genre": "pop",
                "count": 5132,
                "mean": 45.905,
                "median": 50.0,
                "sd": 24.616,
                "ci_low": 45.232,
                "ci_high": 46.579,
            }
        ],
    )

    dataset: Dataset
    per: Literal["track", "playlist"]
    unit: str = Field(description="What one entry counts")
    confidence: float = Field(description="Level of the intervals: mean ± t(0.975, n−1)·s/√n")
    entries: int = Field(description="Entries counted over all genres")
    rows_without_genre: int = Field(description="Rows with no playlist genre, left out")
    genres: list[GenreStats] = Field(description="Highest mean first")


class MonthStats(BaseModel):
    month: int = Field(ge=1, le=12)
    name: str
    count: int
    mean: float
    median: float
    sd: float | None
    ci_low: float | None
    ci_high: float | None


class Excluded(BaseModel):
    reason: str
    tracks: int = Field(description="Tracks left out for this reason")
    rows: int = Field(description="Rows of the file behind those tracks")


class ReleaseMonths(BaseModel):
    model_config = _spotify_example(
        confidence=0.95,
        counted_tracks=26700,
        months=[
            {
                "month": 1,
                "name": "January",
                "count": 4484,
                "mean": 36.134,
                "median": 40.0,
                "sd": 24.109,
                "ci_low": 35.428,
                "ci_high": 36.839,
            }
        ],
        excluded=[
            {
                "reason": "the release date gives the year only (YYYY), so the month is unknown",
                "tracks": 1656,
                "rows": 1855,
            }
        ],
        notes=[
            "2,814 of the 26,700 counted tracks are dated 1 January, 12 times as many as "
            "the next most common day (6 December, 229). …"
        ],
    )

    dataset: Dataset
    unit: str
    confidence: float
    counted_tracks: int = Field(description="Tracks whose release date names its month")
    months: list[MonthStats] = Field(
        description="January to December; months without tracks left out"
    )
    excluded: list[Excluded] = Field(description="Tracks not counted, and why")
    notes: list[str] = Field(description="Caveats about the data behind the answer")


class HistogramBin(BaseModel):
    lower: float
    upper: float
    label: str = Field(description="[lower, upper): the last bin also holds 100")
    count: int
    share: float = Field(description="count / tracks")


class Histogram(BaseModel):
    model_config = _spotify_example(
        tracks=28356,
        mean=39.33,
        median=42.0,
        zero_popularity=2620,
        bins=[{"lower": 0, "upper": 10, "label": "[0, 10)", "count": 5000, "share": 0.1763}],
    )

    dataset: Dataset
    unit: str
    tracks: int
    mean: float
    median: float
    zero_popularity: int = Field(description="Tracks with popularity 0")
    bins: list[HistogramBin]


class FeatureCorrelation(BaseModel):
    feature: str
    unit: str = Field(description="The feature's unit")
    n: int = Field(description="Tracks with a value for the feature")
    pearson: float | None = Field(description="Pearson's r with popularity")
    spearman: float | None = Field(description="Spearman's rank correlation with popularity")


class CorrelationMatrix(BaseModel):
    columns: list[str]
    values: list[list[float | None]] = Field(description="Pearson's r, row by column")


class FeatureCorrelations(BaseModel):
    model_config = _spotify_example(
        with_popularity=[
            {
                "feature": "duration_ms",
                "unit": "milliseconds",
                "n": 28356,
                "pearson": -0.1397,
                "spearman": -0.1213,
            }
        ],
        matrix={
            "columns": ["popularity", "energy"],
            "values": [[1.0, -0.1036], [-0.1036, 1.0]],
        },
    )

    dataset: Dataset
    unit: str
    with_popularity: list[FeatureCorrelation] = Field(description="Strongest |r| first")
    matrix: CorrelationMatrix


# --- college majors -------------------------------------------------------------------


class DeltaInfo(BaseModel):
    table: str = Field(description="Where the Delta table is (a folder or an s3:// URI)")
    version: int = Field(description="The table version this answer was read from")
    latest_version: int


class Major(BaseModel):
    major_code: int
    major: str
    major_category: str
    rank: int = Field(description="FiveThirtyEight's rank by median earnings")
    total: int = Field(description="Graduates (people)")
    men: int
    women: int
    share_women: float = Field(description="women / total, 0 to 1")
    median_earnings: int = Field(description="Median earnings of full-time workers, USD a year")


PETROLEUM: dict[str, Any] = {
    "major_code": 2419,
    "major": "PETROLEUM ENGINEERING",
    "major_category": "Engineering",
    "rank": 1,
    "total": 2339,
    "men": 2057,
    "women": 282,
    "share_women": 0.120564344,
    "median_earnings": 110000,
}
BIOLOGY: dict[str, Any] = {
    "major_code": 3600,
    "major": "BIOLOGY",
    "major_category": "Biology & Life Science",
    "rank": 71,
    "total": 280709,
    "men": 111762,
    "women": 168947,
    "share_women": 0.6019,
    "median_earnings": 33400,
}


class LargestMajors(BaseModel):
    model_config = _examples({"delta": DELTA, "limit": 1, "majors": [BIOLOGY]})

    delta: DeltaInfo
    limit: int
    majors: list[Major] = Field(description="Most graduates first, then by name")


class CategoryTotals(BaseModel):
    major_category: str
    majors: int = Field(description="Majors in the category")
    men: int
    women: int
    total: int
    share_women: float


class MajorsByCategory(BaseModel):
    model_config = _examples(
        {
            "delta": DELTA,
            "categories": [
                {
                    "major_category": "Engineering",
                    "majors": 29,
                    "men": 408307,
                    "women": 129276,
                    "total": 537583,
                    "share_women": 0.2405,
                }
            ],
        }
    )

    delta: DeltaInfo
    categories: list[CategoryTotals] = Field(description="Most graduates first")


class SharePoint(BaseModel):
    major: str
    major_category: str
    share_women: float
    median_earnings: int


class Fit(BaseModel):
    n: int
    slope: float = Field(description="USD a year per unit of share (0 to 1)")
    slope_per_10_points: float = Field(description="USD a year per 10 percentage points of women")
    intercept: float = Field(description="Fitted median earnings at a share of 0, USD a year")
    r: float = Field(description="Pearson's r")
    r_squared: float


class ShareVsEarnings(BaseModel):
    model_config = _examples(
        {
            "delta": DELTA,
            "points": [
                {
                    "major": "MECHANICAL ENGINEERING RELATED TECHNOLOGIES",
                    "major_category": "Engineering",
                    "share_women": 0.0775,
                    "median_earnings": 40000,
                }
            ],
            "fit": {
                "n": 76,
                "slope": -33090.1,
                "slope_per_10_points": -3309.0,
                "intercept": 60576.5,
                "r": -0.5826,
                "r_squared": 0.3394,
            },
        }
    )

    delta: DeltaInfo
    points: list[SharePoint] = Field(description="Lowest share of women first")
    fit: Fit = Field(description="Least-squares line of median earnings on share of women")


class DeltaVersion(BaseModel):
    version: int
    timestamp: datetime
    operation: str
    rows: int | None = Field(description="Rows written by that version")


class MajorsVersions(BaseModel):
    model_config = _examples(
        {
            "table": DELTA["table"],
            "versions": [
                {
                    "version": 1,
                    "timestamp": "2026-11-23T10:00:00Z",
                    "operation": "WRITE",
                    "rows": 76,
                }
            ],
        }
    )

    table: str
    versions: list[DeltaVersion] = Field(description="Newest first")


class MajorsTable(BaseModel):
    model_config = _examples({"delta_version": 1, "total": 1, "majors": [PETROLEUM]})

    delta_version: int = Field(description="The Delta version the table mirrors")
    total: int
    majors: list[Major] = Field(description="By rank")
