"""A plan as the page shows it: blocks on a day view, rows of a table, totals in words."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from tempo.schedule.schemas import SchedulePlan, TimelineItem
from tempo.web.forms import FormRequest

KIND_LABELS = {"appointment": "Appointment", "todo": "To-do", "music": "Music", "free": "Free"}
# The day view's scale. Its height is this per hour of the window, so positions stay a
# share of the window while an hour keeps a readable size on any screen.
REM_PER_HOUR = 4.0
# Below these heights (rem) a block has room for one line of text, then for none: the
# page gives such blocks a minimum height and a smaller font instead.
ONE_LINE_REM = 2.6
NO_LINE_REM = 1.3
# The min-height of such a block in tempo.css, which then covers the top of the next one.
XS_MIN_REM = 1.1
LINE_REM = 1.2


@dataclass(frozen=True)
class Block:
    kind: str
    label: str
    when: str
    title: str
    top: str  # CSS percentages of the window
    height: str
    size: str  # "", "s" (one line) or "xs" (shorter than a line of text)
    # Room kept at the top for a short block above that was drawn taller than it is; a
    # block left with no room for its text keeps it for screen readers only ("quiet").
    pad: str = ""
    quiet: bool = False


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


def plan_view(plan: SchedulePlan, built: FormRequest) -> PlanView:
    start, end = _seconds(plan.day_start), _seconds(plan.day_end)
    window = max(end - start, 1)
    hours = window / 3600

    def share(seconds: int) -> str:
        return f"{100 * seconds / window:.4f}%"

    blocks = []
    drawn_to = 0.0  # rem: the lowest edge drawn so far, short blocks at their min-height
    for group in _runs(plan.timeline):
        first, last = group[0], group[-1]
        begin, finish = _seconds(first.start), _seconds(last.end)
        top_rem = (begin - start) / 3600 * REM_PER_HOUR
        rem = (finish - begin) / 3600 * REM_PER_HOUR
        size = "xs" if rem < NO_LINE_REM else "s" if rem < ONE_LINE_REM else ""
        covered = max(drawn_to - top_rem, 0.0)
        quiet = covered > 0 and rem - covered < LINE_REM
        blocks.append(
            Block(
                kind=first.kind,
                label=KIND_LABELS[first.kind],
                when=f"{clock(first.start)}–{clock(last.end)}",
                title=_what(first) if len(group) == 1 else _playlist(group),
                top=share(begin - start),
                height=share(finish - begin),
                size=size,
                pad=f"{covered:.2f}rem" if covered > 0 and not quiet else "",
                quiet=quiet,
            )
        )
        drawn_to = max(drawn_to, top_rem + (max(rem, XS_MIN_REM) if size == "xs" else rem))
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
            label=KIND_LABELS[item.kind],
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
        height_rem=f"{max(hours * REM_PER_HOUR, 12):.2f}",
        blocks=blocks,
        ticks=ticks,
        rows=rows,
        unplaced=unplaced,
        totals=totals,
        placed_songs=sum(1 for item in plan.timeline if item.kind == "music"),
    )


def clock(value: dt.time) -> str:
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def length(seconds: int) -> str:
    """'1 h 30 min', '45 min', '3 min 30 s'."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    parts.append(f"{secs} s" if secs else "")
    return " ".join(p for p in parts if p) or "0 min"


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


def _seconds(value: dt.time) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second
