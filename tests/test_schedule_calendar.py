"""POST /schedule with the day's calendar: iCalendar as exported by Google Calendar and
Outlook (tests/data/calendars/, written by hand in their shape) and by the icalendar library,
as a JSON field or a multipart part; the round trip of Tempo's own .ics; hostile calendars."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar, Event

from tempo.schedule.calendar_import import MAX_RECURRENCE_STEPS, CalendarProblem, day_events
from tests.fixtures.processes import tempo_serve

CALENDARS = Path(__file__).resolve().parent / "data" / "calendars"
GOOGLE = (CALENDARS / "google.ics").read_text(encoding="utf-8")
OUTLOOK = (CALENDARS / "outlook.ics").read_text(encoding="utf-8")
DAY = "2026-11-23"  # a Monday


def rows(body: dict[str, Any], *kinds: str) -> list[tuple[str, str, str, bool | None, str]]:
    return [
        (i["title"], i["start"][:5], i["end"][:5], i["essential"], i["source"])
        for i in body["timeline"]
        if i["kind"] in (kinds or ("appointment",))
    ]


def written(*events: dict[str, Any], **calendar_props: Any) -> str:
    """A calendar written by the icalendar library."""
    calendar = Calendar()
    calendar.add("prodid", "-//Test//Tempo//EN")
    calendar.add("version", "2.0")
    for key, value in calendar_props.items():
        calendar.add(key, value)
    for n, props in enumerate(events):
        event = Event()
        event.add("uid", f"event-{n}@test")
        event.add("dtstamp", dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
        for key, value in props.items():
            event.add(key, value)
        calendar.add_component(event)
    return calendar.to_ical().decode()


async def plan(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/schedule", json={"date": DAY} | body)


async def test_a_google_calendar_export_becomes_the_days_appointments(
    client: httpx.AsyncClient,
) -> None:
    response = await plan(client, calendar=GOOGLE, timezone="Europe/Paris", day_start="07:00")
    assert response.status_code == 200, response.text
    body = response.json()
    # Weekly RRULE (EXDATE on another Monday), UTC Z times in Paris time (CET, +01:00), the
    # night train clipped to the day window, the transparent focus time optional.
    assert rows(body) == [
        ("Night train", "07:00", "07:30", True, "calendar[0]"),
        ("Stand-up", "09:30", "09:45", True, "calendar[2]"),
        ("Lunch with Sam", "12:30", "14:00", True, "calendar[3]"),
        ("Focus time", "16:00", "18:00", False, "calendar[5]"),
    ]
    # Two essential events overlap: the later one is left out and named, not a 422.
    assert body["unplaced"] == [
        {"kind": "appointment", "title": "Design review", "source": "calendar[4]",
         "reason": "overlaps essential appointment 'Lunch with Sam' (12:30–14:00)"},
    ]  # fmt: skip
    assert body["all_day"] == [{"title": "Conference week", "source": "calendar[1]"}]
    assert body["timezone"] == "Europe/Paris"
    assert "Dentist" not in response.text  # STATUS:CANCELLED


async def test_the_time_zone_moves_zoned_times_and_defaults_to_the_calendars(
    client: httpx.AsyncClient,
) -> None:
    new_york = (await plan(client, calendar=GOOGLE, timezone="America/New_York")).json()
    # Lunch at 12:30 Paris is 06:30 in New York: clipped to the day window (07:00–23:00).
    assert rows(new_york) == [
        ("Lunch with Sam", "07:00", "08:00", True, "calendar[3]"),
        ("Focus time", "10:00", "12:00", False, "calendar[5]"),
    ]
    outside = {u["title"]: u["reason"] for u in new_york["unplaced"]}
    assert outside["Stand-up"] == "outside the day window 07:00–23:00"
    # No timezone: the calendar's X-WR-TIMEZONE (Europe/Paris); none there either: UTC.
    assert (await plan(client, calendar=GOOGLE)).json()["timezone"] == "Europe/Paris"
    outlook = (await plan(client, calendar=OUTLOOK)).json()
    assert outlook["timezone"] == "UTC"
    assert rows(outlook)[0][:3] == ("Weekly planning (moved)", "13:00", "14:00")


async def test_an_outlook_export_with_windows_zones_and_a_moved_occurrence(
    client: httpx.AsyncClient,
) -> None:
    body = (await plan(client, calendar=OUTLOOK, timezone="Europe/Paris")).json()
    # RECURRENCE-ID moves this Monday's 10:00 meeting to 14:00; BUSYSTATUS:FREE is optional.
    assert rows(body) == [
        ("Weekly planning (moved)", "14:00", "15:00", True, "calendar[1]"),
        ("Optional webinar", "16:30", "17:30", False, "calendar[2]"),
    ]
    assert body["all_day"] == [{"title": "Sam's birthday", "source": "calendar[0]"}]
    other_monday = (await plan(client, calendar=OUTLOOK, timezone="Europe/Paris",
                               date="2026-11-30")).json()  # fmt: skip
    assert rows(other_monday) == [("Weekly planning", "10:00", "11:00", True, "calendar[0]")]
    assert other_monday["all_day"] == []


async def test_calendar_events_combine_with_the_requests_own_items(
    client: httpx.AsyncClient,
) -> None:
    calendar = written(
        {"summary": "Call", "dtstart": dt.datetime(2026, 11, 23, 9, 0),
         "dtend": dt.datetime(2026, 11, 23, 10, 0)},
        {"summary": "Clash", "dtstart": dt.datetime(2026, 11, 23, 11, 0),
         "dtend": dt.datetime(2026, 11, 23, 11, 30)},
    )  # fmt: skip
    response = await plan(
        client, calendar=calendar, day_start="08:00", day_end="13:00",
        appointments=[{"title": "Own", "start": "11:15", "end": "11:45"}],
        todos=[{"title": "Report", "duration_minutes": 60}],
        music=[{"title": "Song", "duration_seconds": 180}],
    )  # fmt: skip
    body = response.json()
    assert [(i["title"], i["start"][:5], i["end"][:5], i["source"])
            for i in body["timeline"] if i["kind"] != "free"] == [
        ("Report", "08:00", "09:00", "todos[0]"),
        ("Call", "09:00", "10:00", "calendar[0]"),
        ("Song", "10:00", "10:03", "music[0]"),
        ("Own", "11:15", "11:45", "appointments[0]"),
    ]  # fmt: skip
    # The request's own essential appointment wins over the calendar's.
    assert body["unplaced"][0]["source"] == "calendar[1]"
    assert body["unplaced"][0]["reason"] == "overlaps essential appointment 'Own' (11:15–11:45)"
    assert body["all_day"] == [] and body["timezone"] == "UTC"


async def test_a_plan_without_a_calendar_says_so(client: httpx.AsyncClient) -> None:
    body = await plan(client, appointments=[{"title": "A", "start": "09:00", "end": "10:00"}])
    assert body.json()["all_day"] == [] and body.json()["timezone"] is None
    empty = written()  # a calendar with no VEVENT: the plan without it
    response = await plan(client, calendar=empty)
    assert response.status_code == 200 and rows(response.json()) == []


async def test_the_exported_plan_reimports_to_the_same_day(client: httpx.AsyncClient) -> None:
    request = {
        "date": DAY, "day_start": "08:00", "day_end": "13:00", "min_gap_minutes": 5,
        "appointments": [{"title": "Stand-up", "start": "09:00", "end": "09:15"},
                         {"title": "Gym", "start": "11:00", "end": "12:00", "essential": False}],
        "todos": [{"title": "Write report", "duration_minutes": 60, "priority": 1}],
        "music": [{"title": "Our song", "artist": "Us", "duration_seconds": 215}],
    }  # fmt: skip
    first = (await client.post("/schedule", json=request)).json()
    ics = await client.post("/schedule?format=ics", json=request)
    assert ics.headers["content-type"].startswith("text/calendar")
    again = request | {"appointments": [], "calendar": ics.text}
    second = (await client.post("/schedule", json=again)).json()

    def day(body: dict[str, Any]) -> list[tuple[str, str, str, str, bool | None]]:
        return [(i["kind"], i["title"], i["start"], i["end"], i["essential"])
                for i in body["timeline"]]  # fmt: skip

    # The same appointments (titles, times, essential), and the to-dos and songs planned
    # again from the request where they were: Tempo's own to-dos and songs are not imported.
    assert day(second) == day(first)
    assert [i["source"] for i in second["timeline"] if i["kind"] == "appointment"] == [
        "calendar[0]", "calendar[1]",
    ]  # fmt: skip


async def test_the_exported_plan_keeps_the_calendars_all_day_events(
    client: httpx.AsyncClient,
) -> None:
    calendar = Calendar()
    calendar.add("prodid", "-//Test//EN")
    calendar.add("version", "2.0")
    for summary, start, end in (
        ("Mum's birthday", dt.date(2026, 11, 23), dt.date(2026, 11, 24)),
        ("Offsite week", dt.date(2026, 11, 20), dt.date(2026, 11, 27)),
        ("Dentist", dt.datetime(2026, 11, 23, 10), dt.datetime(2026, 11, 23, 10, 30)),
    ):
        event = Event()
        event.add("uid", f"{summary}@test")
        event.add("dtstamp", dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
        event.add("dtstart", start)
        event.add("dtend", end)
        event.add("summary", summary)
        calendar.add_component(event)
    request = {"date": DAY, "calendar": calendar.to_ical().decode()}
    first = (await client.post("/schedule", json=request)).json()
    ics = await client.post("/schedule?format=ics", json=request)
    second = (await client.post("/schedule", json={"date": DAY, "calendar": ics.text})).json()
    assert sorted(a["title"] for a in first["all_day"]) == ["Mum's birthday", "Offsite week"]
    assert [a["title"] for a in second["all_day"]] == [a["title"] for a in first["all_day"]]
    assert [(i["title"], i["start"], i["end"]) for i in second["timeline"] if i["kind"] ==
            "appointment"] == [("Dentist", "10:00:00", "10:30:00")]  # fmt: skip


async def test_multipart_with_a_calendar_file(client: httpx.AsyncClient) -> None:
    request = json.dumps({"date": DAY, "timezone": "Europe/Paris"})
    files = {
        "request": (None, request, "application/json"),
        "calendar": ("work.ics", GOOGLE.encode(), "text/calendar"),
    }
    response = await client.post("/schedule", files=files)
    assert response.status_code == 200, response.text
    assert rows(response.json())[1] == ("Stand-up", "09:30", "09:45", True, "calendar[2]")
    # curl sends a file without a type of its own as application/octet-stream: an .ics name
    # is enough then. The answer can be iCalendar, too.
    files["calendar"] = ("work.ics", GOOGLE.encode(), "application/octet-stream")
    ics = await client.post("/schedule?format=ics", files=files)
    assert ics.status_code == 200 and b"SUMMARY:Lunch with Sam" in ics.content


@pytest.mark.parametrize(
    ("files", "status", "field", "words"),
    [
        ({"request": (None, '{"date": "2026-11-23"}', "application/json")}, 422,
         "body.calendar", "needs a calendar part"),
        ({"calendar": ("day.png", b"\x89PNG", "image/png")}, 415, None,
         "must be text/calendar, not image/png"),
        ({"calendar": ("day.ics", GOOGLE.encode(), "text/calendar"),
          "extra": (None, "x", "text/plain")}, 422, "body", "unknown part 'extra'"),
        ({"calendar": ("day.ics", GOOGLE.encode(), "text/calendar")}, 422, "body.date",
         "a calendar needs the date"),
        ({"request": (None, '{"date": "2026-11-23", "calendar": "x"}', "application/json"),
          "calendar": ("day.ics", GOOGLE.encode(), "text/calendar")}, 422, "body.calendar",
         "give the calendar once"),
        ({"request": (None, '{"date": "23/11/2026"}', "application/json"),
          "calendar": ("day.ics", GOOGLE.encode(), "text/calendar")}, 422, "body.date", ""),
        ({"calendar": ("day.ics", "é".encode("latin-1"), "text/calendar")}, 422,
         "body.calendar", "not UTF-8"),
        ([("request", (None, '{"date": "2026-11-23"}', "application/json")),
          ("calendar", ("a.ics", GOOGLE.encode(), "text/calendar")),
          ("calendar", ("b.ics", OUTLOOK.encode(), "text/calendar"))], 422, "body.calendar",
         "the calendar part is given more than once"),
    ],
)  # fmt: skip
async def test_multipart_problems_are_named(
    client: httpx.AsyncClient, files: Any, status: int, field: str | None, words: str
) -> None:
    response = await client.post("/schedule", files=files)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert words in error["message"] or words in json.dumps(error)
    if field is not None:
        assert field in [d["field"] for d in error["details"]]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"calendar": GOOGLE, "date": None}, "body.date", "a calendar needs the date"),
        ({"calendar": GOOGLE, "timezone": "Mars/Olympus_Mons"}, "body.timezone",
         "unknown time zone 'Mars/Olympus_Mons'"),
        ({"calendar": "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:tomorrow\r\nEND:VEVENT\r\n"
                      "END:VCALENDAR\r\n"}, "body.calendar",
         "a DTSTART that cannot be read (Wrong date format"),
        ({"calendar": written({"summary": "x", "dtstart": dt.datetime(2026, 11, 23, 9)})
          .replace("END:VEVENT", "DURATION:soon\r\nEND:VEVENT")}, "body.calendar",
         "a DURATION that cannot be read"),
        ({"calendar": "hello"}, "body.calendar", "not an iCalendar file"),
        ({"calendar": "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n"}, "body.calendar",
         "not a valid iCalendar file"),
        ({"calendar": "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\n"
                      "END:VCALENDAR\r\n"}, "body.calendar", "an event without DTSTART"),
        ({"calendar": written(*[
            {"summary": f"E{n}", "dtstart": dt.datetime(2026, 11, 23, 8, 0),
             "dtend": dt.datetime(2026, 11, 23, 8, 1)} for n in range(501)])},
         "body.calendar", "501 events on 2026-11-23; a day takes at most 500"),
    ],
)  # fmt: skip
async def test_calendar_problems_are_422s_naming_them(
    client: httpx.AsyncClient, body: dict[str, Any], field: str, words: str
) -> None:
    response = await plan(client, **body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"][0]["field"] == field
    assert words in error["details"][0]["message"]
    assert "vDDDTypes" not in error["details"][0]["message"]  # the parser's own type names


async def test_a_calendar_with_a_byte_order_mark_in_the_json_is_read(
    client: httpx.AsyncClient,
) -> None:
    """The multipart part and the command line drop a UTF-8 BOM; the JSON string keeps it
    (U+FEFF), and the calendar is the same without it."""
    response = await plan(client, calendar="\ufeff" + GOOGLE, timezone="Europe/Paris")
    assert response.status_code == 200, response.text
    assert response.json() == (await plan(client, calendar=GOOGLE, timezone="Europe/Paris")).json()


async def test_an_x_wr_timezone_that_names_no_zone_is_ignored(
    client: httpx.AsyncClient,
) -> None:
    """Floating times are then taken as written, in `timezone` or UTC, as without one."""
    meeting = {"summary": "Floating", "dtstart": dt.datetime(2026, 11, 23, 10, 0),
               "dtend": dt.datetime(2026, 11, 23, 11, 0)}  # fmt: skip
    for name in ("Nowhere/Land", "Romance Standard Time", "../../etc/passwd"):
        response = await plan(client, calendar=written(meeting, **{"x-wr-timezone": name}))
        assert response.status_code == 200, (name, response.text)
        assert response.json()["timezone"] == "UTC"
        assert rows(response.json()) == [("Floating", "10:00", "11:00", True, "calendar[0]")]


async def test_the_last_date_there_is_is_a_422_not_a_crash(client: httpx.AsyncClient) -> None:
    response = await plan(client, calendar=GOOGLE, date="9999-12-31")
    assert response.status_code == 422, response.text
    assert "9999-12-31 is the last day" in response.json()["error"]["details"][0]["message"]
    for edge in ("9999-12-30", "0001-01-01"):  # answered, too: a 422 naming the problem
        assert (await plan(client, calendar=GOOGLE, date=edge)).status_code == 422


def costly(rule: dict[str, Any], start: dt.datetime) -> str:
    return written({"summary": "Ping", "dtstart": start,
                    "dtend": start + dt.timedelta(seconds=30), "rrule": rule})  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "start", "words"),
    [
        ({"freq": "secondly"}, dt.datetime(2026, 11, 22, tzinfo=dt.UTC), "86,400 times a day"),
        ({"freq": "minutely"}, dt.datetime(1990, 1, 1, tzinfo=dt.UTC), "1,440 times a day"),
        ({"freq": "minutely", "interval": 5}, dt.datetime(1990, 1, 1, tzinfo=dt.UTC),
         "repeats too often since its start"),
        ({"freq": "hourly", "count": 10**9}, dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
         "repeats too often since its start"),
        ({"freq": "yearly", "byhour": list(range(24)), "byminute": list(range(60))},
         dt.datetime(2000, 1, 1, tzinfo=dt.UTC), "1,440 times a day"),
    ],
)  # fmt: skip
async def test_rules_too_costly_to_expand_are_refused_at_once(
    client: httpx.AsyncClient, rule: dict[str, Any], start: dt.datetime, words: str
) -> None:
    began = time.perf_counter()
    response = await plan(client, calendar=costly(rule, start))
    assert time.perf_counter() - began < 0.5
    assert response.status_code == 422, response.text
    assert words in response.json()["error"]["details"][0]["message"]


async def test_a_costly_calendar_leaves_the_event_loop_free(client: httpx.AsyncClient) -> None:
    # Just under the bound: an hourly rule from 2004 walks ~200,000 steps to reach the day.
    heavy = costly({"freq": "hourly"}, dt.datetime(2004, 3, 1, tzinfo=dt.UTC))
    began = time.perf_counter()
    task = asyncio.create_task(plan(client, calendar=heavy))
    pings = []
    while not task.done():
        sent = time.perf_counter()
        assert (await client.get("/healthz")).status_code == 200
        pings.append(time.perf_counter() - sent)
        await asyncio.sleep(0.01)
    response = await task
    elapsed = time.perf_counter() - began
    assert response.status_code == 200, response.text
    assert len(rows(response.json())) == 16  # hourly, within 07:00–23:00
    # Answered while it was expanding: a blocked event loop would hold one ping for about
    # the whole expansion. Relative, not absolute, bounds: the machine may be loaded.
    assert len(pings) >= 3 and max(pings) < elapsed / 3, (pings, elapsed)
    assert elapsed < 20, elapsed


@pytest.mark.parametrize(
    "rule",
    [
        {"freq": "daily", "bymonth": 2, "bymonthday": 30},  # 3 s, walked to 9999
        {"freq": "hourly", "bymonth": 4, "bymonthday": 31},  # 8 s
        {"freq": "daily", "interval": 7, "byday": "TU"},  # from a Sunday: never a Tuesday
        {"freq": "daily", "until": dt.datetime(2020, 1, 5, tzinfo=dt.UTC),
         "bymonth": 2, "bymonthday": 30},  # an UNTIL does not stop the walk
    ],
)  # fmt: skip
async def test_a_rule_that_never_matches_is_refused_at_once(
    client: httpx.AsyncClient, rule: dict[str, Any]
) -> None:
    """python-dateutil walks such a rule to the year 9999 looking for its next occurrence:
    seconds of a worker thread for each, which the estimate before expansion cannot see."""
    calendar = costly(rule, dt.datetime(2020, 1, 5, 10, tzinfo=dt.UTC))
    began = time.perf_counter()
    response = await plan(client, calendar=calendar)
    # Before the bound: a 200 after 3 to 8 s a rule, found at last in the year 9999's walk.
    assert response.status_code == 422, response.text
    assert "has no occurrence for too long after the day" in response.text
    assert time.perf_counter() - began < 5


def test_rare_but_real_rules_are_still_expanded() -> None:
    day = dt.date(2044, 2, 29)  # a Monday: the rule's next occurrence is 28 years on
    rare = costly({"freq": "daily", "bymonth": 2, "bymonthday": 29, "byday": "MO"},
                  dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC))  # fmt: skip
    assert [(e.start, e.end) for e in day_events(rare, day, None).timed] == [(36000, 36030)]
    assert day_events(rare, dt.date(2026, 11, 23), None).timed == []
    # Last weekday of the month, a century-spaced rule, one starting long after the day;
    # and python-dateutil outside a calendar import is its own.
    for rule, on in [
        ({"freq": "monthly", "byday": ["MO", "TU", "WE", "TH", "FR"], "bysetpos": -1},
         dt.date(2026, 11, 30)),
        ({"freq": "yearly", "interval": 100}, dt.date(2126, 11, 1)),
    ]:  # fmt: skip
        found = day_events(costly(rule, dt.datetime(2026, 11, 1, 10, tzinfo=dt.UTC)), on, None)
        assert len(found.timed) == 1, rule
    from dateutil.rrule import rrulestr

    never = rrulestr("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", dtstart=dt.datetime(2026, 1, 1))
    assert never.after(dt.datetime(2026, 1, 1)) is None


def test_a_calendar_sent_again_is_read_once() -> None:
    """The worker keeps its last calendars' day events, and their refusals, by digest."""
    from tempo.schedule.calendar_import import forget_calendars

    text = GOOGLE
    forget_calendars()
    first = day_events(text, dt.date(2026, 11, 23), "Europe/Paris")
    assert day_events(text, dt.date(2026, 11, 23), "Europe/Paris") is first
    # Another day or zone is another reading, and an answer equal to a fresh one.
    other = day_events(text, dt.date(2026, 11, 23), "America/New_York")
    assert other is not first and other.timezone == "America/New_York"
    forget_calendars()
    assert day_events(text, dt.date(2026, 11, 23), "Europe/Paris") == first
    hostile = costly({"freq": "minutely"}, dt.datetime(1990, 1, 1, tzinfo=dt.UTC))
    refusals = []
    for _ in range(2):
        with pytest.raises(CalendarProblem) as refused:
            day_events(hostile, dt.date(2026, 11, 23), None)
        refusals.append(str(refused.value))
    assert refusals[0] == refusals[1] and "repeats" in refusals[0]


def test_the_cost_bound_is_what_expansion_takes() -> None:
    # The steps counted are the steps walked: at the bound, expansion stays well under 2 s.
    start = dt.datetime(2026, 11, 23) - dt.timedelta(hours=MAX_RECURRENCE_STEPS - 100)
    calendar = costly({"freq": "hourly"}, start.replace(tzinfo=dt.UTC))
    began = time.perf_counter()
    found = day_events(calendar, dt.date(2026, 11, 23), None)
    assert len(found.timed) == 24
    assert time.perf_counter() - began < 2
    with pytest.raises(CalendarProblem, match="repeats too often"):
        day_events(costly({"freq": "hourly"}, start.replace(tzinfo=dt.UTC)
                          - dt.timedelta(hours=200)), dt.date(2026, 11, 23), None)  # fmt: skip


def test_events_across_midnight_and_zones_in_the_icalendar_librarys_own_output() -> None:
    paris, tokyo = ZoneInfo("Europe/Paris"), ZoneInfo("Asia/Tokyo")
    calendar = written(
        {"summary": "Late show", "dtstart": dt.datetime(2026, 11, 22, 23, 0, tzinfo=paris),
         "dtend": dt.datetime(2026, 11, 23, 1, 30, tzinfo=paris)},
        {"summary": "Tokyo call", "dtstart": dt.datetime(2026, 11, 23, 17, 0, tzinfo=tokyo),
         "dtend": dt.datetime(2026, 11, 23, 18, 0, tzinfo=tokyo)},
        {"summary": "Optional", "dtstart": dt.datetime(2026, 11, 23, 12, 0, tzinfo=paris),
         "dtend": dt.datetime(2026, 11, 23, 13, 0, tzinfo=paris), "transp": "TRANSPARENT"},
        {"summary": "Holiday", "dtstart": dt.date(2026, 11, 23)},
        {"summary": "Yesterday", "dtstart": dt.date(2026, 11, 22)},
        {"summary": "Daily", "dtstart": dt.datetime(2026, 1, 1, 8, 0, tzinfo=paris),
         "duration": dt.timedelta(minutes=10), "rrule": {"freq": "daily"},
         "rdate": dt.datetime(2026, 11, 23, 20, 0, tzinfo=paris),
         "exdate": dt.datetime(2026, 11, 23, 8, 0, tzinfo=paris)},
    )  # fmt: skip
    found = day_events(calendar, dt.date(2026, 11, 23), "Europe/Paris")
    timed = [(e.title, e.start // 60, e.end // 60, e.essential) for e in found.timed]
    assert timed == [
        ("Late show", 0, 90, True),  # clipped at midnight
        ("Tokyo call", 9 * 60, 10 * 60, True),
        ("Optional", 12 * 60, 13 * 60, False),
        ("Daily", 20 * 60, 20 * 60 + 10, True),  # the RDATE; the 08:00 one is excluded
    ]
    assert [title for title, _ in found.all_day] == ["Holiday"]


async def test_a_multipart_body_over_the_cap_is_a_413(client: httpx.AsyncClient) -> None:
    big = GOOGLE.encode() + b" " * (1024 * 1024)
    files = {"calendar": ("day.ics", big, "text/calendar")}
    response = await client.post("/schedule", data={"request": '{"date": "2026-11-23"}'},
                                 files=files)  # fmt: skip
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "too_large"


async def test_the_pages_download_holds_the_calendars_events(client: httpx.AsyncClient) -> None:
    form = {"date": DAY, "day_start": "08:00", "day_end": "19:00", "timezone": "Europe/Paris"}
    files = {"calendar_file": ("work.ics", GOOGLE.encode(), "text/calendar")}
    response = await client.post("/plan.ics", data=form, files=files)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    events = {str(e["SUMMARY"]): e for e in calendar.walk("VEVENT")}
    assert events["Lunch with Sam"].start == dt.datetime(2026, 11, 23, 12, 30)
    assert "Design review" not in events and "Dentist" not in events


@pytest.mark.slow
async def test_a_served_tempo_answers_others_while_a_calendar_expands(
    database_url: str, tmp_path: Path
) -> None:
    """One worker of a real `tempo serve`: a calendar near the bound, then a hostile one,
    while /healthz is asked over and over."""
    heavy = costly({"freq": "hourly"}, dt.datetime(2004, 3, 1, tzinfo=dt.UTC))
    hostile = costly({"freq": "minutely"}, dt.datetime(1990, 1, 1, tzinfo=dt.UTC))
    with tempo_serve(database_url, tmp_path) as base:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            began = time.perf_counter()
            task = asyncio.create_task(
                http.post("/schedule", json={"date": DAY, "calendar": heavy})
            )
            await asyncio.sleep(0.05)  # it is expanding now
            sent = time.perf_counter()
            refused = await http.post("/schedule", json={"date": DAY, "calendar": hostile})
            refusal = time.perf_counter() - sent
            pings = []
            while not task.done():
                sent = time.perf_counter()
                assert (await http.get("/healthz")).status_code == 200
                pings.append(time.perf_counter() - sent)
                await asyncio.sleep(0.01)
            response = await task
            elapsed = time.perf_counter() - began
    assert response.status_code == 200, response.text
    assert elapsed < 20, elapsed
    # The refusal parses its small calendar in the thread pool too, sharing the GIL with
    # the expansion: some tens of ms here, well before the heavy one is done.
    assert refused.status_code == 422 and refusal < elapsed / 2, (refused.text, refusal)
    # Typically ~8 ms, 14 ms at most on a quiet machine; the bounds are relative to the
    # expansion, which a blocked event loop would make every ping wait out.
    assert len(pings) >= 3 and sorted(pings)[len(pings) // 2] < elapsed / 10, (pings, elapsed)
    assert max(pings) < elapsed / 3, (pings, elapsed)


BROKEN_LINES = [
    "DTSTART:x", "DTEND;TZID=Nowhere/Zone:20261123T100000", "RRULE:FREQ=DAILY;INTERVAL=0",
    "RRULE:FREQ=WEEKLY;BYDAY=XX", "RRULE:FREQ=DAILY;UNTIL=garbage", "RRULE:FREQ=DAILY;COUNT=-1",
    "EXDATE:nope", "RDATE;VALUE=PERIOD:20261123T100000Z/20261123T090000Z", "DURATION:PT-1H",
    "DURATION:garbage", "RECURRENCE-ID:xyz", "STATUS:", "TRANSP:", "BEGIN:VALARM",
    "END:VALARM", "BEGIN:VEVENT", "END:VEVENT", "END:VCALENDAR",
    "DTSTART;VALUE=DATE:20261123T100000", "DTSTART;TZID=:20261123T100000", "TZOFFSETTO:+9999",
    "RRULE:FREQ=YEARLY;BYMONTH=13", "RRULE:FREQ=MONTHLY;BYMONTHDAY=0",
]  # fmt: skip


def test_mangled_exports_are_read_or_refused_never_a_crash() -> None:
    """Lines dropped, cut short or replaced by broken ones, in the Google and Outlook
    exports: each calendar is read or refused with a CalendarProblem (the route's 422)."""
    import random

    exports = [GOOGLE.splitlines(), OUTLOOK.splitlines()]
    rng = random.Random(20261123)
    refused = 0
    for _ in range(300):
        lines = list(rng.choice(exports))
        for _ in range(rng.randint(1, 4)):
            k = rng.randrange(len(lines))
            roll = rng.random()
            if roll < 0.3 and len(lines) > 1:
                del lines[k]
            elif roll < 0.7:
                lines.insert(k, rng.choice(BROKEN_LINES))
            else:
                lines[k] = lines[k][: rng.randrange(len(lines[k]) + 1)]
        try:
            day_events("\r\n".join(lines), dt.date(2026, 11, 23), rng.choice([None, "UTC"]))
        except CalendarProblem:
            refused += 1
    assert 50 < refused < 250  # both outcomes were exercised
