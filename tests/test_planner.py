"""The planning algorithm, on hand-made days and on random ones (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tempo.schedule.planner import (
    EssentialConflict,
    FixedItem,
    FlexibleItem,
    Plan,
    Song,
    build_plan,
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


@st.composite
def days(draw: st.DrawFn) -> tuple:
    start, end = draw(WINDOW)
    minute = st.integers(start // M, end // M - 1)
    appointments = []
    for i in range(draw(st.integers(0, 8))):
        s = draw(minute)
        e = draw(st.integers(s + 1, end // M))
        appointments.append(
            FixedItem(f"a{i}", s * M, e * M, draw(st.booleans()), f"appointments[{i}]")
        )
    todos = []
    for i in range(draw(st.integers(0, 10))):
        earliest = draw(st.none() | minute.map(lambda m: m * M))
        latest = draw(st.none() | minute.map(lambda m: m * M + M))
        todos.append(FlexibleItem(f"t{i}", draw(st.integers(1, 180)) * M, earliest, latest,
                                  draw(st.integers(1, 5)), f"todos[{i}]"))  # fmt: skip
    songs = [Song(f"s{i}", draw(st.integers(30, 600)), f"music[{i}]")
             for i in range(draw(st.integers(0, 25)))]  # fmt: skip
    gap = draw(st.sampled_from([0, 0, 5 * M, 10 * M]))
    return (start, end), gap, appointments, todos, songs


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
