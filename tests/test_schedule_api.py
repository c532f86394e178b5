"""POST /schedule through the ASGI transport: JSON plans, iCalendar, and 422s naming fields."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from icalendar import Calendar

JSON = "application/json"
BASE: dict[str, Any] = {
    "date": "2026-11-23",
    "day_start": "08:00",
    "day_end": "12:00",
    "appointments": [{"title": "Stand-up", "start": "09:00", "end": "09:30"}],
    "todos": [{"title": "Report", "duration_minutes": 60, "priority": 1}],
    "music": [{"title": "Intro", "artist": "Band", "duration_seconds": 210}],
}


async def plan(client: httpx.AsyncClient, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return await client.post("/schedule", json=body, **kwargs)


async def test_a_day_is_planned_with_exact_times(client: httpx.AsyncClient) -> None:
    response = await plan(client, BASE)
    assert response.status_code == 200, response.text
    body = response.json()
    timeline = [(i["kind"], i["title"], i["start"], i["end"]) for i in body["timeline"]]
    assert timeline == [
        ("todo", "Report", "08:00:00", "09:00:00"),
        ("appointment", "Stand-up", "09:00:00", "09:30:00"),
        ("music", "Intro", "09:30:00", "09:33:30"),
        ("free", "Free", "09:33:30", "12:00:00"),
    ]
    assert body["timeline"][2]["artist"] == "Band" and body["timeline"][2]["source"] == "music[0]"
    assert body["totals"] == {"busy_minutes": 90.0, "music_minutes": 3.5, "free_minutes": 146.5}
    assert body["unplaced"] == []
    again = await plan(client, BASE)
    assert again.json() == body  # deterministic


async def test_what_does_not_fit_is_listed_with_a_reason(client: httpx.AsyncClient) -> None:
    body = BASE | {
        "appointments": [
            {"title": "Stand-up", "start": "09:00", "end": "09:30"},
            {"title": "Coffee", "start": "09:15", "end": "09:45", "essential": False},
        ],
        "todos": [{"title": "Too big", "duration_minutes": 300}],
    }
    unplaced = (await plan(client, body)).json()["unplaced"]
    assert unplaced == [
        {"kind": "appointment", "title": "Coffee", "source": "appointments[1]",
         "reason": "overlaps essential appointment 'Stand-up' (09:00–09:30)"},
        {"kind": "todo", "title": "Too big", "source": "todos[0]",
         "reason": "no free slot of 300 min between 08:00 and 12:00"},
    ]  # fmt: skip


async def test_overlapping_essential_appointments_are_a_422_naming_both(
    client: httpx.AsyncClient,
) -> None:
    body = BASE | {
        "appointments": [
            {"title": "Dentist", "start": "09:00", "end": "10:00"},
            {"title": "Call", "start": "09:30", "end": "10:30"},
        ]
    }
    response = await plan(client, body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "conflicting_appointments"
    assert [d["field"] for d in error["details"]] == ["body.appointments.0", "body.appointments.1"]
    assert "'Dentist'" in error["message"] and "'Call'" in error["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"appointments": [{"title": "x", "start": "10:00", "end": "09:00"}]},
         "body.appointments.0"),
        ({"appointments": [{"title": "x", "start": "06:00", "end": "09:00"}]},
         "body.appointments.0.start"),
        ({"appointments": [{"title": "x", "start": "11:00", "end": "13:00"}]},
         "body.appointments.0.end"),
        ({"todos": [{"title": "x", "duration_minutes": -5}]}, "body.todos.0.duration_minutes"),
        ({"todos": [{"title": "x", "duration_minutes": 5, "latest": "13:00"}]},
         "body.todos.0.latest"),
        ({"music": [{"title": "x", "duration_seconds": 0}]}, "body.music.0.duration_seconds"),
        ({"music": [{"title": "x"}]}, "body.music.0"),
        ({"music": [{"text": "a", "track_id": "b"}]}, "body.music.0"),
        ({"day_end": "07:00"}, "body.day_end"),
        ({"min_gap_minutes": -1}, "body.min_gap_minutes"),
        ({"todos": [{"title": "t", "duration_minutes": 1}] * 300,
          "music": [{"title": "s", "duration_seconds": 1}] * 201}, "body"),
        ({"surprise": 1}, "body.surprise"),
    ],
)  # fmt: skip
async def test_invalid_requests_are_a_422_naming_the_field(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    response = await plan(client, BASE | change)
    assert response.status_code == 422, response.text
    fields = [d["field"] for d in response.json()["error"]["details"]]
    assert field in fields, fields


async def test_too_many_items_says_how_many(client: httpx.AsyncClient) -> None:
    body = BASE | {"todos": [{"title": "t", "duration_minutes": 1}] * 501}
    response = await plan(client, body)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "body.todos"


@pytest.mark.parametrize("how", ["accept", "query"])
async def test_the_plan_as_icalendar(client: httpx.AsyncClient, how: str) -> None:
    kwargs: dict[str, Any] = (
        {"headers": {"Accept": "text/calendar"}}
        if how == "accept"
        else {"params": {"format": "ics"}}
    )
    response = await plan(client, BASE, **kwargs)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/calendar")
    assert 'filename="tempo-2026-11-23.ics"' in response.headers["content-disposition"]
    calendar = Calendar.from_ical(response.content)
    events = sorted(
        (str(e["summary"]), e.decoded("dtstart"), e.decoded("dtend"))
        for e in calendar.walk("VEVENT")
    )

    def at(*hms: int) -> dt.datetime:
        return dt.datetime.combine(dt.date(2026, 11, 23), dt.time(*hms))

    assert events == [
        ("Report", at(8), at(9)),
        ("Stand-up", at(9), at(9, 30)),
        ("♪ Intro — Band", at(9, 30), at(9, 33, 30)),
    ]
    assert all(e["uid"] for e in calendar.walk("VEVENT"))


async def test_json_stays_the_default(client: httpx.AsyncClient) -> None:
    response = await plan(client, BASE, headers={"Accept": "application/json, text/plain"})
    assert response.headers["content-type"] == "application/json"
    ics_overridden = await plan(client, BASE, headers={"Accept": "text/calendar"},
                                params={"format": "json"})  # fmt: skip
    assert ics_overridden.headers["content-type"] == "application/json"


async def test_the_body_must_be_json(client: httpx.AsyncClient) -> None:
    broken = await client.post(
        "/schedule", content=b'{"day_start": "08:00",', headers={"content-type": "application/json"}
    )
    assert broken.status_code == 422
    (problem,) = broken.json()["error"]["details"]
    assert problem["field"] == "body" and problem["type"] == "json_invalid", problem
    form = {"content-type": "application/x-www-form-urlencoded"}
    not_json = await client.post("/schedule", content=b"day_start=08:00", headers=form)
    assert not_json.status_code == 415
    assert "application/json" in not_json.json()["error"]["message"]
    not_an_object = await client.post("/schedule", json=[BASE])
    assert not_an_object.status_code == 422
    assert not_an_object.json()["error"]["details"][0]["field"] == "body"


async def test_an_unknown_format_is_a_422_naming_it(client: httpx.AsyncClient) -> None:
    response = await plan(client, BASE, params={"format": "pdf"})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "query.format"


async def test_the_body_and_parameters_are_documented(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/schedule"]["post"]
    schemas = spec["components"]["schemas"]

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        assert schema["$ref"].startswith("#/components/schemas/"), schema
        resolved: dict[str, Any] = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return resolved

    assert operation["requestBody"]["required"] is True
    body = resolve(operation["requestBody"]["content"]["application/json"]["schema"])
    assert set(body["properties"]) >= {"day_start", "appointments", "todos", "music"}
    # Nested models resolve too: every $ref in the body points at a component.
    for name in ("appointments", "todos", "music"):
        item = resolve(body["properties"][name]["items"])
        assert item["additionalProperties"] is False and item["properties"], name
    parameters = {(p["in"], p["name"]): p for p in operation["parameters"]}
    assert parameters[("query", "format")]["schema"]["anyOf"][0]["enum"] == ["json", "ics"]
    assert ("header", "accept") in parameters
    assert {"413", "415", "422", "503"} <= set(operation["responses"])


async def test_a_huge_body_is_refused_before_it_is_read(client: httpx.AsyncClient) -> None:
    padding = {"title": "x" * 200, "duration_minutes": 1}
    huge = json.dumps(BASE | {"todos": [padding] * 6000}).encode()  # 1.3 MB
    declared = await client.post("/schedule", content=huge, headers={"content-type": JSON})
    assert declared.status_code == 413
    assert "this route takes 1,048,576" in declared.json()["error"]["message"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        for start in range(0, len(huge), 64 * 1024):
            yield huge[start : start + 64 * 1024]

    streamed = await client.post("/schedule", content=chunks(), headers={"content-type": JSON})
    assert streamed.status_code == 413
    assert streamed.json()["error"]["message"].startswith("the body is at least 1,")
