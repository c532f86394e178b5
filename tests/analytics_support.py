"""Independent references for the analytics tests: the csv module and `statistics` only.

Nothing here imports tempo.analytics, so an answer that agrees with these was computed twice,
two different ways.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tempo.bundled import WOMEN_STEM
from tests.catalog_support import SPOTIFY_CSV, open_text, spotify_csv

MAJORS_CSV = WOMEN_STEM
FEATURES = [
    "danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
    "instrumentalness", "liveness", "valence", "tempo", "duration_ms",
]  # fmt: skip
__all__ = ["SPOTIFY_CSV", "spotify_csv"]


def majors_csv() -> Path:
    """The real file; a test that needs it fails (never skips) when it is not there."""
    if not MAJORS_CSV.is_file():
        pytest.fail(
            f"the real college majors file is missing: expected {MAJORS_CSV} "
            "(FiveThirtyEight college-majors/women-stem.csv, see src/tempo/bundled/SOURCES.md)"
        )
    return MAJORS_CSV


def read_rows(path: Path) -> list[dict[str, str]]:
    with open_text(path) as handle:
        return [row for row in csv.DictReader(handle) if any(v.strip() for v in row.values())]


def t_975(df: int) -> float:
    """t(0.975, df) by the Cornish–Fisher expansion around the normal quantile.

    With four terms it is exact to better than 1e-9 for df >= 1000 (Abramowitz & Stegun
    26.7.5), which is every group the real files have; small df use printed tables.
    """
    assert df >= 1000, "use a printed t table for small samples"
    z = statistics.NormalDist().inv_cdf(0.975)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    median: float
    sd: float
    low: float
    high: float


def summary(values: Sequence[float]) -> Summary:
    n = len(values)
    mean = statistics.fmean(values)
    sd = statistics.stdev(values)
    half = t_975(n - 1) * sd / math.sqrt(n)
    return Summary(n, mean, statistics.median(values), sd, mean - half, mean + half)


def first_rows(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    """Each track's first row, in file order."""
    first: dict[str, dict[str, str]] = {}
    for row in rows:
        first.setdefault(row["track_id"], row)
    return first


def genre_popularity(rows: list[dict[str, str]], per: str) -> dict[str, list[int]]:
    """Popularity per genre: each (track, genre) once, or each (track, playlist, genre)."""
    seen: set[tuple[str, ...]] = set()
    found: defaultdict[str, list[int]] = defaultdict(list)
    for row in rows:
        genre = row["playlist_genre"].strip().lower()
        key = (row["track_id"], genre) if per == "track" else (
            row["track_id"], row["playlist_id"], genre
        )  # fmt: skip
        if key not in seen:
            seen.add(key)
            found[genre].append(int(row["track_popularity"]))
    return dict(found)


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            result[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return result
