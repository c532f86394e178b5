"""The scheduling algorithm: pure, deterministic, no I/O. Times are seconds since midnight.

1. Appointments stay where they are. Two essential ones that overlap are an error; a
   non-essential one that overlaps an essential one (or an earlier non-essential one) is
   left out.
2. To-dos go into free time by priority, then earliest deadline, then request order, each
   at the earliest start inside its own window, `gap` away from every other item.
3. Songs are placed whole, in the order asked: each starts at the earliest free moment
   after the previous song ends. Consecutive songs play back to back (a playlist); the
   gap applies between a song and any other item.
4. What is left of the window becomes `free` blocks.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from operator import attrgetter
from typing import Literal, NamedTuple

ItemKind = Literal["appointment", "todo", "music"]
KIND_ORDER = {"appointment": 0, "todo": 1, "music": 2, "free": 3}

# The records are NamedTuples rather than frozen dataclasses: as immutable, and a planned
# day makes dozens of them per request, where a frozen dataclass's __init__ costs several
# times a tuple's.


class FixedItem(NamedTuple):
    title: str
    start: int
    end: int
    essential: bool
    source: str


class FlexibleItem(NamedTuple):
    title: str
    duration: int
    earliest: int | None
    latest: int | None
    priority: int
    source: str


class Song(NamedTuple):
    title: str
    duration: int
    source: str
    artist: str | None = None
    track_id: str | None = None


class Placed(NamedTuple):
    kind: Literal["appointment", "todo", "music", "free"]
    title: str
    start: int
    end: int
    source: str | None = None
    essential: bool | None = None
    artist: str | None = None
    track_id: str | None = None

    @property
    def duration(self) -> int:
        return self.end - self.start


class NotPlaced(NamedTuple):
    kind: ItemKind
    title: str
    reason: str
    source: str


@dataclass(frozen=True)
class Plan:
    timeline: list[Placed]
    unplaced: list[NotPlaced]


class EssentialConflict(Exception):
    """Two essential appointments overlap: the day cannot be planned as asked."""

    def __init__(self, first: FixedItem, second: FixedItem) -> None:
        self.first, self.second = first, second
        super().__init__(
            f"essential appointments {first.source} '{first.title}' ({clock(first.start)}–"
            f"{clock(first.end)}) and {second.source} '{second.title}' ({clock(second.start)}–"
            f"{clock(second.end)}) overlap"
        )


def clock(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def span(seconds: int) -> str:
    """3:29 for a song, 1:30:00 for anything an hour or longer."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _overlaps(a: FixedItem, b: FixedItem) -> bool:
    return a.start < b.end and b.start < a.end


_start = attrgetter("start")
_end = attrgetter("end")
_start_end = attrgetter("start", "end")
# Placed(...) runs the NamedTuple's __new__, a Python function (defaults and all); a plan
# builds dozens of records, so they are made as tuples of all eight fields directly.
_placed = partial(tuple.__new__, Placed)


def place_appointments(
    appointments: Sequence[FixedItem],
) -> tuple[list[FixedItem], list[NotPlaced]]:
    by_time = sorted(appointments, key=_start_end)
    essential = [a for a in by_time if a.essential]
    for first, second in zip(essential, essential[1:], strict=False):
        if _overlaps(first, second):
            raise EssentialConflict(first, second)
    kept = essential[:]
    dropped: list[NotPlaced] = []
    # What is kept, by start (ties in the order kept): the first of these that overlaps an
    # appointment is the clash reported for it.
    by_start = essential[:]
    for item in by_time:
        if item.essential:
            continue
        clash = None
        for k in by_start:
            if k.start >= item.end:  # neither this nor any later one can overlap
                break
            if item.start < k.end:
                clash = k
                break
        if clash is None:
            kept.append(item)
            bisect.insort(by_start, item, key=_start)
            continue
        what = "essential appointment" if clash.essential else "appointment"
        dropped.append(
            NotPlaced(
                "appointment",
                item.title,
                f"overlaps {what} '{clash.title}' ({clock(clash.start)}–{clock(clash.end)})",
                item.source,
            )
        )
    return kept, dropped


def _earliest_fit(
    starts: list[int], ends: list[int], lo: int, hi: int, duration: int, gap: int
) -> int | None:
    """Earliest start in [lo, hi - duration] at least `gap` away from every taken interval
    (no gap is kept at the window's edges).

    `starts` and `ends` are the taken intervals, sorted by end. They never overlap (those
    that would are dropped or placed elsewhere), so their starts are sorted too.
    """
    free_from = lo
    # An interval that ends `gap` or more before `lo` cannot push the start past `lo`. Past
    # those, each interval ends no earlier than the one before: it is the one that pushes.
    for index in range(bisect.bisect_right(ends, lo - gap), len(ends)):
        if starts[index] - gap - free_from >= duration:
            break
        free_from = ends[index] + gap
        if free_from + duration > hi:
            return None
    return free_from if free_from + duration <= hi else None


def build_plan(
    window: tuple[int, int],
    gap: int,
    appointments: Sequence[FixedItem],
    todos: Sequence[FlexibleItem],
    songs: Sequence[Song],
) -> Plan:
    day_start, day_end = window
    kept, unplaced = place_appointments(appointments)
    timeline = [
        _placed(("appointment", a.title, a.start, a.end, a.source, a.essential, None, None))
        for a in kept
    ]
    # What appointments and to-dos take, by end (ties in the order taken), as two lists of
    # ints: bisect and compare them directly, with no record to unpack.
    by_end = sorted(kept, key=_end)
    starts = [a.start for a in by_end]
    ends = [a.end for a in by_end]

    # Sorting is stable: request order breaks ties.
    for todo in sorted(
        todos, key=lambda t: (t.priority, day_end if t.latest is None else t.latest)
    ):
        lo = day_start if todo.earliest is None else max(day_start, todo.earliest)
        hi = day_end if todo.latest is None else min(day_end, todo.latest)
        start = _earliest_fit(starts, ends, lo, hi, todo.duration, gap)
        if start is None:
            minutes = todo.duration // 60
            reason = f"no free slot of {minutes} min between {clock(lo)} and {clock(hi)}"
            unplaced.append(NotPlaced("todo", todo.title, reason, todo.source))
            continue
        end = start + todo.duration
        index = bisect.bisect(ends, end)
        starts.insert(index, start)
        ends.insert(index, end)
        timeline.append(_placed(("todo", todo.title, start, end, todo.source, True, None, None)))

    # Songs never wait on each other (each starts at or after the end of the one before,
    # with no gap between them), only on appointments and to-dos, all in place by now. So
    # the slots songs can take are fixed: before each taken interval and after the last,
    # `gap` away from them and inside the window. Each song is looked for from the slot of
    # the one before, instead of searching everything taken, songs included, every time.
    # (This holds for a gap of 0 or more and no negative durations, as requests have.)
    slot_starts = [day_start]
    slot_starts += [end + gap for end in ends]
    slot_ends = [start - gap if start - gap < day_end else day_end for start in starts]
    slot_ends.append(day_end)
    slot, cursor = 0, day_start  # no slot before the last song's can hold the next one
    for title, duration, source, artist, track_id in songs:
        start = cursor
        if start + duration > slot_ends[slot]:  # most songs fit right after the one before
            for index in range(slot + 1, len(slot_ends)):
                if start < slot_starts[index]:
                    start = slot_starts[index]
                if start + duration <= slot_ends[index]:
                    slot = index
                    break
            else:
                unplaced.append(
                    NotPlaced(
                        "music", title,
                        f"no free gap of {span(duration)} left after {clock(cursor)}",
                        source,
                    )
                )  # fmt: skip
                continue
        cursor = start + duration
        timeline.append(_placed(("music", title, start, cursor, source, None, artist, track_id)))

    # The sorts are stable, so items with the same start stay in the order they were made.
    timeline.sort(key=_start)
    timeline += _free_blocks(timeline, day_start, day_end)
    timeline.sort(key=_start)  # two sorted runs: a merge
    # The timeline's order is the one below, but its key costs a Python call per item. In
    # a valid request only a 0-second song (a catalog track under half a second) can share
    # its start with another item; when none do, the order by start is already that order.
    if len(set(map(_start, timeline))) < len(timeline):
        timeline.sort(key=lambda p: (p.start, KIND_ORDER[p.kind], p.end, p.source or ""))
    return Plan(timeline=timeline, unplaced=unplaced)


def _free_blocks(items: list[Placed], day_start: int, day_end: int) -> list[Placed]:
    """What `items` (sorted by start) leave of the window."""
    free = []
    cursor = day_start
    for item in items:
        start, end = item.start, item.end
        if start > cursor:
            free_end = start if start < day_end else day_end
            free.append(_placed(("free", "Free", cursor, free_end, None, None, None, None)))
        if end > cursor:
            cursor = end
    if cursor < day_end:
        free.append(_placed(("free", "Free", cursor, day_end, None, None, None, None)))
    return free
