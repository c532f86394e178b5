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
