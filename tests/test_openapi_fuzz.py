"""The OpenAPI document tells the truth: Schemathesis, with every check, against a served Tempo
finds no response the document does not describe and no 5xx but the deliberate one.

A smaller run than `make fuzz` (tests/fixtures/openapi_fuzz.py), with a fixed seed, so that
CI repeats it exactly; the full run's figures are in the README (Reliability, Fuzzed
requests).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from tests.fixtures.openapi_fuzz import Pass, fuzz, prepare, run_schemathesis
from tests.fixtures.processes import tempo_serve

MAX_EXAMPLES = 5
SEED = 20261129
# Below these, a pass tested too little to mean anything (each is about a third of what the
# settings above generate): every operation gets its examples, boundaries and fuzzed cases.
MIN_CASES = {"with the token": 250, "without a token": 250}


@pytest.mark.slow
def test_fuzzing_a_served_tempo_finds_nothing(database_url: str, tmp_path: Path) -> None:
    env = prepare(tmp_path, database_url, migrate=False)
    with tempo_serve(database_url, tmp_path, **env) as base:
        passes = fuzz(base, tmp_path / "reports", max_examples=MAX_EXAMPLES, seed=SEED)
    log = (tmp_path / "serve.log").read_text()
    for run in passes:
        assert run.generated >= MIN_CASES[run.label], run.summary()
        # Every operation answered at least once with its own success, not just refusals.
        assert run.statuses[200] > 0, run.summary()
        assert not run.server_errors, run.summary()
        assert run.clean, run.summary() + "\n" + run.output
    with_token, without = passes
    # The write routes did their work with the token and refused every request without it.
    assert with_token.deliberate > 0, with_token.summary()
    assert without.statuses[401] > 0 and without.deliberate == 0, without.summary()
    assert "unhandled_error" not in log


# --- What the fuzzer found stays fixed ----------------------------------------------------


async def test_a_nul_in_a_text_parameter_is_a_422_not_a_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/analytics/majors", params={"category": "Arts\x00"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == "query.category"


@pytest.mark.parametrize(
    ("path", "value"),
    [("/leaderboard?limit=", "2.0"), ("/analytics/majors/largest?version=", "0.0"),
     ("/tracks?offset=", "1_000"), ("/leaderboard?offset=", " 3")],
)  # fmt: skip
async def test_an_integer_parameter_takes_an_integer_only(
    client: httpx.AsyncClient, path: str, value: str
) -> None:
    response = await client.get(path + value)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["type"] == "int_parsing"


@pytest.mark.parametrize(
    ("name", "reason"),
    [("x" * 300, "longer than the file system allows"), ("loop", "symbolic link")],
)
async def test_a_path_the_file_system_refuses_is_a_400_naming_why(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path, name: str, reason: str
) -> None:
    (data_dir / "loop").symlink_to(data_dir / "loop")
    response = await client.post("/feed", json={"data_path": name}, headers=auth)
    assert response.status_code == 400, response.text  # was a 503 "database unavailable"
    error = response.json()["error"]
    assert error["code"] == "invalid_path" and reason in error["message"].lower()
    assert str(data_dir) not in response.text


@pytest.mark.parametrize(
    "body",
    [
        {"day_start": "07:00Z"},  # an offset: the plan is in local time
        {"appointments": [{"title": "a", "start": "09:00", "end": "09:30+02:00"}]},  # was a 500
        {"day_start": 3600},  # not seconds since midnight
        {"day_start": "07:00:00.5"},
        {"min_gap_minutes": "5"},  # JSON says what it means: a string is not a number
        {"appointments": [{"title": "a", "start": "09:00", "end": "09:30", "essential": 1}]},
    ],
)
async def test_schedule_refuses_what_its_schema_refuses(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post("/schedule", json=body)
    assert response.status_code == 422, response.text


async def test_schedule_times_are_local_and_documented_so(client: httpx.AsyncClient) -> None:
    body = {"day_start": "08:00", "day_end": "12:00:30",
            "appointments": [{"title": "a", "start": "09:00", "end": "09:30:15"}]}  # fmt: skip
    plan = (await client.post("/schedule", json=body)).json()
    times = [plan["day_start"], plan["day_end"]]
    times += [t for item in plan["timeline"] for t in (item["start"], item["end"])]
    assert plan["day_start"] == "08:00:00" and "09:30:15" in times
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    for model, field in [("SchedulePlan", "day_start"), ("TimelineItem", "end"),
                         ("Appointment", "start"), ("ScheduleRequest", "day_end")]:  # fmt: skip
        declared = schemas[model]["properties"][field]
        assert "format" not in declared  # JSON Schema's "time" requires an offset
        assert all(re.fullmatch(declared["pattern"].strip("^$"), t) for t in times)
        assert not re.match(declared["pattern"], "09:00Z")


async def test_pipeline_run_takes_a_boolean_only(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post("/pipeline/run", json={"feed": 0}, headers=auth)
    assert response.status_code == 422, response.text


async def test_write_routes_document_every_error_they_answer(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    for path in ("/feed", "/feed/s3", "/pipeline/run", "/uploads"):
        responses = document["paths"][path]["post"]["responses"]
        for status in ("400", "401", "403", "404", "413", "415", "422", "429", "503"):
            declared = responses[status]
            assert declared["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorResponse"
            }, (path, status)
        assert "Retry-After" in responses["503"]["headers"]
        assert "WWW-Authenticate" in responses["401"]["headers"]


# --- The harness itself catches what it is there to catch -------------------------------

COUNT_PARAMETER = {
    "name": "n",
    "in": "query",
    "required": True,
    "schema": {"type": "integer", "minimum": 0, "maximum": 10},
}
LYING_DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "lies", "version": "1"},
    "paths": {
        "/count": {"get": {
            "parameters": [COUNT_PARAMETER],
            "responses": {"200": {"description": "ok", "content": {"application/json": {
                "schema": {"type": "object", "required": ["n"],
                           "properties": {"n": {"type": "integer"}}},
            }}}},
        }},
        "/crash": {"get": {
            "parameters": [COUNT_PARAMETER],
            "responses": {"200": {"description": "ok"}},
        }},
    },
}  # fmt: skip


def lying_server(httpserver: HTTPServer) -> str:
    """/count documents `n` as an integer and sends it as text; /crash answers 500."""
    httpserver.expect_request("/openapi.json").respond_with_json(LYING_DOCUMENT)
    httpserver.expect_request("/crash").respond_with_json({"error": "boom"}, status=500)
    httpserver.expect_request("/count").respond_with_handler(
        lambda request: Response(
            json.dumps({"n": request.query_string.decode().rsplit("=", 1)[-1]}),
            content_type="application/json",
        )
    )
    return httpserver.url_for("").rstrip("/")


def test_the_harness_reports_schema_violations_and_server_errors(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    run: Pass = run_schemathesis(
        lying_server(httpserver), tmp_path, max_examples=20, token=None, seed=SEED, workers=1
    )
    assert not run.clean
    assert run.exit_code != 0
    codes = {failure["code"] for failure in run.failures}
    assert "ST108" in codes  # the answer breaks its own schema
    assert run.server_errors[("GET", "/crash", 500, "")] > 0
    assert run.requests >= run.generated > 0
