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
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
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


@dataclass
class _Occupied:
    """Taken intervals, sorted by start; `music` marks songs for the playlist rule.

    They never overlap (appointments that would are dropped, everything else goes into
    free time), so their ends are sorted too, which lets a search skip what lies behind it.
    """

    ends: list[int] = field(default_factory=list)
    items: list[tuple[int, int, bool]] = field(default_factory=list)

    def add(self, start: int, end: int, music: bool) -> None:
        index = bisect.bisect(self.ends, end)
        self.ends.insert(index, end)
        self.items.insert(index, (start, end, music))

    def earliest_fit(self, lo: int, hi: int, duration: int, gap: int, music: bool) -> int | None:
        """Earliest start in [lo, hi - duration] clear of every item by `gap` (none is kept
        between two songs, nor at the window's edges)."""
        pad_to_song = 0 if music else gap  # the pad before or after a neighbouring song
        free_from = lo
        # An item that ends `gap` or more before `lo` cannot push the start past `lo`.
        for start, end, is_music in itertools.islice(
            self.items, bisect.bisect_right(self.ends, lo - gap), None
        ):
            pad = pad_to_song if is_music else gap
            if start - pad - free_from >= duration and free_from + duration <= hi:
                return free_from
            free_from = max(free_from, end + pad)
            if free_from + duration > hi:
                return None
        return free_from if free_from + duration <= hi else None


def _overlaps(a: FixedItem, b: FixedItem) -> bool:
    return a.start < b.end and b.start < a.end


def place_appointments(
    appointments: Sequence[FixedItem],
) -> tuple[list[FixedItem], list[NotPlaced]]:
    essential = sorted((a for a in appointments if a.essential), key=lambda a: (a.start, a.end))
    for first, second in zip(essential, essential[1:], strict=False):
        if _overlaps(first, second):
            raise EssentialConflict(first, second)
    kept = list(essential)
    dropped: list[NotPlaced] = []
    optional = sorted((a for a in appointments if not a.essential), key=lambda a: (a.start, a.end))
    for item in optional:
        clash = next((k for k in sorted(kept, key=lambda k: k.start) if _overlaps(item, k)), None)
        if clash is None:
            kept.append(item)
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


def build_plan(
    window: tuple[int, int],
    gap: int,
    appointments: Sequence[FixedItem],
    todos: Sequence[FlexibleItem],
    songs: Sequence[Song],
) -> Plan:
    day_start, day_end = window
    kept, unplaced = place_appointments(appointments)
    occupied = _Occupied()
    timeline: list[Placed] = []
    for a in kept:
        occupied.add(a.start, a.end, music=False)
        timeline.append(Placed("appointment", a.title, a.start, a.end, a.source, a.essential))

    def deadline(t: FlexibleItem) -> int:
        return day_end if t.latest is None else t.latest

    order = sorted(range(len(todos)), key=lambda i: (todos[i].priority, deadline(todos[i]), i))
    for index in order:
        todo = todos[index]
        lo = day_start if todo.earliest is None else max(day_start, todo.earliest)
        hi = min(day_end, deadline(todo))
        start = occupied.earliest_fit(lo, hi, todo.duration, gap, music=False)
        if start is None:
            minutes = todo.duration // 60
            reason = f"no free slot of {minutes} min between {clock(lo)} and {clock(hi)}"
            unplaced.append(NotPlaced("todo", todo.title, reason, todo.source))
            continue
        occupied.add(start, start + todo.duration, music=False)
        timeline.append(Placed("todo", todo.title, start, start + todo.duration, todo.source, True))

    cursor = day_start
    for song in songs:
        start = occupied.earliest_fit(cursor, day_end, song.duration, gap, music=True)
        if start is None:
            unplaced.append(
                NotPlaced(
                    "music", song.title,
                    f"no free gap of {span(song.duration)} left after {clock(cursor)}",
                    song.source,
                )
            )  # fmt: skip
            continue
        end = start + song.duration
        occupied.add(start, end, music=True)
        timeline.append(
            Placed("music", song.title, start, end, song.source, None, song.artist, song.track_id)
        )
        cursor = end

    timeline.extend(_free_blocks(timeline, day_start, day_end))
    timeline.sort(key=lambda p: (p.start, KIND_ORDER[p.kind], p.end, p.source or ""))
    return Plan(timeline=timeline, unplaced=unplaced)


def _free_blocks(timeline: Sequence[Placed], day_start: int, day_end: int) -> list[Placed]:
    free: list[Placed] = []
    cursor = day_start
    for item in sorted(timeline, key=lambda p: p.start):
        if item.start > cursor:
            free.append(Placed("free", "Free", cursor, min(item.start, day_end)))
        cursor = max(cursor, item.end)
    if cursor < day_end:
        free.append(Placed("free", "Free", cursor, day_end))
    return free
