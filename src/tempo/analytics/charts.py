"""Charts of the answers, drawn server-side with matplotlib as SVG or PNG.

Figures are built with the object API, never pyplot: no GUI backend is ever chosen (saving
draws with Agg for PNG and the SVG backend for SVG) and no global figure state is shared
between requests; matplotlib is still not thread-safe, so one chart is drawn at a time.
SVG text stays text (`svg.fonttype: none`): smaller files, readable by screen readers and
tests, and the same bytes for the same answer (fixed hash salt, no date in the metadata).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from typing import Any, Literal

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter
from matplotlib.typing import RcKeyType

from tempo.analytics.schemas import (
    FeatureCorrelations,
    GenreTable,
    Histogram,
    LargestMajors,
    MajorsByCategory,
    ReleaseMonths,
    ShareVsEarnings,
    TopTracks,
)

Format = Literal["svg", "png"]
MEDIA_TYPES: dict[Format, str] = {"svg": "image/svg+xml", "png": "image/png"}

# The page's palette (web/static/tempo.css), so charts and page belong together.
INK, MUTED, LINE = "#1b1f24", "#4a5361", "#c9cfd8"
ACCENT, PURPLE, GREEN, AMBER = "#1d4ed8", "#7e22ce", "#15803d", "#b45309"
CATEGORY_COLOURS = (ACCENT, PURPLE, GREEN, AMBER, "#be123c", "#0e7490")
STYLE: dict[RcKeyType, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelcolor": INK,
    "axes.edgecolor": MUTED,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "text.color": INK,
    "svg.fonttype": "none",
    "svg.hashsalt": "tempo",
}
POPULARITY = "Spotify popularity (0 to 100)"

_lock = threading.Lock()


def _thousands(value: float, _: object = None) -> str:
    return f"{value:,.0f}"


def _dollars(value: float, _: object = None) -> str:
    return f"{'−' if value < 0 else ''}${abs(value):,.0f}"


def _signed(value: float, decimals: int = 2) -> str:
    return f"{value:.{decimals}f}".replace("-", "−")


def shown_source(label: str) -> str:
    """A source as a page or chart shows it: a local path by its file name only, since
    where the server keeps its files is nobody's business on a public page, and a URL as
    it is (its credentials and query are already gone from the label)."""
    if "://" in label:
        return label
    return label.rstrip("/").rsplit("/", 1)[-1] or label


def _source(label: str) -> str:
    """shown_source, with a long URL shortened to its file name, to fit a subtitle."""
    shown = shown_source(label)
    return shown if len(shown) <= 48 else shown.rstrip("/").rsplit("/", 1)[-1]


def _figure(width: float = 8.0, height: float = 4.5) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.add_subplot()


def _subtitle(axes: Axes, text: str) -> None:
    axes.text(0, 1.01, text, transform=axes.transAxes, fontsize=9, color=MUTED, va="bottom")


def _encode(figure: Figure, fmt: Format) -> bytes:
    buffer = io.BytesIO()
    if fmt == "svg":
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    else:
        figure.savefig(buffer, format="png", dpi=144, metadata={"Software": None})
    return buffer.getvalue()


def _errors(
    means: Sequence[float], lows: Sequence[float | None], highs: Sequence[float | None]
) -> list[list[float]]:
    """matplotlib's asymmetric error bars: distances below and above each mean."""
    below = [m - lo if lo is not None else 0.0 for m, lo in zip(means, lows, strict=True)]
    above = [hi - m if hi is not None else 0.0 for m, hi in zip(means, highs, strict=True)]
    return [below, above]


def _short(text: str | None, limit: int = 38) -> str:
    text = text or "(no name)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def top_tracks(answer: TopTracks, fmt: Format) -> bytes:
    tracks = list(reversed(answer.tracks))  # matplotlib draws the first bar at the bottom
    with _lock, rc_context(STYLE):
        figure, axes = _figure(height=max(2.4, 0.42 * len(tracks) + 1.4))
        labels = [f"{_short(t.name)} — {_short(t.artist, 22)}" for t in tracks]
        bars = axes.barh(labels, [t.popularity for t in tracks], color=ACCENT)
        axes.bar_label(bars, padding=3, fontsize=9)
        axes.set_xlim(0, 108)
        axes.set_xlabel(POPULARITY)
        axes.set_title("The most popular tracks", pad=18)
        shown = f"top {answer.limit}" + (
            f", {len(tracks) - answer.limit} more tied" if len(tracks) > answer.limit else ""
        )
        _subtitle(axes, f"{shown}; each track once, from {_source(answer.dataset.source)}")
        return _encode(figure, fmt)


def genres(answer: GenreTable, fmt: Format) -> bytes:
    rows = answer.genres
    with _lock, rc_context(STYLE):
        figure, axes = _figure()
        means = [g.mean for g in rows]
        labels = [f"{g.genre}\nn = {g.count:,}" for g in rows]
        axes.bar(
            labels,
            means,
            color=ACCENT,
            yerr=_errors(means, [g.ci_low for g in rows], [g.ci_high for g in rows]),
            capsize=5,
            ecolor=INK,
        )
        axes.set_ylim(0, max([0.0, *(g.ci_high or g.mean for g in rows)]) * 1.15 or 1)
        axes.set_ylabel("Mean popularity (0 to 100)")
        axes.set_xlabel("Playlist genre")
        axes.set_title("Popularity by playlist genre", pad=18)
        unit = "each track once per genre" if answer.per == "track" else "once per playlist"
        _subtitle(axes, f"Mean with its 95 % confidence interval; {unit}")
        return _encode(figure, fmt)


def release_months(answer: ReleaseMonths, fmt: Format) -> bytes:
    rows = answer.months
    with _lock, rc_context(STYLE):
        figure, axes = _figure()
        means = [m.mean for m in rows]
        axes.bar(
            [m.name[:3] for m in rows],
            means,
            color=PURPLE,
            yerr=_errors(means, [m.ci_low for m in rows], [m.ci_high for m in rows]),
            capsize=4,
            ecolor=INK,
        )
        axes.set_ylim(0, max([0.0, *(m.ci_high or m.mean for m in rows)]) * 1.15 or 1)
        axes.set_ylabel("Mean popularity (0 to 100)")
        axes.set_xlabel("Month of the album's release")
        axes.set_title("Popularity by release month", pad=18)
        left_out = sum(e.tracks for e in answer.excluded)
        _subtitle(
            axes,
            f"{answer.counted_tracks:,} tracks whose date names a month, 95 % intervals; "
            f"{left_out:,} left out (year only or no date)",
        )
        return _encode(figure, fmt)


def histogram(answer: Histogram, fmt: Format) -> bytes:
    with _lock, rc_context(STYLE):
        figure, axes = _figure()
        width = answer.bins[0].upper - answer.bins[0].lower if answer.bins else 10
        axes.bar(
            [b.lower for b in answer.bins],
            [b.count for b in answer.bins],
            width=width,
            align="edge",
            color=GREEN,
            edgecolor="white",
        )
        axes.set_xlim(0, 100)
        axes.yaxis.set_major_formatter(FuncFormatter(_thousands))
        axes.set_xlabel(POPULARITY)
        axes.set_ylabel("Tracks")
        axes.set_title("Distribution of popularity", pad=18)
        _subtitle(
            axes,
            f"{answer.tracks:,} tracks in {len(answer.bins)} bins; mean {answer.mean:.1f}, "
            f"median {answer.median:g}; {answer.zero_popularity:,} tracks at 0",
        )
        return _encode(figure, fmt)


def features(answer: FeatureCorrelations, fmt: Format) -> bytes:
    rows = list(reversed(answer.with_popularity))
    with _lock, rc_context(STYLE):
        figure, axes = _figure(height=5.2)
        positions = list(range(len(rows)))
        axes.barh(
            [p + 0.2 for p in positions],
            [r.pearson or 0.0 for r in rows],
            height=0.4,
            color=ACCENT,
            label="Pearson's r",
        )
        axes.barh(
            [p - 0.2 for p in positions],
            [r.spearman or 0.0 for r in rows],
            height=0.4,
            color=AMBER,
            label="Spearman's ρ",
        )
        axes.set_yticks(positions, [r.feature for r in rows])
        axes.axvline(0, color=INK, linewidth=0.8)
        limit = max(
            [0.05, *(abs(r.pearson or 0) for r in rows), *(abs(r.spearman or 0) for r in rows)]
        )
        axes.set_xlim(-limit * 1.25, limit * 1.25)
        axes.set_xlabel("Correlation with popularity (−1 to 1)")
        axes.set_title("Audio features and popularity", pad=18)
        _subtitle(axes, "Each track once; strongest correlation at the top")
        axes.legend(loc="lower right", frameon=False)
        return _encode(figure, fmt)


def largest_majors(answer: LargestMajors, fmt: Format) -> bytes:
    majors = list(reversed(answer.majors))
    with _lock, rc_context(STYLE):
        figure, axes = _figure(height=max(2.4, 0.4 * len(majors) + 1.4))
        labels = [_short(m.major.title(), 42) for m in majors]
        axes.barh(labels, [m.men for m in majors], color=ACCENT, label="Men")
        axes.barh(
            labels,
            [m.women for m in majors],
            left=[m.men for m in majors],
            color=PURPLE,
            label="Women",
        )
        axes.xaxis.set_major_formatter(FuncFormatter(_thousands))
        axes.set_xlabel("Graduates (people)")
        axes.set_title("STEM majors with the most graduates", pad=18)
        _subtitle(axes, f"Delta table version {answer.delta.version}; men and women stacked")
        axes.legend(loc="lower right", frameon=False)
        return _encode(figure, fmt)


def majors_by_category(answer: MajorsByCategory, fmt: Format) -> bytes:
    rows = answer.categories
    with _lock, rc_context(STYLE):
        figure, axes = _figure()
        labels = [c.major_category.replace(" & ", " &\n") for c in rows]
        men = axes.bar(labels, [c.men for c in rows], color=ACCENT, label="Men")
        women = axes.bar(
            labels,
            [c.women for c in rows],
            bottom=[c.men for c in rows],
            color=PURPLE,
            label="Women",
        )
        for bars, shares in (
            (men, [1 - c.share_women for c in rows]),
            (women, [c.share_women for c in rows]),
        ):
            axes.bar_label(
                bars,
                labels=[f"{s:.0%}" for s in shares],
                label_type="center",
                color="white",
                fontsize=9,
            )
        axes.yaxis.set_major_formatter(FuncFormatter(_thousands))
        axes.set_ylabel("Graduates (people)")
        axes.set_xlabel("Major category")
        axes.set_title("Men and women per major category", pad=18)
        _subtitle(axes, f"Delta table version {answer.delta.version}; shares inside the bars")
        axes.legend(frameon=False)
        return _encode(figure, fmt)


def share_vs_earnings(answer: ShareVsEarnings, fmt: Format) -> bytes:
    points, fit = answer.points, answer.fit
    with _lock, rc_context(STYLE):
        figure, axes = _figure(height=5.0)
        categories = sorted({p.major_category for p in points})
        for i, category in enumerate(categories):
            mine = [p for p in points if p.major_category == category]
            axes.scatter(
                [p.share_women for p in mine],
                [p.median_earnings for p in mine],
                s=26,
                color=CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)],
                label=category,
                alpha=0.85,
            )
        xs = [min(p.share_women for p in points), max(p.share_women for p in points)]
        axes.plot(
            xs,
            [fit.intercept + fit.slope * x for x in xs],
            color=INK,
            linewidth=1.5,
            label=f"Least-squares line (r = {_signed(fit.r)})",
        )
        axes.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        axes.yaxis.set_major_formatter(FuncFormatter(_dollars))
        axes.set_xlabel("Share of women among graduates (%)")
        axes.set_ylabel("Median earnings (USD a year)")
        axes.set_title("Share of women vs median earnings", pad=18)
        _subtitle(
            axes,
            f"{fit.n} majors; each 10 points more women: {_dollars(fit.slope_per_10_points)} a "
            f"year in the fit (r² = {fit.r_squared:.2f})",
        )
        axes.legend(fontsize=8, frameon=False, loc="upper right")
        return _encode(figure, fmt)
