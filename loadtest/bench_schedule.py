"""Planner benchmarks (pytest-benchmark): the algorithm alone and POST /schedule in-process.

    uv run pytest loadtest/bench_schedule.py --benchmark-only

A busy day: 10 appointments, 50 to-dos and 200 songs given inline (the HTTP figure then
measures Tempo, not catalog queries). Reported as min/median/ops per second; there are no
thresholds here: the numbers go into the README.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tempo.app import create_app
from tempo.core.settings import Settings
from tempo.schedule.planner import FixedItem, FlexibleItem, Song, build_plan
from tempo.schedule.schemas import ScheduleRequest

H, M = 3600, 60


def busy_day() -> dict[str, Any]:
    appointments = [
        {"title": f"Meeting {i}", "start": f"{8 + i:02d}:00", "end": f"{8 + i:02d}:20",
         "essential": i % 3 != 0}
        for i in range(10)
    ]  # fmt: skip
    todos = [
        {"title": f"Task {i}", "duration_minutes": 5 + (i * 7) % 25, "priority": 1 + i % 5,
         **({"latest": f"{12 + i % 10}:00"} if i % 4 == 0 else {})}
        for i in range(50)
    ]  # fmt: skip
    music = [{"title": f"Song {i}", "duration_seconds": 150 + (i * 37) % 150} for i in range(200)]
    window = {"date": "2026-11-23", "day_start": "07:00", "day_end": "23:00", "min_gap_minutes": 2}
    return window | {"appointments": appointments, "todos": todos, "music": music}


def planner_inputs() -> tuple[list[FixedItem], list[FlexibleItem], list[Song]]:
    request = ScheduleRequest.model_validate(busy_day())

    def s(t: dt.time | None) -> int | None:
        return None if t is None else t.hour * H + t.minute * M

    appointments = [FixedItem(a.title, s(a.start) or 0, s(a.end) or 0, a.essential, f"a{i}")
                    for i, a in enumerate(request.appointments)]  # fmt: skip
    todos = [FlexibleItem(t.title, t.duration_minutes * M, s(t.earliest), s(t.latest),
                          t.priority, f"t{i}") for i, t in enumerate(request.todos)]  # fmt: skip
    songs = [Song(m.title or "", m.duration_seconds or 0, f"m{i}")
             for i, m in enumerate(request.music)]  # fmt: skip
    return appointments, todos, songs


def test_planner_alone(benchmark: Any) -> None:
    appointments, todos, songs = planner_inputs()
    plan = benchmark(build_plan, (7 * H, 23 * H), 2 * M, appointments, todos, songs)
    assert len([p for p in plan.timeline if p.kind == "music"]) + len(plan.unplaced) >= 200


@pytest.fixture(scope="module")
def client() -> Any:
    # Inline songs never touch the database; the URL only has to be well-formed.
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url="postgresql://postgres@127.0.0.1:9/unused",
        log_level="WARNING",
        log_format="json",
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_post_schedule(benchmark: Any, client: Any) -> None:
    body = busy_day()
    response = benchmark(client.post, "/schedule", json=body)
    assert response.status_code == 200


# --- A day from a calendar vs the same day as JSON ----------------------------------------
#
#     uv run pytest loadtest/bench_schedule.py -k calendar --benchmark-only
#
# 50 events on 2026-11-23, 15 minutes each, 18 minutes apart from 07:00 (Paris time): 25
# daily from January (each expanded over ~320 days), 25 single, half of them in UTC.

CALENDAR_DAY = "2026-11-23"
CALENDAR_EVENTS = 50


def calendar_day() -> tuple[str, list[dict[str, Any]]]:
    """The iCalendar text of the day's 50 events, and the same events as appointments."""
    paris = dt.timezone(dt.timedelta(hours=1))  # CET on that day: what Europe/Paris gives
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Tempo//bench//EN"]
    appointments = []
    for i in range(CALENDAR_EVENTS):
        start = dt.datetime(2026, 11, 23, 7, 0) + dt.timedelta(minutes=18 * i)
        end = start + dt.timedelta(minutes=15)
        lines += ["BEGIN:VEVENT", f"UID:bench-{i}@tempo", "DTSTAMP:20261101T000000Z",
                  f"SUMMARY:Event {i}"]  # fmt: skip
        if i % 2 == 0:  # daily since January, in Paris time
            first = start.replace(month=1, day=5)
            lines += [f"DTSTART;TZID=Europe/Paris:{first:%Y%m%dT%H%M%S}",
                      f"DTEND;TZID=Europe/Paris:{first + dt.timedelta(minutes=15):%Y%m%dT%H%M%S}",
                      "RRULE:FREQ=DAILY"]  # fmt: skip
        elif i % 4 == 1:  # once, in UTC
            utc = start.replace(tzinfo=paris).astimezone(dt.UTC)
            lines += [f"DTSTART:{utc:%Y%m%dT%H%M%SZ}",
                      f"DTEND:{utc + dt.timedelta(minutes=15):%Y%m%dT%H%M%SZ}"]  # fmt: skip
        else:  # once, in Paris time
            lines += [f"DTSTART;TZID=Europe/Paris:{start:%Y%m%dT%H%M%S}",
                      f"DTEND;TZID=Europe/Paris:{end:%Y%m%dT%H%M%S}"]  # fmt: skip
        lines.append("END:VEVENT")
        appointments.append({"title": f"Event {i}", "start": f"{start:%H:%M}",
                             "end": f"{end:%H:%M}"})  # fmt: skip
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n", appointments


@pytest.mark.benchmark(group="calendar vs JSON, 50 events", min_rounds=20)
def test_post_schedule_calendar_50_events(benchmark: Any, client: Any) -> None:
    """Each round reads the calendar afresh: the worker's last calendars are emptied first."""
    from tempo.schedule.calendar_import import forget_calendars

    text, _ = calendar_day()
    body = {"date": CALENDAR_DAY, "timezone": "Europe/Paris", "calendar": text}
    response = benchmark.pedantic(
        client.post, args=("/schedule",), kwargs={"json": body}, setup=forget_calendars,
        rounds=20,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    placed = [i for i in response.json()["timeline"] if i["kind"] == "appointment"]
    assert len(placed) == CALENDAR_EVENTS


@pytest.mark.benchmark(group="calendar vs JSON, 50 events", min_rounds=20)
def test_post_schedule_calendar_50_events_sent_again(benchmark: Any, client: Any) -> None:
    """The same calendar again, as the planner page sends it at every re-render: read from
    the worker's last calendars."""
    text, _ = calendar_day()
    body = {"date": CALENDAR_DAY, "timezone": "Europe/Paris", "calendar": text}
    response = benchmark(client.post, "/schedule", json=body)
    assert response.status_code == 200, response.text
    placed = [i for i in response.json()["timeline"] if i["kind"] == "appointment"]
    assert len(placed) == CALENDAR_EVENTS


@pytest.mark.benchmark(group="calendar vs JSON, 50 events", min_rounds=20)
def test_post_schedule_calendar_50_appointments_as_json(benchmark: Any, client: Any) -> None:
    text, appointments = calendar_day()
    body = {"date": CALENDAR_DAY, "appointments": appointments}
    response = benchmark(client.post, "/schedule", json=body)
    assert response.status_code == 200, response.text
    placed = [(i["title"], i["start"], i["end"]) for i in response.json()["timeline"]
              if i["kind"] == "appointment"]  # fmt: skip
    from_calendar = client.post("/schedule", json={
        "date": CALENDAR_DAY, "timezone": "Europe/Paris", "calendar": text}).json()  # fmt: skip
    assert placed == [(i["title"], i["start"], i["end"]) for i in from_calendar["timeline"]
                      if i["kind"] == "appointment"]  # the same day, both ways  # fmt: skip
