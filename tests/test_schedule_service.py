"""The plan's two encodings agree: POST /schedule's JSON, written straight from the planner's
records, is byte for byte what the validated `SchedulePlan` model would encode."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tempo.schedule.schemas import SchedulePlan, ScheduleRequest
from tempo.schedule.service import InvalidSchedule, plan_day, plan_day_json

minutes = st.integers(6 * 60, 22 * 60)
seconds = st.integers(0, 59)
text = st.text(min_size=1, max_size=12)  # any unicode: quotes, backslashes, emoji, controls


def clock(minute: int, second: int = 0) -> str:
    return dt.time(minute // 60, minute % 60, second).isoformat()


@st.composite
def appointments(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(minutes)
    end = draw(st.integers(start + 1, 23 * 60 + 59))
    return {"title": draw(text), "start": clock(start, draw(seconds)), "end": clock(end),
            "essential": draw(st.booleans())}  # fmt: skip


@st.composite
def todos(draw: st.DrawFn) -> dict[str, Any]:
    todo: dict[str, Any] = {"title": draw(text), "duration_minutes": draw(st.integers(1, 120)),
                            "priority": draw(st.integers(1, 5))}  # fmt: skip
    if draw(st.booleans()):
        todo["latest"] = clock(draw(minutes))
    return todo


songs = st.builds(
    lambda title, artist, length: {"title": title, "artist": artist, "duration_seconds": length},
    text,
    st.none() | text,
    st.integers(1, 900),
)


@st.composite
def requests(draw: st.DrawFn) -> ScheduleRequest:
    body = {
        "date": draw(st.none() | st.dates().map(dt.date.isoformat)),
        "day_start": clock(draw(st.integers(0, 8 * 60))),
        "day_end": clock(draw(st.integers(23 * 60, 23 * 60 + 59)), 59),
        "min_gap_minutes": draw(st.sampled_from([0, 0, 5, 15])),
        "appointments": draw(st.lists(appointments(), max_size=6)),
        "todos": draw(st.lists(todos(), max_size=6)),
        "music": draw(st.lists(songs, max_size=25)),
    }
    return ScheduleRequest.model_validate(body)


@settings(max_examples=200, deadline=None)
@given(requests())
def test_the_json_is_what_the_model_would_encode(request: ScheduleRequest) -> None:
    try:
        model = asyncio.run(plan_day(request, None))
    except InvalidSchedule:
        with pytest.raises(InvalidSchedule):
            asyncio.run(plan_day_json(request, None))
        return
    encoded = asyncio.run(plan_day_json(request, None))
    assert encoded == model.model_dump_json().encode()
    assert SchedulePlan.model_validate_json(encoded) == model
