"""A plan as an iCalendar file (RFC 5545) that calendar apps import."""

from __future__ import annotations

import datetime as dt
import hashlib

from tempo import __version__
from tempo.schedule.schemas import SchedulePlan


def to_ics(plan: SchedulePlan, day: dt.date, *, now: dt.datetime | None = None) -> bytes:
    """One event per planned item; free time is left out. Times are floating (local)."""
    from icalendar import Calendar, Event

    calendar = Calendar()
    calendar.add("prodid", f"-//Tempo//Day planner {__version__}//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"Tempo plan {day.isoformat()}")
    stamp = now or dt.datetime.now(dt.UTC)
    for item in plan.timeline:
        if item.kind == "free":
            continue
        event = Event()
        key = f"{day.isoformat()}|{item.kind}|{item.source}|{item.start}|{item.title}"
        event.add("uid", f"{hashlib.sha256(key.encode()).hexdigest()[:32]}@tempo")
        event.add("dtstamp", stamp)
        event.add("dtstart", dt.datetime.combine(day, item.start))
        event.add("dtend", dt.datetime.combine(day, item.end))
        summary = f"♪ {item.title}" if item.kind == "music" else item.title
        if item.artist:
            summary += f" — {item.artist}"
        event.add("summary", summary)
        event.add("categories", [item.kind])
        # Read back by the calendar import: Tempo's to-dos and songs are planned again from
        # the request, never taken as appointments (tempo.schedule.calendar_import).
        event.add("x-tempo-kind", item.kind)
        # Music and optional items do not make the person look busy to others.
        busy = item.kind != "music" and item.essential is not False
        event.add("transp", "OPAQUE" if busy else "TRANSPARENT")
        calendar.add_component(event)
    for all_day in plan.all_day:
        # The imported calendar's all-day events, as all-day events again (free, not busy):
        # the file re-imported lists them in `all_day` as the plan did.
        event = Event()
        key = f"{day.isoformat()}|all-day|{all_day.source}|{all_day.title}"
        event.add("uid", f"{hashlib.sha256(key.encode()).hexdigest()[:32]}@tempo")
        event.add("dtstamp", stamp)
        event.add("dtstart", day)
        event.add("dtend", day + dt.timedelta(days=1))
        event.add("summary", all_day.title)
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    return bytes(calendar.to_ical())
