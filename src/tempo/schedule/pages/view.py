"""A plan as the page shows it: blocks on a day view, rows of a table, totals in words."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from tempo.schedule.pages.forms import FormRequest
from tempo.schedule.schemas import SchedulePlan, TimelineItem
from tempo.schedule.text import length

KIND_LABELS = {"appointment": "Appointment", "todo": "To-do", "music": "Music", "free": "Free"}
# The day view's scale. Its height is this per hour of the window, so positions stay a
# share of the window while an hour keeps a readable size on any screen.
REM_PER_HOUR = 4.0
# Below these heights (rem) a block has room for one line of text, then for none.
ONE_LINE_REM = 2.6
NO_LINE_REM = 1.3
# A block with no room for its text is drawn at its true height and labelled in a lane
# beside the day column instead. The labels there are this tall (tempo.css) and are
# stacked so that no two overlap, each as close to its block as the others allow.
SIDE_LABEL_REM = 1.1
MIN_HEIGHT_REM = 12.0


@dataclass(frozen=True)
class Block:
    kind: str
    label: str
    when: str
    title: str
    top: str  # CSS percentages of the window
    height: str
    size: str  # "", "s" (one line) or "xs" (shorter than a line of text)
    # An "xs" block's label in the lane beside the column: its top, in rem from the
    # top of the day view, and the leader line from the block's middle to the label's.
    side_top: str = ""
    leader: tuple[str, str] = ("", "")


@dataclass(frozen=True)
class Tick:
    label: str
    top: str


@dataclass(frozen=True)
class Row:
    start: str
    end: str
    length: str
    kind: str
    label: str
    what: str


@dataclass(frozen=True)
class NotPlacedRow:
    where: str
    kind: str
    title: str
    reason: str


@dataclass(frozen=True)
class PlanView:
    heading: str
    window: str
    height_rem: str
    blocks: list[Block]
    ticks: list[Tick]
    rows: list[Row]
    unplaced: list[NotPlacedRow]
    totals: list[tuple[str, str]]
    placed_songs: int
    side_labels: bool  # some blocks are labelled in the lane beside the column
    all_day: list[str]  # the calendar's all-day events, which block no time
    timezone: str | None  # the zone the calendar's times were read in


def _label(item: TimelineItem) -> str:
    """'Calendar' for an appointment the imported calendar gave, else the kind's label."""
    if item.kind == "appointment" and (item.source or "").startswith("calendar["):
        return "Calendar"
    return KIND_LABELS[item.kind]


def plan_view(plan: SchedulePlan, built: FormRequest) -> PlanView:
    start, end = _seconds(plan.day_start), _seconds(plan.day_end)
    window = max(end - start, 1)
    hours = window / 3600

    def share(seconds: int) -> str:
        return f"{100 * seconds / window:.4f}%"

    groups = _runs(plan.timeline)
    # rem per second: REM_PER_HOUR, or more for a window too short to fill the minimum.
    per_second = max(hours * REM_PER_HOUR, MIN_HEIGHT_REM) / window

    def size_of(group: Sequence[TimelineItem]) -> str:
        rem = (_seconds(group[-1].end) - _seconds(group[0].start)) * per_second
        return "xs" if rem < NO_LINE_REM else "s" if rem < ONE_LINE_REM else ""

    sizes = [size_of(group) for group in groups]
    # Each side label is centred on its block where the others leave room.
    middles = [
        (_seconds(g[0].start) + _seconds(g[-1].end)) / 2 - start
        for g, size in zip(groups, sizes, strict=True)
        if size == "xs"
    ]
    # The view grows when the side labels need more room than the day's hours give; the
    # blocks, placed in percentages, grow with it.
    height_rem = max(window * per_second, len(middles) * SIDE_LABEL_REM)
    per_second = height_rem / window
    wanted = [m * per_second - SIDE_LABEL_REM / 2 for m in middles]
    side_tops = iter(zip(middles, _stack(wanted, SIDE_LABEL_REM, height_rem), strict=True))
    blocks = []
    for group, size in zip(groups, sizes, strict=True):
        first, last = group[0], group[-1]
        begin, finish = _seconds(first.start), _seconds(last.end)
        middle, side_top = next(side_tops) if size == "xs" else (0.0, 0.0)
        blocks.append(
            Block(
                kind=first.kind,
                label=_label(first),
                when=f"{clock(first.start)}–{clock(last.end)}",
                title=_what(first) if len(group) == 1 else _playlist(group),
                top=share(begin - start),
                height=share(finish - begin),
                size=size,
                side_top=f"{side_top:.3f}rem" if size == "xs" else "",
                leader=(
                    (f"{middle * per_second:.3f}", f"{side_top + SIDE_LABEL_REM / 2:.3f}")
                    if size == "xs"
                    else ("", "")
                ),
            )
        )
    ticks = [
        Tick(f"{hour:02d}:00", share(hour * 3600 - start))
        for hour in range(math.ceil(start / 3600), end // 3600 + 1)
    ]
    rows = [
        Row(
            start=clock(item.start),
            end=clock(item.end),
            length=length(item.duration_seconds),
            kind=item.kind,
            label=_label(item),
            what=_what(item),
        )
        for item in plan.timeline
    ]
    unplaced = [
        NotPlacedRow(built.row_label(u.source), KIND_LABELS[u.kind], u.title, u.reason)
        for u in plan.unplaced
    ]
    t = plan.totals
    totals = [
        ("Appointments and to-dos", length(round(t.busy_minutes * 60))),
        ("Music", length(round(t.music_minutes * 60))),
        ("Free", length(round(t.free_minutes * 60))),
    ]
    when = plan.date
    day = f"{when:%A} {when.day} {when:%B %Y}" if when else "Your day"  # %-d is not portable
    return PlanView(
        heading=day,
        window=f"{clock(plan.day_start)}–{clock(plan.day_end)}",
        height_rem=f"{height_rem:.2f}",
        blocks=blocks,
        ticks=ticks,
        rows=rows,
        unplaced=unplaced,
        totals=totals,
        placed_songs=sum(1 for item in plan.timeline if item.kind == "music"),
        side_labels=bool(middles),
        all_day=[event.title for event in plan.all_day],
        timezone=plan.timezone,
    )


def clock(value: dt.time) -> str:
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def _what(item: TimelineItem) -> str:
    if item.kind == "free":
        return ""  # the kind says it all
    text = item.title
    if item.artist:
        text += f" — {item.artist}"
    if item.kind == "appointment" and item.essential is False:
        text += " (optional)"
    return text


def _playlist(songs: Sequence[TimelineItem]) -> str:
    return f"{len(songs)} songs: " + ", ".join(song.title for song in songs)


def _runs(timeline: Sequence[TimelineItem]) -> list[list[TimelineItem]]:
    """Songs that play back to back become one block: a playlist reads better than a stack
    of slivers a few pixels high."""
    runs: list[list[TimelineItem]] = []
    for item in timeline:
        previous = runs[-1][-1] if runs else None
        if (
            previous is not None
            and item.kind == previous.kind == "music"
            and item.start == previous.end
        ):
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def _stack(wanted: Sequence[float], size: float, limit: float) -> list[float]:
    """Tops for labels of height `size`, in order, each as near its wanted top as it can be
    with none overlapping another and all inside 0..limit (which must hold them all)."""
    tops: list[float] = []
    for top in wanted:  # down the page: each label starts below the one before it
        tops.append(max(top, tops[-1] + size if tops else 0.0))
    bottom = limit
    for i in range(len(tops) - 1, -1, -1):  # then up from the bottom where they ran over
        tops[i] = max(min(tops[i], bottom - size), 0.0)  # 0.0: rounding of a full stack
        bottom = tops[i]
    return tops


def _seconds(value: dt.time) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second
