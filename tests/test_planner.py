"""The planning algorithm, on hand-made days and on random ones (hypothesis)."""

from __future__ import annotations

import bisect
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tempo.schedule.planner import (
    KIND_ORDER,
    EssentialConflict,
    FixedItem,
    FlexibleItem,
    NotPlaced,
    Placed,
    Plan,
    Song,
    build_plan,
    clock,
    span,
)

H, M = 3600, 60
DAY = (7 * H, 23 * H)


def appt(title: str, start: int, end: int, essential: bool = True, i: int = 0) -> FixedItem:
    return FixedItem(title, start, end, essential, f"appointments[{i}]")


def todo(title: str, minutes: int, *, earliest: int | None = None, latest: int | None = None,
         priority: int = 3, i: int = 0) -> FlexibleItem:  # fmt: skip
    return FlexibleItem(title, minutes * M, earliest, latest, priority, f"todos[{i}]")


def song(title: str, seconds: int, i: int = 0) -> Song:
    return Song(title, seconds, f"music[{i}]")


def placed(plan: Plan, kind: str | None = None) -> list[tuple[str, int, int]]:
    return [(p.title, p.start, p.end) for p in plan.timeline if kind in (None, p.kind)]


def test_appointments_stay_and_todos_fill_by_priority_then_deadline() -> None:
    plan = build_plan(
        (9 * H, 12 * H), 0,
        [appt("Stand-up", 10 * H, 10 * H + 15 * M)],
        [todo("Low", 30, priority=5, i=0), todo("Urgent", 60, priority=1, i=1),
         todo("Soon", 30, priority=3, latest=11 * H, i=2), todo("Later", 30, priority=3, i=3)],
        [],
    )  # fmt: skip
    assert placed(plan, "appointment") == [("Stand-up", 10 * H, 10 * H + 15 * M)]
    assert placed(plan, "todo") == [
        ("Urgent", 9 * H, 10 * H),
        ("Soon", 10 * H + 15 * M, 10 * H + 45 * M),
        ("Later", 10 * H + 45 * M, 11 * H + 15 * M),
        ("Low", 11 * H + 15 * M, 11 * H + 45 * M),
    ]


def test_todo_windows_are_respected_or_reported() -> None:
    plan = build_plan(
        DAY, 0,
        [appt("Meeting", 14 * H, 16 * H)],
        [todo("Afternoon", 60, earliest=14 * H, latest=17 * H, i=0),
         todo("Impossible", 90, earliest=14 * H, latest=16 * H + 30 * M, i=1)],
        [],
    )  # fmt: skip
    assert placed(plan, "todo") == [("Afternoon", 16 * H, 17 * H)]
    [missing] = plan.unplaced
    assert missing.source == "todos[1]"
    assert missing.reason == "no free slot of 90 min between 14:00 and 16:30"


def test_songs_are_never_split_and_keep_their_order() -> None:
    plan = build_plan(
        (9 * H, 10 * H), 0,
        [appt("A", 9 * H + 10 * M, 9 * H + 30 * M)],
        [],
        [song("Fits", 9 * M, 0), song("Too long for the first gap", 12 * M, 1),
         song("Short", 60, 2)],
    )  # fmt: skip
    assert placed(plan, "music") == [
        ("Fits", 9 * H, 9 * H + 9 * M),
        ("Too long for the first gap", 9 * H + 30 * M, 9 * H + 42 * M),
        ("Short", 9 * H + 42 * M, 9 * H + 43 * M),  # after the previous song, as asked
    ]


def test_a_song_that_fits_nowhere_is_reported() -> None:
    plan = build_plan((9 * H, 10 * H), 0, [], [], [song("Epic", 2 * H)])
    [missing] = plan.unplaced
    assert (missing.kind, missing.reason) == ("music", "no free gap of 2:00:00 left after 09:00")


def test_the_gap_separates_items_but_not_consecutive_songs() -> None:
    plan = build_plan(
        (9 * H, 12 * H), 10 * M,
        [appt("Call", 9 * H, 9 * H + 30 * M)],
        [todo("Email", 30)],
        [song("One", 3 * M, 0), song("Two", 4 * M, 1)],
    )  # fmt: skip
    assert placed(plan, "todo") == [("Email", 9 * H + 40 * M, 10 * H + 10 * M)]
    assert placed(plan, "music") == [
        ("One", 10 * H + 20 * M, 10 * H + 23 * M),
        ("Two", 10 * H + 23 * M, 10 * H + 27 * M),
    ]


def test_the_gap_also_holds_before_a_fixed_item() -> None:
    plan = build_plan(
        (9 * H, 12 * H), 10 * M,
        [appt("Call", 10 * H, 10 * H + 30 * M)],
        [todo("Exactly an hour", 60)],
        [song("Before the call", 55 * M)],
    )  # fmt: skip
    assert placed(plan, "todo") == [("Exactly an hour", 10 * H + 40 * M, 11 * H + 40 * M)]
    # 50 minutes before the call (its gap kept) and 10 at the end: the song fits nowhere.
    assert placed(plan, "music") == []
    assert [u.title for u in plan.unplaced] == ["Before the call"]


def test_overlapping_essential_appointments_are_an_error_naming_both() -> None:
    with pytest.raises(EssentialConflict) as caught:
        build_plan(DAY, 0, [appt("Dentist", 9 * H, 10 * H, i=0),
                            appt("Flight", 9 * H + 30 * M, 12 * H, i=1)], [], [])  # fmt: skip
    assert "appointments[0] 'Dentist'" in str(caught.value)
    assert "appointments[1] 'Flight'" in str(caught.value)


def test_optional_appointments_that_clash_are_left_out() -> None:
    plan = build_plan(
        DAY, 0,
        [appt("Gym", 18 * H, 19 * H, essential=False, i=0),
         appt("Dinner", 18 * H + 30 * M, 20 * H, i=1),
         appt("Walk", 20 * H, 21 * H, essential=False, i=2),
         appt("Podcast", 20 * H + 30 * M, 21 * H + 30 * M, essential=False, i=3)],
        [], [],
    )  # fmt: skip
    assert [title for title, _, _ in placed(plan, "appointment")] == ["Dinner", "Walk"]
    reasons = {u.title: u.reason for u in plan.unplaced}
    assert reasons == {
        "Gym": "overlaps essential appointment 'Dinner' (18:30–20:00)",
        "Podcast": "overlaps appointment 'Walk' (20:00–21:00)",
    }


def test_free_blocks_cover_the_rest_of_the_window() -> None:
    plan = build_plan((9 * H, 11 * H), 0, [appt("A", 10 * H, 10 * H + 30 * M)], [], [])
    assert placed(plan, "free") == [("Free", 9 * H, 10 * H), ("Free", 10 * H + 30 * M, 11 * H)]


# --- properties over random days ------------------------------------------------------

WINDOW = st.tuples(st.integers(5 * 60, 9 * 60), st.integers(17 * 60, 23 * 60 + 59)).map(
    lambda w: (w[0] * M, w[1] * M)
)
# Mostly short songs, some too long for any gap left (the API takes up to 4 hours).
SONG_SECONDS = st.integers(30, 600) | st.integers(601, 4 * H)
# Both the fixed values the API is usually sent and anything it allows (0 to 240 minutes).
GAP = st.sampled_from([0, 0, 5 * M, 10 * M]) | st.integers(0, 240).map(lambda m: m * M)


@st.composite
def days(draw: st.DrawFn, song_seconds: st.SearchStrategy[int] = SONG_SECONDS) -> tuple:
    start, end = draw(WINDOW)
    # Minutes already used as an edge (the window's, then each appointment's), drawn again
    # often enough for items to touch each other and the window's edges.
    edges = [start // M, end // M]

    def minute(lo: int, hi: int) -> int:
        near = [m for m in edges if lo <= m <= hi]
        return draw(st.sampled_from(near) if near and draw(st.booleans()) else st.integers(lo, hi))

    appointments = []
    for i in range(draw(st.integers(0, 8))):
        s = minute(start // M, end // M - 1)
        e = minute(s + 1, end // M)
        edges += [s, e]
        appointments.append(
            FixedItem(f"a{i}", s * M, e * M, draw(st.booleans()), f"appointments[{i}]")
        )
    todos = []
    for i in range(draw(st.integers(0, 10))):
        earliest = minute(start // M, end // M - 1) * M if draw(st.booleans()) else None
        latest = minute(start // M + 1, end // M) * M if draw(st.booleans()) else None
        todos.append(FlexibleItem(f"t{i}", draw(st.integers(1, 180)) * M, earliest, latest,
                                  draw(st.integers(1, 5)), f"todos[{i}]"))  # fmt: skip
    songs = [Song(f"s{i}", draw(song_seconds), f"music[{i}]")
             for i in range(draw(st.integers(0, 25)))]  # fmt: skip
    return (start, end), draw(GAP), appointments, todos, songs


def essential_overlap(appointments: list[FixedItem]) -> bool:
    essential = [a for a in appointments if a.essential]
    return any(a.start < b.end and b.start < a.end
               for i, a in enumerate(essential) for b in essential[i + 1:])  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(days())
def test_random_days_obey_every_rule(day: tuple) -> None:
    window, gap, appointments, todos, songs = day
    if essential_overlap(appointments):
        with pytest.raises(EssentialConflict):
            build_plan(window, gap, appointments, todos, songs)
        return
    plan = build_plan(window, gap, appointments, todos, songs)
    assert plan == build_plan(window, gap, appointments, todos, songs)  # deterministic

    items = sorted((p for p in plan.timeline if p.kind != "free"), key=lambda p: p.start)
    everything = sorted(plan.timeline, key=lambda p: p.start)
    # inside the window, no overlaps, and with the free blocks the window is covered exactly
    assert all(window[0] <= p.start < p.end <= window[1] for p in plan.timeline)
    assert all(a.end <= b.start for a, b in zip(everything, everything[1:], strict=False))
    assert sum(p.duration for p in plan.timeline) == window[1] - window[0]

    # music never touches an essential item's time (implied by no overlaps, checked directly)
    essential = [p for p in items if p.kind in ("appointment", "todo") and p.essential]
    for m in (p for p in items if p.kind == "music"):
        assert all(m.end <= e.start or e.end <= m.start for e in essential)

    # the gap holds wherever a flexible item meets another item, except song to song
    for a, b in zip(items, items[1:], strict=False):
        flexible = "todo" in (a.kind, b.kind) or (a.kind == "music") != (b.kind == "music")
        if flexible:
            assert b.start - a.end >= gap, (a, b)

    # every request item is placed or reported, exactly once
    sources = [p.source for p in items] + [u.source for u in plan.unplaced]
    expected = (
        [a.source for a in appointments] + [t.source for t in todos] + [s.source for s in songs]
    )
    assert sorted(sources) == sorted(expected)
    assert {a.source for a in appointments if a.essential} <= {p.source for p in items}

    # to-dos inside their own windows; songs in the order asked, whole
    by_source = {t.source: t for t in todos}
    for p in (p for p in items if p.kind == "todo"):
        t = by_source[p.source]
        assert p.duration == t.duration
        assert t.earliest is None or p.start >= t.earliest
        assert t.latest is None or p.end <= t.latest
    order = {s.source: i for i, s in enumerate(songs)}
    music = [p for p in items if p.kind == "music"]
    assert [order[p.source] for p in music] == sorted(order[p.source] for p in music)
    assert all(p.duration == songs[order[p.source]].duration for p in music)


# --- the optimised planner against the plain one ----------------------------------------


def _reference_build_plan(
    window: tuple[int, int], gap: int, appointments: list[FixedItem], todos: list[FlexibleItem],
    songs: list[Song],
) -> Plan:  # fmt: skip
    """The planner's original algorithm, kept unoptimised as the oracle for build_plan.

    Every taken interval goes into one list kept sorted by end, searched afresh for each
    to-do and song; appointments are checked against every kept one; the day is sorted at
    the end. Change it only together with the rules in the planner's docstring.
    """
    day_start, day_end = window
    essential = sorted((a for a in appointments if a.essential), key=lambda a: (a.start, a.end))
    for first, second in zip(essential, essential[1:], strict=False):
        if first.start < second.end and second.start < first.end:
            raise EssentialConflict(first, second)
    kept, unplaced = list(essential), []
    for item in sorted(
        (a for a in appointments if not a.essential), key=lambda a: (a.start, a.end)
    ):
        clash = next((k for k in sorted(kept, key=lambda k: k.start)
                      if item.start < k.end and k.start < item.end), None)  # fmt: skip
        if clash is None:
            kept.append(item)
            continue
        what = "essential appointment" if clash.essential else "appointment"
        reason = f"overlaps {what} '{clash.title}' ({clock(clash.start)}–{clock(clash.end)})"
        unplaced.append(NotPlaced("appointment", item.title, reason, item.source))

    ends: list[int] = []
    taken: list[tuple[int, int, bool]] = []  # (start, end, is a song), sorted by end

    def take(start: int, end: int, music: bool) -> None:
        index = bisect.bisect(ends, end)
        ends.insert(index, end)
        taken.insert(index, (start, end, music))

    def earliest_fit(lo: int, hi: int, duration: int, music: bool) -> int | None:
        free_from = lo
        for start, end, is_music in itertools.islice(
            taken, bisect.bisect_right(ends, lo - gap), None
        ):
            pad = 0 if music and is_music else gap
            if start - pad - free_from >= duration and free_from + duration <= hi:
                return free_from
            free_from = max(free_from, end + pad)
            if free_from + duration > hi:
                return None
        return free_from if free_from + duration <= hi else None

    timeline = []
    for a in kept:
        take(a.start, a.end, music=False)
        timeline.append(Placed("appointment", a.title, a.start, a.end, a.source, a.essential))
    deadline = {i: day_end if t.latest is None else t.latest for i, t in enumerate(todos)}
    for i in sorted(range(len(todos)), key=lambda i: (todos[i].priority, deadline[i], i)):
        t = todos[i]
        lo = day_start if t.earliest is None else max(day_start, t.earliest)
        hi = min(day_end, deadline[i])
        start = earliest_fit(lo, hi, t.duration, music=False)
        if start is None:
            reason = f"no free slot of {t.duration // 60} min between {clock(lo)} and {clock(hi)}"
            unplaced.append(NotPlaced("todo", t.title, reason, t.source))
            continue
        take(start, start + t.duration, music=False)
        timeline.append(Placed("todo", t.title, start, start + t.duration, t.source, True))
    cursor = day_start
    for s in songs:
        start = earliest_fit(cursor, day_end, s.duration, music=True)
        if start is None:
            reason = f"no free gap of {span(s.duration)} left after {clock(cursor)}"
            unplaced.append(NotPlaced("music", s.title, reason, s.source))
            continue
        take(start, start + s.duration, music=True)
        timeline.append(Placed("music", s.title, start, start + s.duration, s.source, None,
                               s.artist, s.track_id))  # fmt: skip
        cursor = start + s.duration

    free, cursor = [], day_start
    for p in sorted(timeline, key=lambda p: p.start):
        if p.start > cursor:
            free.append(Placed("free", "Free", cursor, min(p.start, day_end)))
        cursor = max(cursor, p.end)
    if cursor < day_end:
        free.append(Placed("free", "Free", cursor, day_end))
    timeline += free
    timeline.sort(key=lambda p: (p.start, KIND_ORDER[p.kind], p.end, p.source or ""))
    return Plan(timeline=timeline, unplaced=unplaced)


# A catalog track shorter than half a second rounds to a 0-second song: allowed here too.
@settings(max_examples=1000, deadline=None)
@given(days(song_seconds=SONG_SECONDS | st.just(0)))
@pytest.mark.slow
def test_build_plan_matches_the_reference_algorithm(day: tuple) -> None:
    try:
        expected = _reference_build_plan(*day)
    except EssentialConflict as conflict:
        with pytest.raises(EssentialConflict) as caught:
            build_plan(*day)
        assert str(caught.value) == str(conflict)
        assert (caught.value.first, caught.value.second) == (conflict.first, conflict.second)
        return
    plan = build_plan(*day)
    assert plan.timeline == expected.timeline
    assert plan.unplaced == expected.unplaced
    assert all(type(p) is Placed for p in plan.timeline)
