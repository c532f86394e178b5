"""The Spotify answers as a plain-text report, for `tempo analyze spotify`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tempo.analytics.schemas import (
    FeatureCorrelations,
    GenreTable,
    Histogram,
    ReleaseMonths,
    TopTracks,
)

BAR_WIDTH = 30


@dataclass(frozen=True)
class SpotifyReport:
    top: TopTracks
    genres_per_track: GenreTable
    genres_per_playlist: GenreTable
    months: ReleaseMonths
    histogram: Histogram
    features: FeatureCorrelations


def _number(value: float | int | None, decimals: int = 0) -> str:
    return "–" if value is None else f"{value:,.{decimals}f}".replace("-", "−")


def _interval(low: float | None, high: float | None) -> str:
    return "–" if low is None or high is None else f"{_number(low, 1)}–{_number(high, 1)}"


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]
) -> list[str]:
    """Aligned columns: text to the left, numbers (right=True) to the right."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if is_right else cell.ljust(width)
            for cell, width, is_right in zip(cells, widths, right, strict=True)
        ]
        return "  " + "  ".join(padded).rstrip()

    return [line(headers), *(line(row) for row in rows)]


def _genres(answer: GenreTable) -> list[str]:
    lines = [f"Popularity by playlist genre, {answer.unit} ({answer.entries:,} entries)"]
    lines += table(
        ["genre", "n", "mean", "median", "sd", "95% CI for the mean"],
        [
            [
                g.genre,
                _number(g.count),
                _number(g.mean, 1),
                _number(g.median, 1),
                _number(g.sd, 1),
                _interval(g.ci_low, g.ci_high),
            ]
            for g in answer.genres
        ],
        [False, True, True, True, True, True],
    )
    if answer.rows_without_genre:
        lines.append(f"  left out: {answer.rows_without_genre:,} rows without a playlist genre")
    return lines


def spotify_report(report: SpotifyReport) -> list[str]:
    dataset = report.top.dataset
    lines = [
        f"Spotify songs: {dataset.source}",
        f"  {dataset.rows_read:,} rows read, {dataset.rows_used:,} used, "
        f"{dataset.tracks:,} distinct tracks",
    ]
    lines += [
        f"  left out: {r.rows:,} rows: {r.reason} (first rows: "
        f"{', '.join(str(n) for n in r.first_rows)})"
        for r in dataset.rejected
    ]

    top = report.top
    lines += ["", f"Most popular track(s), each track once (popularity {top.popularity_cutoff}+)"]
    lines += table(
        ["popularity", "track", "artist", "genres", "playlists"],
        [
            [
                str(t.popularity),
                t.name or t.track_id,
                t.artist or "–",
                ", ".join(t.genres),
                str(t.playlists),
            ]
            for t in top.tracks
        ],
        [True, False, False, False, True],
    )

    lines += ["", *_genres(report.genres_per_track), "", *_genres(report.genres_per_playlist)]

    months = report.months
    lines += [
        "",
        f"Popularity by release month, each track once ({months.counted_tracks:,} tracks "
        "whose release date names its month)",
    ]
    lines += table(
        ["month", "n", "mean", "median", "95% CI for the mean"],
        [
            [
                m.name,
                _number(m.count),
                _number(m.mean, 1),
                _number(m.median, 1),
                _interval(m.ci_low, m.ci_high),
            ]
            for m in months.months
        ],
        [False, True, True, True, True],
    )
    lines += [
        f"  left out: {e.tracks:,} tracks ({e.rows:,} rows): {e.reason}" for e in months.excluded
    ]
    lines += [f"  note: {note}" for note in months.notes]

    histogram = report.histogram
    lines += [
        "",
        f"Distribution of popularity, each track once ({histogram.tracks:,} tracks; mean "
        f"{histogram.mean:.1f}, median {histogram.median:g}, {histogram.zero_popularity:,} at 0)",
    ]
    largest = max((b.count for b in histogram.bins), default=0) or 1
    lines += table(
        ["popularity", "tracks", "share", ""],
        [
            [
                b.label,
                _number(b.count),
                f"{b.share:.1%}",
                "█" * max(round(BAR_WIDTH * b.count / largest), 1 if b.count else 0),
            ]
            for b in histogram.bins
        ],
        [False, True, True, False],
    )

    features = report.features
    lines += ["", "Audio features vs popularity, each track once (strongest first)"]
    lines += table(
        ["feature", "unit", "n", "Pearson r", "Spearman rho"],
        [
            [f.feature, f.unit, _number(f.n), _number(f.pearson, 3), _number(f.spearman, 3)]
            for f in features.with_popularity
        ],
        [False, False, True, True, True],
    )
    return lines
