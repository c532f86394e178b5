"""One day's events from an iCalendar file (RFC 5545), for `POST /schedule`'s `calendar`.

Blocking and CPU-bound (parsing, expanding recurrences): the route runs it in the pool for
expensive work (tempo.core.limits.run_blocking). What it costs is bounded before it starts:
expanding a rule walks every occurrence from DTSTART (python-dateutil, about 3 µs a step),
so a rule is refused when the steps up to the day, or its occurrences on the day, would be
too many (`estimate_rule`). icalendar and recurring_ical_events are imported here, lazily,
never at start-up.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from tempo.schedule.schemas import MAX_ITEMS, zone

DAY = 24 * 3600
# 0.6–1 s of expansion at 3–5 µs a step: what one calendar may cost, all rules together.
MAX_RECURRENCE_STEPS = 200_000
MAX_TITLE = 200
# Tempo's own .ics marks its events with their kind (tempo.schedule.ics).
TEMPO_KIND = "X-TEMPO-KIND"
# Tempo's planned to-dos and songs are the plan's output, planned again from the request:
# they do not come back as appointments.
TEMPO_REPLANNED = frozenset({"todo", "music"})

# Seconds in one period of each frequency (a month and a year at their shortest: more
# periods, never fewer, than the calendar holds).
PERIOD = {
    "SECONDLY": 1,
    "MINUTELY": 60,
    "HOURLY": 3600,
    "DAILY": DAY,
    "WEEKLY": 7 * DAY,
    "MONTHLY": 28 * DAY,
    "YEARLY": 365 * DAY,
}
# The BY… parts finer than each frequency: they multiply the occurrences of one period.
# Coarser ones only filter, and BYSETPOS only picks among them; both are left out.
_TIME_PARTS = ("BYHOUR", "BYMINUTE", "BYSECOND")
FINER = {
    "SECONDLY": (),
    "MINUTELY": ("BYSECOND",),
    "HOURLY": ("BYMINUTE", "BYSECOND"),
    "DAILY": _TIME_PARTS,
    "WEEKLY": ("BYDAY", *_TIME_PARTS),
    "MONTHLY": ("BYMONTHDAY", "BYDAY", *_TIME_PARTS),
    "YEARLY": ("BYMONTH", "BYWEEKNO", "BYYEARDAY", "BYMONTHDAY", "BYDAY", *_TIME_PARTS),
}


class CalendarProblem(Exception):
    """The calendar cannot be used as sent; the message says why, for the person."""


@dataclass(frozen=True)
class CalendarEvent:
    """A timed event on the day: seconds since the day's local midnight, clipped to it."""

    title: str
    start: int
    end: int
    essential: bool
    source: str


@dataclass(frozen=True)
class DayEvents:
    timezone: str
    timed: list[CalendarEvent]
    all_day: list[tuple[str, str]]  # (title, source)


# The last calendars read, per worker: the planner page sends its calendar again at every
# re-render (a row added, a song searched), and a client re-plans one day with other to-dos.
# Keyed by the text's SHA-256, so no text is kept; refusals are kept too, so a hostile
# calendar sent again costs a hash (1 MiB: about 1 ms) rather than its parse.
RECENT_CALENDARS = 64
_recent: OrderedDict[tuple[bytes, dt.date, str | None], DayEvents | CalendarProblem]
_recent = OrderedDict()
_recent_lock = threading.Lock()


def forget_calendars() -> None:
    """Empty the last calendars read (for measuring a first read)."""
    with _recent_lock:
        _recent.clear()


def day_events(text: str, day: dt.date, timezone: str | None) -> DayEvents:
    """The events of `text` that touch `day` in `timezone` (see README, Plan your day), from
    the last calendars read when it is one of them. The answer is shared: not to be changed."""
    key = (hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest(), day, timezone)
    with _recent_lock:
        known = _recent.get(key)
        if known is not None:
            _recent.move_to_end(key)
    if known is None:
        try:
            known = _day_events(text, day, timezone)
        except CalendarProblem as problem:
            known = problem
        with _recent_lock:
            _recent[key] = known
            while len(_recent) > RECENT_CALENDARS:
                _recent.popitem(last=False)
    if isinstance(known, CalendarProblem):
        raise CalendarProblem(str(known))
    return known


def _day_events(text: str, day: dt.date, timezone: str | None) -> DayEvents:
    if day >= dt.date.max:
        raise CalendarProblem(f"{day} is the last day a date can hold: plan an earlier one")
    calendar = _parse(text)
    name = timezone or _calendar_zone(calendar) or "UTC"
    tz = zone(name)
    events = calendar.walk("VEVENT")
    if not events:
        return DayEvents(name, [], [])
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=tz)
    next_midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
    check_cost(events, midnight.replace(tzinfo=None), next_midnight.replace(tzinfo=None))
    import recurring_ical_events  # type: ignore[import-untyped]

    try:
        with _walk_ends_near(day):
            found = recurring_ical_events.of(calendar).between(midnight, next_midnight)
        return _day(list(found), day, name)
    except CalendarProblem:
        raise
    except Exception as error:  # noqa: BLE001 - any failure of a parser on untrusted input
        raise CalendarProblem(f"the calendar cannot be read: {_reason(error)}") from None


def _parse(text: str) -> Any:
    from icalendar import Calendar

    # A byte order mark (Windows editors write one) is no part of the calendar.
    text = text.removeprefix("\ufeff")
    if "BEGIN:VCALENDAR" not in text[:4096].upper():
        raise CalendarProblem("not an iCalendar file: it has no BEGIN:VCALENDAR")
    try:
        calendar = Calendar.from_ical(text)
    except Exception as error:  # noqa: BLE001 - any failure of a parser on untrusted input
        raise CalendarProblem(f"not a valid iCalendar file: {_reason(error)}") from None
    if getattr(calendar, "name", None) != "VCALENDAR":
        raise CalendarProblem("not an iCalendar file: its first component is not a VCALENDAR")
    return calendar


def _calendar_zone(calendar: Any) -> str | None:
    """X-WR-TIMEZONE (Google and Apple write it), when it names a zone. One that names none
    is dropped: recurring_ical_events would read floating times in it, and fail."""
    value = calendar.get("X-WR-TIMEZONE")
    if value is None:
        return None
    try:
        zone(str(value))
    except ValueError:
        del calendar["X-WR-TIMEZONE"]
        return None
    return str(value)


# icalendar's words for a property it could not parse, type names included:
# "Cannot access 'dt' on broken property 'DTSTART' (expected 'vDDDTypes'): Wrong date
# format tomorrow".
_BROKEN_PROPERTY = re.compile(r"broken property '([^']+)' \(expected '[^']*'\): (.*)")


def _reason(error: Exception) -> str:
    if type(error) is KeyError:  # not its subclasses, such as ZoneInfoNotFoundError
        return f"an event without {error.args[0]}"
    text = str(error).strip().splitlines()
    reason = text[0] if text else type(error).__name__
    broken = _BROKEN_PROPERTY.search(reason)
    if broken:
        reason = f"a {broken[1]} that cannot be read ({broken[2]})"
    return reason[:300]


def _naive(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    raise CalendarProblem(f"a date or time that is neither: {value!r}")


def estimate_rule(rule: Any, start: dt.datetime, day_end: dt.datetime) -> tuple[int, int]:
    """(steps to expand the rule up to `day_end`, its occurrences in one day), over- rather
    than under-estimated. `rule` is an RRULE (icalendar's vRecur: each part a list)."""
    freq = str((rule.get("FREQ") or [""])[0]).upper()
    if freq not in PERIOD:
        raise CalendarProblem(f"an RRULE with FREQ={freq or '(none)'}")
    interval = int((rule.get("INTERVAL") or [1])[0])
    if interval < 1:
        raise CalendarProblem(f"an RRULE with INTERVAL={interval}")
    period = PERIOD[freq] * interval
    finer = math.prod(len(rule.get(part) or ()) or 1 for part in FINER[freq])
    per_day = math.ceil(DAY / period) * finer if period < DAY else finer
    until = rule.get("UNTIL")
    end = min(day_end, _naive(until[0])) if until else day_end
    periods = max(0.0, (end - start).total_seconds()) / period + 1
    steps = math.ceil(periods) * finer
    count = rule.get("COUNT")
    # Without BY… parts each step is an occurrence, so COUNT stops the walk.
    if count and not any(key.startswith("BY") for key in rule):
        steps = min(steps, int(count[0]))
    return steps, per_day


def check_cost(events: list[Any], day_start: dt.datetime, day_end: dt.datetime) -> None:
    """Refuse a calendar whose rules would take too long to expand, before expanding any."""
    total = 0
    for event in events:
        rules = event.get("RRULE")
        if rules is None:
            continue
        try:
            start = _naive(event.get("DTSTART").dt)
            for rule in rules if isinstance(rules, list) else [rules]:
                steps, per_day = estimate_rule(rule, start, day_end)
                if per_day > MAX_ITEMS and _naive_until(rule) >= day_start:
                    raise CalendarProblem(
                        f"the event '{_title(event)}' repeats about {per_day:,} times a day; "
                        f"a day takes at most {MAX_ITEMS} events"
                    )
                total += steps
        except CalendarProblem:
            raise
        except Exception as error:  # noqa: BLE001 - a broken DTSTART or RRULE part
            raise CalendarProblem(
                f"the event '{_title(event)}' has a rule that cannot be read: {_reason(error)}"
            ) from None
        if total > MAX_RECURRENCE_STEPS:
            raise CalendarProblem(
                f"the event '{_title(event)}' repeats too often since its start to expand "
                f"(about {total:,} occurrences up to the day; at most "
                f"{MAX_RECURRENCE_STEPS:,}): give it a later DTSTART, or an UNTIL"
            )


# How far past the day rules may be walked to find their next occurrences, all rules of one
# calendar together, in steps as `estimate_rule` counts them (one per period). A rule that
# never matches (FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30) or only centuries apart would
# otherwise be walked to the year 9999, whatever its UNTIL (python-dateutil stops at an
# occurrence past the end, or at that year): 3 s for DAILY, 8 s for HOURLY, per rule,
# unseen by `estimate_rule`. The walk is counted where python-dateutil rebuilds its masks
# (`_iterinfo.rebuild`): at every period of a YEARLY or MONTHLY rule, at every month a
# finer one crosses. It reads ten occurrences ahead (its cache): a DAILY rule for 29
# February on a Monday (every 28 years) costs about 100,000 steps, the most a real
# calendar's rule was found to need.
MAX_STEPS_PAST_THE_DAY = MAX_RECURRENCE_STEPS
# Steps (periods) between two rebuilds, by python-dateutil's frequency (YEARLY = 0 …).
_STEPS_PER_REBUILD = (1, 1, 5, 31, 31, 31, 31)
_walk = threading.local()


@contextmanager
def _walk_ends_near(day: dt.date) -> Iterator[None]:
    """Expansion in this thread is refused once its rules have been walked
    MAX_STEPS_PAST_THE_DAY steps past the month after `day`. Outside a calendar import,
    python-dateutil's class behaves as its own."""
    from dateutil import rrule  # type: ignore[import-untyped]

    if not getattr(rrule._iterinfo, "bounded", False):
        rrule._iterinfo = _bounded_iterinfo(rrule._iterinfo)
    _walk.past = day.year * 12 + day.month + 1
    _walk.steps = 0
    try:
        yield
    finally:
        _walk.past = None


def _bounded_iterinfo(base: type) -> type:
    # No __slots__ of its own: the base's __init__ sets every name in `self.__slots__`.
    class BoundedIterInfo(base):  # type: ignore[misc]
        bounded = True

        def rebuild(self, year: int, month: int) -> None:
            past = getattr(_walk, "past", None)  # None outside a calendar import
            if past is not None and year * 12 + month > past:
                _walk.steps += _STEPS_PER_REBUILD[self.rrule._freq]
                if _walk.steps > MAX_STEPS_PAST_THE_DAY:
                    rule = getattr(self.rrule, "string", None) or "a recurrence rule"
                    raise CalendarProblem(
                        f"the rule {rule} has no occurrence for too long after the day "
                        "(it would be walked up to the year 9999 to find one): a rule that "
                        "never matches, such as BYMONTH=2;BYMONTHDAY=30?"
                    )
            super().rebuild(year, month)

    return BoundedIterInfo


def _naive_until(rule: Any) -> dt.datetime:
    until = rule.get("UNTIL")
    return _naive(until[0]) if until else dt.datetime.max


def _title(event: Any) -> str:
    title = " ".join(str(event.get("SUMMARY", "")).split())
    return title[:MAX_TITLE] or "(no title)"


def _day(occurrences: list[Any], day: dt.date, name: str) -> DayEvents:
    tz = zone(name)
    midnight = dt.datetime.combine(day, dt.time())
    kept: list[tuple[int, int, str, bool, bool]] = []  # start, end, title, essential, all-day
    for event in occurrences:
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        if str(event.get(TEMPO_KIND, "")).lower() in TEMPO_REPLANNED:
            continue
        start, end = event.start, event.end
        title = _title(event)
        if not isinstance(start, dt.datetime):  # VALUE=DATE: the whole day
            kept.append((0, DAY, title, False, True))
            continue
        first, last = _seconds(start, tz, midnight), _seconds(end, tz, midnight)
        first, last = max(first, 0), min(last, DAY)  # clipped to the day
        if last <= first:
            continue  # lasts no time on this day (a reminder, or a DST fold)
        kept.append((first, last, title, _busy(event), False))
    if len(kept) > MAX_ITEMS:
        raise CalendarProblem(
            f"{len(kept):,} events on {day}; a day takes at most {MAX_ITEMS} from a calendar"
        )
    kept.sort(key=lambda k: (k[0], k[1], k[2]))
    timed: list[CalendarEvent] = []
    all_day: list[tuple[str, str]] = []
    for index, (first, last, title, essential, whole_day) in enumerate(kept):
        source = f"calendar[{index}]"
        if whole_day:
            all_day.append((title, source))
        else:
            timed.append(CalendarEvent(title, first, last, essential, source))
    return DayEvents(name, timed, all_day)


def _seconds(value: dt.datetime, tz: ZoneInfo, midnight: dt.datetime) -> int:
    """Seconds from the day's local midnight to `value` on the local clock; a floating
    time (no zone) is read as local already."""
    if value.tzinfo is not None:
        value = value.astimezone(tz).replace(tzinfo=None)
    return int((value - midnight).total_seconds())


def _busy(event: Any) -> bool:
    """Opaque events are essential; transparent ones (and Outlook's 'free') are not."""
    if str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT":
        return False
    return str(event.get("X-MICROSOFT-CDO-BUSYSTATUS", "BUSY")).upper() != "FREE"
