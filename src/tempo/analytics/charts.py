"""Charts of the answers, drawn server-side with matplotlib as SVG or PNG.

Figures are built with the object API, never pyplot: no GUI backend is ever chosen (saving
draws with Agg for PNG and the SVG backend for SVG) and no global figure state is shared
between requests; matplotlib is still not thread-safe, so one chart is drawn at a time.
SVG text stays text (`svg.fonttype: none`): smaller files, readable by screen readers and
tests, and the same bytes for the same answer (fixed hash salt, no date in the metadata).
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from tempo.analytics.schemas import (
    CategoryTotals,
    FeatureCorrelations,
    GenreStats,
    GenreTable,
    Histogram,
    LargestMajors,
    Major,
    MajorsByCategory,
    MonthStats,
    ReleaseMonths,
    ShareVsEarnings,
    TopTracks,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.container import BarContainer
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

Format = Literal["svg", "png"]
Answer = TypeVar("Answer")
MEDIA_TYPES: dict[Format, str] = {"svg": "image/svg+xml", "png": "image/png"}

# The page's palette (site/static/tempo.css), so charts and page belong together.
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
SUBTITLE: dict[str, Any] = {"fontsize": 9, "color": MUTED, "va": "bottom"}  # above the axes

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


@functools.cache
def warm_up() -> None:
    """Import matplotlib (and NumPy, and its font list: about a second of CPU) in a thread
    of its own, once per process. The analytics page calls it as it starts, so that the
    eight charts its browser asks for next do not all queue behind that import, and a
    worker that never shows the page never loads matplotlib."""
    threading.Thread(target=_import_matplotlib, name="charts-warm-up", daemon=True).start()


def _import_matplotlib() -> None:
    import matplotlib.figure  # noqa: F401


def _chart(
    title: str, *, height: float | Callable[[Any], float] = 4.5, **legend: Any
) -> Callable[[Callable[[Answer, Axes], str]], Callable[[Answer, Format], bytes]]:
    """A chart function from one that draws `answer` on the axes and returns its subtitle:
    one chart at a time, in STYLE, `height` inches tall (or as tall as `height(answer)`
    says), with the title, the subtitle in small type under it and, given where it goes, a
    legend, encoded as SVG or PNG. matplotlib is imported by the first chart drawn, not by
    this module: a worker that never draws one never loads it."""

    def decorate(draw: Callable[[Answer, Axes], str]) -> Callable[[Answer, Format], bytes]:
        @functools.wraps(draw)
        def chart(answer: Answer, fmt: Format) -> bytes:
            from matplotlib import rc_context
            from matplotlib.figure import Figure

            inches = height(answer) if callable(height) else height
            with _lock, rc_context(STYLE):
                figure = Figure(figsize=(8.0, inches), layout="constrained")
                axes = figure.add_subplot()
                subtitle = draw(answer, axes)
                axes.set_title(title, pad=18)
                axes.text(0, 1.01, subtitle, transform=axes.transAxes, **SUBTITLE)
                if legend:
                    axes.legend(**legend)
                return _encode(figure, fmt)

        return chart

    return decorate


def _encode(figure: Figure, fmt: Format) -> bytes:
    buffer = io.BytesIO()
    if fmt == "svg":
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    else:
        figure.savefig(buffer, format="png", dpi=144, metadata={"Software": None})
    return buffer.getvalue()


def _mean_bars(
    axes: Axes,
    labels: Sequence[str],
    rows: Sequence[GenreStats | MonthStats],
    colour: str,
    capsize: float,
) -> None:
    """Mean popularity per label, with each mean's confidence interval as an error bar
    (matplotlib's asymmetric bars: the distances below and above each mean)."""
    means = [row.mean for row in rows]
    below = [row.mean - row.ci_low if row.ci_low is not None else 0.0 for row in rows]
    above = [row.ci_high - row.mean if row.ci_high is not None else 0.0 for row in rows]
    axes.bar(labels, means, color=colour, yerr=[below, above], capsize=capsize, ecolor=INK)
    axes.set_ylim(0, max([0.0, *(row.ci_high or row.mean for row in rows)]) * 1.15 or 1)
    axes.set_ylabel("Mean popularity (0 to 100)")


def _men_and_women(
    axes: Axes, labels: Sequence[str], rows: Sequence[Major | CategoryTotals], *, across: bool
) -> tuple[BarContainer, BarContainer]:
    """Graduates per label, men first and women stacked on them: bars `across` the chart
    (horizontal) or upright."""
    men = [row.men for row in rows]
    women = [row.women for row in rows]
    if across:
        return (
            axes.barh(labels, men, color=ACCENT, label="Men"),
            axes.barh(labels, women, left=men, color=PURPLE, label="Women"),
        )
    return (
        axes.bar(labels, men, color=ACCENT, label="Men"),
        axes.bar(labels, women, bottom=men, color=PURPLE, label="Women"),
    )


def _short(text: str | None, limit: int = 38) -> str:
    text = text or "(no name)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


@_chart("The most popular tracks", height=lambda answer: max(2.4, 0.42 * len(answer.tracks) + 1.4))
def top_tracks(answer: TopTracks, axes: Axes) -> str:
    tracks = list(reversed(answer.tracks))  # matplotlib draws the first bar at the bottom
    labels = [f"{_short(t.name)} — {_short(t.artist, 22)}" for t in tracks]
    bars = axes.barh(labels, [t.popularity for t in tracks], color=ACCENT)
    axes.bar_label(bars, padding=3, fontsize=9)
    axes.set_xlim(0, 108)
    axes.set_xlabel(POPULARITY)
    shown = f"top {answer.limit}" + (
        f", {len(tracks) - answer.limit} more tied" if len(tracks) > answer.limit else ""
    )
    return f"{shown}; each track once, from {_source(answer.dataset.source)}"


@_chart("Popularity by playlist genre")
def genres(answer: GenreTable, axes: Axes) -> str:
    rows = answer.genres
    _mean_bars(axes, [f"{g.genre}\nn = {g.count:,}" for g in rows], rows, ACCENT, capsize=5)
    axes.set_xlabel("Playlist genre")
    unit = "each track once per genre" if answer.per == "track" else "once per playlist"
    return f"Mean with its 95 % confidence interval; {unit}"


@_chart("Popularity by release month")
def release_months(answer: ReleaseMonths, axes: Axes) -> str:
    rows = answer.months
    _mean_bars(axes, [m.name[:3] for m in rows], rows, PURPLE, capsize=4)
    axes.set_xlabel("Month of the album's release")
    left_out = sum(e.tracks for e in answer.excluded)
    return (
        f"{answer.counted_tracks:,} tracks whose date names a month, 95 % intervals; "
        f"{left_out:,} left out (year only or no date)"
    )


@_chart("Distribution of popularity")
def histogram(answer: Histogram, axes: Axes) -> str:
    from matplotlib.ticker import FuncFormatter

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
    return (
        f"{answer.tracks:,} tracks in {len(answer.bins)} bins; mean {answer.mean:.1f}, "
        f"median {answer.median:g}; {answer.zero_popularity:,} tracks at 0"
    )


@_chart("Audio features and popularity", height=5.2, loc="lower right", frameon=False)
def features(answer: FeatureCorrelations, axes: Axes) -> str:
    rows = list(reversed(answer.with_popularity))
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
    limit = max([0.05, *(abs(r.pearson or 0) for r in rows), *(abs(r.spearman or 0) for r in rows)])
    axes.set_xlim(-limit * 1.25, limit * 1.25)
    axes.set_xlabel("Correlation with popularity (−1 to 1)")
    return "Each track once; strongest correlation at the top"


@_chart(
    "STEM majors with the most graduates",
    height=lambda answer: max(2.4, 0.4 * len(answer.majors) + 1.4),
    loc="lower right",
    frameon=False,
)
def largest_majors(answer: LargestMajors, axes: Axes) -> str:
    from matplotlib.ticker import FuncFormatter

    majors = list(reversed(answer.majors))
    labels = [_short(m.major.title(), 42) for m in majors]
    _men_and_women(axes, labels, majors, across=True)
    axes.xaxis.set_major_formatter(FuncFormatter(_thousands))
    axes.set_xlabel("Graduates (people)")
    return f"Delta table version {answer.delta.version}; men and women stacked"


@_chart("Men and women per major category", frameon=False)
def majors_by_category(answer: MajorsByCategory, axes: Axes) -> str:
    from matplotlib.ticker import FuncFormatter

    rows = answer.categories
    labels = [c.major_category.replace(" & ", " &\n") for c in rows]
    men, women = _men_and_women(axes, labels, rows, across=False)
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
    return f"Delta table version {answer.delta.version}; shares inside the bars"


@_chart(
    "Share of women vs median earnings", height=5.0, fontsize=8, frameon=False, loc="upper right"
)
def share_vs_earnings(answer: ShareVsEarnings, axes: Axes) -> str:
    from matplotlib.ticker import FuncFormatter, PercentFormatter

    points, fit = answer.points, answer.fit
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
    return (
        f"{fit.n} majors; each 10 points more women: {_dollars(fit.slope_per_10_points)} a "
        f"year in the fit (r² = {fit.r_squared:.2f})"
    )
