"""Structured logs: JSON lines, the request id in every line of a request, no secrets."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import httpx
import pytest
import structlog

from tempo.core.logs import REQUEST_ID, access_log, configure_logging, get_logger, redact_secrets
from tests.fixtures.app import TOKEN


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def test_every_line_of_a_request_carries_its_id(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    (data_dir / "r.csv").write_text("rank,user_id,name,messages\n1,1,A,x\n")
    configure_logging("INFO", "json")  # bind the handler to this test's captured stderr
    await client.post(
        "/feed", json={"data_path": "r.csv"}, headers=auth | {"X-Request-ID": "req-42"}
    )
    lines = json_lines(capfd.readouterr().err)
    access = [line for line in lines if line.get("logger") == "tempo.access"]
    assert access and access[-1]["request_id"] == "req-42"
    assert access[-1]["status"] == 422 and access[-1]["path"] == "/feed"
    assert isinstance(access[-1]["duration_ms"], float)
    assert all("timestamp" in line and "level" in line for line in lines)


async def test_the_token_never_reaches_the_logs(
    client: httpx.AsyncClient, auth: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "json")
    await client.post("/feed", json={"data_path": "x.csv"}, headers=auth)
    await client.post(
        "/feed", json={"data_path": "x.csv"}, headers={"Authorization": "Bearer guess"}
    )
    get_logger("tempo.test").info(
        "connecting", dsn="postgresql://u:pw@h/db", note=f"Bearer {TOKEN}"
    )
    output = capfd.readouterr().err
    assert TOKEN not in output and "guess" not in output and ":pw@" not in output
    assert "[redacted]" in output


def test_stdlib_records_share_the_renderer(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 123)
    with structlog.contextvars.bound_contextvars(request_id="r-1"):
        logging.getLogger("sqlalchemy.pool").warning("pool is tired")
    lines = json_lines(capfd.readouterr().err)
    assert lines[0]["event"] == "Started server process [123]" and "color_message" not in lines[0]
    assert lines[1]["request_id"] == "r-1" and lines[1]["level"] == "warning"


@pytest.mark.parametrize(
    ("path", "client", "request_id"),
    [
        ("/leaderboard", "127.0.0.1", "c16ffd1180fd7978a13fdcdb00018695"),
        # Escapes, text beyond ASCII, a password and a bearer token in the path; no client.
        ('/tracks/q"\\\tä€😀', None, "r-1"),
        ("/s3/postgresql://u:hunter2@db/x/Bearer abc", "::1", None),
    ],
)
def test_the_access_line_is_the_one_structlog_would_write(
    capfd: pytest.CaptureFixture[str], path: str, client: str | None, request_id: str | None
) -> None:
    configure_logging("INFO", "json")
    fields = {"method": "GET", "path": path, "status": 404, "duration_ms": 12.5, "client": client}
    access_log.write(*fields.values(), request_id)  # type: ignore[arg-type]
    token = REQUEST_ID.set(request_id)
    try:
        get_logger("tempo.access").info("request", **fields)
    finally:
        REQUEST_ID.reset(token)
    fast, rendered = capfd.readouterr().err.splitlines()
    # Byte for byte up to the timestamp, which differs by the µs between the two.
    assert fast.partition('"timestamp"')[0] == rendered.partition('"timestamp"')[0]
    assert re.fullmatch(
        r'"timestamp": "\d{4}-\d\d-\d\dT[\d:.]+Z"}', fast[fast.index('"timestamp"') :]
    )
    assert "hunter2" not in fast and "abc" not in fast


def test_access_lines_follow_the_level_and_the_format(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING", "json")
    access_log.write("GET", "/x", 500, 1.0, None, "r-2")
    assert capfd.readouterr().err == ""  # INFO, below the level: not written
    configure_logging("INFO", "console")
    access_log.write("GET", "/x", 500, 1.0, None, "r-2")
    err = capfd.readouterr().err
    assert "request" in err and "/x" in err and not err.lstrip().startswith("{")
    configure_logging("INFO", "json")


def test_uvicorn_builds_no_access_line_of_its_own() -> None:
    configure_logging("INFO", "json")
    # uvicorn formats its access line for every request whenever this is true.
    assert not logging.getLogger("uvicorn.access").hasHandlers()
    assert logging.getLogger("uvicorn.error").hasHandlers()  # its errors still reach the log


def test_console_format_is_human_readable(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "console")
    get_logger("tempo.test").info("hello", answer=42)
    err = capfd.readouterr().err
    assert "hello" in err and "answer" in err and not err.lstrip().startswith("{")
    configure_logging("INFO", "json")


def test_redaction_covers_keys_and_embedded_secrets() -> None:
    event = redact_secrets(None, "info", {
        "event": "x", "Authorization": "Bearer abc", "password": "p",
        "url": "postgresql+asyncpg://user:hunter2@db:5432/tempo", "ok": "plain",
        "note": "sent BeArEr abc123 again",
    })  # fmt: skip
    assert event["Authorization"] == "[redacted]" and event["password"] == "[redacted]"
    assert event["url"] == "postgresql+asyncpg://user:[redacted]@db:5432/tempo"
    assert event["ok"] == "plain"
    assert event["note"] == "sent BeArEr [redacted] again"


async def test_sampling_keeps_every_error_line(
    data_dir: Path, database_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    from tempo.app import create_app
    from tests.fixtures.app import make_settings, running

    settings = make_settings(database_url, data_dir, access_log_sample_rate=0.0)
    async for client in running(create_app(settings)):
        configure_logging("INFO", "json")
        for _ in range(5):
            await client.get("/healthz")
        await client.get("/nope")
        response = await client.get("/healthz")
        assert response.headers["x-request-id"]  # ids are given whether logged or not
    access = [
        line for line in json_lines(capfd.readouterr().err) if line.get("logger") == "tempo.access"
    ]
    assert [(line["path"], line["status"]) for line in access] == [("/nope", 404)]


async def test_an_unexpected_error_is_a_500_with_an_id_and_a_line(
    data_dir: Path, database_url: str, capfd: pytest.CaptureFixture[str]
) -> None:
    from tempo.app import create_app
    from tests.fixtures.app import make_settings, running

    app = create_app(make_settings(database_url, data_dir))

    async def broken() -> None:
        raise RuntimeError("the route's own bug")

    app.add_api_route("/broken", broken)
    async for client in running(app, raise_app_exceptions=False):
        configure_logging("INFO", "json")
        response = await client.get("/broken", headers={"X-Request-ID": "req-500"})
    assert response.status_code == 500 and response.json()["error"]["code"] == "internal_error"
    assert response.headers["x-request-id"] == "req-500"
    lines = json_lines(capfd.readouterr().err)
    access = [line for line in lines if line.get("logger") == "tempo.access"]
    assert [(line["path"], line["status"], line["request_id"]) for line in access] == [
        ("/broken", 500, "req-500")
    ]
    assert any(line.get("event") == "unhandled_error" for line in lines)
