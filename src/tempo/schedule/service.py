"""From a request to a plan: validation across fields, catalog look-ups, then the planner."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

import pydantic_core
from sqlmodel.ext.asyncio.session import AsyncSession

from tempo.catalog import repository as catalog
from tempo.catalog.index import CatalogIndexes
from tempo.core.errors import TempoError
from tempo.core.limits import CALENDAR_IMPORTS, run_blocking
from tempo.schedule.calendar_import import CalendarEvent, CalendarProblem, DayEvents, day_events
from tempo.schedule.planner import (
    EssentialConflict,
    FixedItem,
    FlexibleItem,
    NotPlaced,
    Plan,
    Song,
    build_plan,
    clock,
)
from tempo.schedule.schemas import (
    MAX_ITEMS,
    MusicWant,
    SchedulePlan,
    ScheduleRequest,
)


@dataclass(frozen=True)
class FieldProblem:
    field: str
    message: str


class InvalidSchedule(TempoError):
    """The request is well-formed but cannot be planned as given (422); names the fields."""

    def __init__(self, problems: list[FieldProblem], code: str = "invalid_request") -> None:
        self.problems = problems
        fields = ", ".join(p.field for p in problems)
        super().__init__(
            422,
            code,
            f"invalid request: {fields}: {problems[0].message}",
            [{"field": p.field, "message": p.message} for p in problems],
        )


def seconds(value: dt.time) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second


@functools.lru_cache(maxsize=2048)  # times are immutable; a day has few distinct ones
def as_time(value: int) -> dt.time:
    hours, rest = divmod(value, 3600)
    return dt.time(hours, rest // 60, rest % 60)


def check(request: ScheduleRequest) -> None:
    """What a single field's validation cannot see: the window and the item count."""
    problems: list[FieldProblem] = []
    start, end = seconds(request.day_start), seconds(request.day_end)
    if end <= start:
        problems.append(FieldProblem("body.day_end", "day_end must be after day_start"))
    if request.item_count > MAX_ITEMS:
        problems.append(
            FieldProblem(
                "body",
                f"at most {MAX_ITEMS} items (appointments + todos + music), "
                f"got {request.item_count}",
            )
        )
    window = f"the day window {request.day_start}–{request.day_end}"
    for i, a in enumerate(request.appointments):
        if seconds(a.start) < start or seconds(a.start) >= end:
            problems.append(FieldProblem(f"body.appointments.{i}.start", f"outside {window}"))
        if seconds(a.end) > end:
            problems.append(FieldProblem(f"body.appointments.{i}.end", f"outside {window}"))
    for i, t in enumerate(request.todos):
        for name, value in (("earliest", t.earliest), ("latest", t.latest)):
            if value is not None and not start <= seconds(value) <= end:
                problems.append(FieldProblem(f"body.todos.{i}.{name}", f"outside {window}"))
    if request.calendar is not None and request.date is None:
        message = "a calendar needs the date to plan: its events on that day are taken"
        problems.append(FieldProblem("body.date", message))
    if problems:
        raise InvalidSchedule(problems)


async def import_calendar(request: ScheduleRequest) -> DayEvents | None:
    """The request's calendar on its date, parsed and expanded off the event loop (a few
    at once per worker, see CALENDAR_IMPORTS); None without a calendar."""
    if request.calendar is None or request.date is None:
        return None
    async with CALENDAR_IMPORTS.slot():
        try:
            return await run_blocking(day_events, request.calendar, request.date, request.timezone)
        except CalendarProblem as problem:
            raise InvalidSchedule(
                [FieldProblem("body.calendar", str(problem))], code="invalid_calendar"
            ) from None


def calendar_appointments(
    events: list[CalendarEvent], window: tuple[int, int], own: list[FixedItem]
) -> tuple[list[FixedItem], list[NotPlaced]]:
    """The calendar's timed events as appointments, clipped to the day window; those outside
    it are reported. Where essential events overlap (the request's own, or an earlier one of
    the calendar), the later calendar event is made optional, so that it is left out and
    reported rather than failing the whole plan."""
    day_start, day_end = window
    taken = sorted((a.start, a.end) for a in own if a.essential)
    items: list[FixedItem] = []
    outside: list[NotPlaced] = []
    for event in events:
        start, end = max(event.start, day_start), min(event.end, day_end)
        if end <= start:
            reason = f"outside the day window {clock(day_start)}–{clock(day_end)}"
            outside.append(NotPlaced("appointment", event.title, reason, event.source))
            continue
        essential = event.essential
        if essential:
            if any(s < end and start < e for s, e in taken):
                essential = False
            else:
                taken.append((start, end))
        items.append(FixedItem(event.title, start, end, essential, event.source))
    return items, outside


def needs_catalog(request: ScheduleRequest) -> bool:
    return _any_catalog_want(request.music)


def _any_catalog_want(wants: list[MusicWant]) -> bool:
    # Only an inline song has a title (MusicWant checks it): cheaper than `kind` per song.
    return any(want.title is None for want in wants)


async def resolve_music(
    wants: list[MusicWant], session: AsyncSession | None, index: CatalogIndexes | None = None
) -> tuple[list[Song], list[NotPlaced]]:
    """Songs in the order asked, plus the wants that named nothing in the catalog.

    The catalog is only consulted (and `session` only needed) for catalog wants: from the
    process's in-memory `index` when there is one (the server), else by SQL (the command
    line plans one day per process: a query per kind costs less than reading the catalog).
    """
    if session is None:
        if _any_catalog_want(wants):
            raise RuntimeError("catalog look-ups need a database session")
        return [
            Song(w.title, w.duration_seconds, f"music[{i}]", w.artist)
            for i, w in enumerate(wants)
            if w.title is not None and w.duration_seconds is not None
        ], []
    snapshot = None if index is None else await index.get(session)
    if any(want.genre is not None for want in wants):
        genres = set(await catalog.known_genres(session) if snapshot is None else snapshot.genres)
        known = ", ".join(sorted(genres)) or "none: the catalog is empty (tempo catalog load)"
        unknown = [
            FieldProblem(f"body.music.{i}.genre", f"unknown genre {want.genre!r}; known: {known}")
            for i, want in enumerate(wants)
            if want.genre is not None and catalog.normalize_genre(want.genre) not in genres
        ]
        if unknown:
            raise InvalidSchedule(unknown)

    # Every look-up of the request at once: a statement per kind, not one per song.
    track_ids = [w.track_id for w in wants if w.track_id is not None]
    texts = [w.text for w in wants if w.track_id is None and w.text is not None]
    genre_wants = [w.genre for w in wants if w.genre is not None and w.minutes is not None]
    if snapshot is not None:
        by_id = snapshot.tracks_by_id(track_ids)
        by_text = snapshot.match_tracks(texts)
        by_genre = snapshot.tracks_for_genres(genre_wants)
    else:
        by_id = await catalog.tracks_by_id(session, track_ids) if track_ids else {}
        by_text = await catalog.match_tracks(session, texts) if texts else {}
        by_genre = await catalog.tracks_for_genres(session, genre_wants) if genre_wants else {}
    songs: list[Song] = []
    missing: list[NotPlaced] = []
    used: set[str] = set()

    def add(track: catalog.TrackInfo, source: str) -> None:
        used.add(track.track_id)
        title = track.name or track.track_id
        songs.append(
            Song(title, round(track.duration_ms / 1000), source, track.artist, track.track_id)
        )

    for i, want in enumerate(wants):
        source = f"music[{i}]"
        if want.track_id is not None:
            found = by_id.get(want.track_id)
            if found is None:
                missing.append(NotPlaced("music", want.track_id, "unknown track", source))
            else:
                add(found, source)
        elif want.text is not None:
            match = by_text[want.text]
            if match is None:
                reason = "no track in the catalog matches this text"
                missing.append(NotPlaced("music", want.text, reason, source))
            else:
                add(match, source)
        elif want.genre is not None and want.minutes is not None:
            budget = want.minutes * 60
            for track in by_genre[want.genre]:
                length = round(track.duration_ms / 1000)
                if track.track_id not in used and length <= budget:
                    add(track, source)
                    budget -= length
            if budget == want.minutes * 60:
                reason = f"no {want.genre} track is {want.minutes} minutes or shorter"
                missing.append(NotPlaced("music", f"{want.genre} music", reason, source))
        elif want.title is not None and want.duration_seconds is not None:
            songs.append(Song(want.title, want.duration_seconds, source, want.artist))
    return songs, missing


async def plan_day(
    request: ScheduleRequest,
    session: AsyncSession | None,
    index: CatalogIndexes | None = None,
    imported: DayEvents | None = None,
) -> SchedulePlan:
    """The plan; `imported` is the request's calendar when the caller has imported it
    already (`import_calendar`), else it is imported here."""
    return SchedulePlan.model_validate(await _plan_tree(request, session, index, imported))


async def plan_day_json(
    request: ScheduleRequest,
    session: AsyncSession | None,
    index: CatalogIndexes | None = None,
    imported: DayEvents | None = None,
) -> bytes:
    """The plan as `SchedulePlan.model_dump_json()` would encode it, byte for byte, without
    building the model: the tree holds only plain values of the model's field types, in its
    field order, so validating it first would only cost time (a third of a typical day's)."""
    return pydantic_core.to_json(await _plan_tree(request, session, index, imported))


async def _plan_tree(
    request: ScheduleRequest,
    session: AsyncSession | None,
    index: CatalogIndexes | None,
    imported: DayEvents | None,
) -> dict[str, Any]:
    """The plan as the nested dicts of a `SchedulePlan`, fields in the model's order."""
    check(request)
    if imported is None:
        imported = await import_calendar(request)
    songs, missing = await resolve_music(request.music, session, index)
    appointments = [
        FixedItem(a.title, seconds(a.start), seconds(a.end), a.essential, f"appointments[{i}]")
        for i, a in enumerate(request.appointments)
    ]
    todos = [
        FlexibleItem(
            t.title,
            t.duration_minutes * 60,
            None if t.earliest is None else seconds(t.earliest),
            None if t.latest is None else seconds(t.latest),
            t.priority,
            f"todos[{i}]",
        )
        for i, t in enumerate(request.todos)
    ]
    window = (seconds(request.day_start), seconds(request.day_end))
    if imported is not None:
        from_calendar, outside = calendar_appointments(imported.timed, window, appointments)
        appointments += from_calendar
        missing += outside
    try:
        plan = build_plan(window, request.min_gap_minutes * 60, appointments, todos, songs)
    except EssentialConflict as conflict:
        raise InvalidSchedule(
            [
                FieldProblem(f"body.{_field(conflict.first.source)}", str(conflict)),
                FieldProblem(f"body.{_field(conflict.second.source)}", str(conflict)),
            ],
            code="conflicting_appointments",
        ) from None

    unplaced = sorted([*plan.unplaced, *missing], key=lambda u: _order(u.source))
    return {
        "date": request.date,
        "day_start": request.day_start,
        "day_end": request.day_end,
        "timeline": [
            {
                "kind": p.kind,
                "title": p.title,
                "start": as_time(p.start),
                "end": as_time(p.end),
                "duration_seconds": p.end - p.start,
                "essential": p.essential,
                "artist": p.artist,
                "track_id": p.track_id,
                "source": p.source,
            }
            for p in plan.timeline
        ],
        "unplaced": [
            {"kind": u.kind, "title": u.title, "reason": u.reason, "source": u.source}
            for u in unplaced
        ],
        "totals": _totals(plan),
        "all_day": []
        if imported is None
        else [{"title": title, "source": source} for title, source in imported.all_day],
        "timezone": None if imported is None else imported.timezone,
    }


def _totals(plan: Plan) -> dict[str, float]:
    seconds_by_kind = dict.fromkeys(("appointment", "todo", "music", "free"), 0)
    for item in plan.timeline:
        seconds_by_kind[item.kind] += item.end - item.start
    return {
        "busy_minutes": round((seconds_by_kind["appointment"] + seconds_by_kind["todo"]) / 60, 2),
        "music_minutes": round(seconds_by_kind["music"] / 60, 2),
        "free_minutes": round(seconds_by_kind["free"] / 60, 2),
    }


def _field(source: str) -> str:
    """appointments[2] → appointments.2, as validation errors name fields."""
    return source.replace("[", ".").rstrip("]")


def _order(source: str) -> tuple[int, int]:
    kind, _, index = source.rstrip("]").partition("[")
    return ({"appointments": 0, "calendar": 1, "todos": 2, "music": 3}[kind], int(index))
