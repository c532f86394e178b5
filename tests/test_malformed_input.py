"""Malformed files are refused, not absorbed; simple input never gives a 500 or a wrong 503.

Every malformed file goes through the command line (`tempo aggregate`, `tempo feed`) and
through the API (POST /uploads, POST /feed). Each must be refused naming the file, the
line and the reason, and leave the stored files, the result and the served leaderboard as
they were. The README's "Reliability / Malformed input" counts what is tried here.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.app import create_app
from tempo.core.db_errors import is_database_unavailable
from tempo.core.settings import Settings
from tempo.pipeline.feed import feed_file
from tests.fixtures.app import TOKEN, make_settings, running
from tests.fixtures.catalog import spotify_csv
from tests.fixtures.files import write
from tests.fixtures.processes import free_port, tempo, tempo_serve

MESSAGES = b"message_id,author_id\n1,1\n2,1\n3,2\n"
USERS = b"user_id,name\n1,Ada\n2,Alan\n"
RESULT = b"rank,user_id,name,messages\n1,1,Ada,2\n2,2,Alan,1\n"
GOOD = {"messages": MESSAGES, "users": USERS, "result": RESULT}
FILE_NAMES = {"messages": "messages.csv", "users": "users.csv", "result": "result.csv"}
# One header of a million columns: about 6.9 MB on one line.
MILLION = b",".join(b"c%d" % i for i in range(1_000_000))
SHORT_MESSAGE = 300  # characters: an error message stays readable whatever the file


@dataclass(frozen=True)
class Case:
    kind: str  # messages, users or result (pipeline_result.csv)
    content: bytes
    reason: str  # part of the reason the error gives
    line: int
    row: int | None = None
    column: str | None = None


CASES = {
    "messages-bare-cr": Case("messages", b"message_id,author_id\r1,1\r2,2\r", "bare CR", 1),
    "users-bare-cr": Case("users", b"user_id,name\r1,Ada\r2,Alan\r", "bare CR", 1),
    "result-bare-cr": Case(
        "result", b"rank,user_id,name,messages\r1,1,Ada,2\r2,2,Alan,1\r", "bare CR", 1
    ),
    "messages-short-record": Case(
        "messages", b"message_id,author_id,content\n1,1,hi\n2,2\n3,1,yo\n",
        "2 fields where the header has 3", 3, row=2,
    ),
    "messages-short-record-without-author": Case(
        "messages", b"message_id,author_id\n1,1\n2\n", "1 fields where the header has 2", 3,
        row=2,
    ),
    "users-short-record": Case(
        "users", b"user_id,first_name,last_name\n1,Ada,Lovelace\n2,Alan\n",
        "2 fields where the header has 3", 3, row=2,
    ),
    "result-short-record": Case(
        "result", b"rank,user_id,name,messages\n1,1,Ada,2\n2,2,Alan\n",
        "3 fields where the header has 4", 3, row=2,
    ),
    "messages-header-only": Case("messages", b"message_id,author_id\n", "no data rows", 2),
    "users-header-only": Case("users", b"user_id,name\n", "no data rows", 2),
    "result-header-only": Case("result", b"rank,user_id,name,messages\n", "no data rows", 2),
    "messages-duplicate-header": Case(
        "messages", b"message_id,author_id,author_id\n1,1,2\n",
        "duplicate column name 'author_id'", 1, column="author_id",
    ),
    "users-duplicate-header": Case(
        "users", b"user_id,name,name\n1,Ada,A\n", "duplicate column name 'name'", 1,
        column="name",
    ),
    "result-duplicate-header": Case(
        "result", b"rank,user_id,name,messages,name\n1,1,Ada,2,x\n",
        "duplicate column name 'name'", 1, column="name",
    ),
    "messages-million-columns": Case(
        "messages", b"message_id,author_id," + MILLION + b"\n1,1\n", "longer than 65,536", 1
    ),
    "users-utf16": Case("users", "user_id,name\n1,Ada\n".encode("utf-16"), "UTF-16", 1),
    "messages-utf16-big-endian": Case(
        "messages", "message_id,author_id\n1,1\n".encode("utf-16-be"), "UTF-16", 1
    ),
    "users-million-columns": Case("users", MILLION + b"\n", "longer than 65,536", 1),
    "result-million-columns": Case("result", MILLION + b"\n", "longer than 65,536", 1),
    "messages-2000-columns": Case(
        "messages",
        b"message_id,author_id," + b",".join(b"c%d" % i for i in range(2000)) + b"\n",
        "the header has 2,002 columns", 1,
    ),
    "messages-without-message-id": Case(
        "messages", b"author_id,content\n1,hi\n", "missing column 'message_id'", 1,
        column="message_id",
    ),
}  # fmt: skip


def assert_names_line_and_reason(error: dict[str, object], case: Case, file: str) -> None:
    assert error["code"] == "invalid_csv"
    details = error["details"]
    assert isinstance(details, dict)
    assert details["file"] == file
    assert details["line"] == case.line
    assert details["row"] == case.row
    assert details["column"] == case.column
    assert case.reason in str(details["reason"])
    message = str(error["message"])
    assert message.startswith(file) and case.reason in message
    assert len(message) < SHORT_MESSAGE


def board_rows(response: httpx.Response) -> object:
    """The served ranking, with when it was fed: all that a refused file must not change."""
    body = response.json()
    return body["leaderboard"], body["total"], body["updated_at"]


# --- the command line -------------------------------------------------------------------


def cli(*args: str) -> tuple[int, str]:
    """`tempo …` run in this process (the typer app the entry point runs): its exit code
    and stderr. The entry point itself is run as a process by the tests that pass
    `entry_point`, to keep the whole file fast."""
    from typer.testing import CliRunner

    from tempo.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stderr


def run_tempo(entry_point: bool, *args: str) -> tuple[int, str]:
    if entry_point:
        done = tempo(*args)
        return done.returncode, done.stderr
    return cli(*args)


# One case of each kind also goes through the installed `tempo` as a process.
ENTRY_POINT = {"messages-short-record", "users-bare-cr", "result-million-columns"}


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.kind != "result"])
def test_tempo_aggregate_refuses_the_file_and_writes_nothing(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    files = {kind: write(tmp_path / FILE_NAMES[kind], GOOD[kind]) for kind in ("messages", "users")}
    write(files[case.kind], case.content)
    previous = write(tmp_path / "out" / "pipeline_result.csv", RESULT)

    code, stderr = run_tempo(
        name in ENTRY_POINT,
        "aggregate", str(files["messages"]), str(files["users"]), str(tmp_path / "out"),
    )  # fmt: skip

    assert code == 1
    error = stderr.strip()
    assert "\n" not in error and len(error) < SHORT_MESSAGE + len(str(tmp_path)) + 20
    assert error.startswith(f"error: {files[case.kind]}, ")
    where = f"row {case.row}" if case.row is not None else f"line {case.line}"
    assert where in error and f"line {case.line}" in error and case.reason in error
    assert previous.read_bytes() == RESULT
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["pipeline_result.csv"]


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.kind == "result"])
async def test_tempo_feed_refuses_the_file_and_keeps_the_board(
    name: str, tmp_path: Path, database_url: str, engine: AsyncEngine, settings: Settings
) -> None:
    case = CASES[name]
    await feed_file(engine, write(tmp_path / "good.csv", RESULT))
    async for client in running(create_app(settings)):
        before = board_rows(await client.get("/leaderboard"))

    bad = write(tmp_path / "result.csv", case.content)
    code, stderr = await asyncio.to_thread(
        run_tempo, name in ENTRY_POINT, "feed", str(bad), "--database-url", database_url
    )

    assert code == 1
    error = stderr.strip()
    assert error.startswith(f"error: {bad}, ") and "\n" not in error
    assert f"line {case.line}" in error and case.reason in error
    async for client in running(create_app(settings)):
        assert board_rows(await client.get("/leaderboard")) == before


async def test_tempo_feed_and_aggregate_take_an_empty_input_when_asked(
    tmp_path: Path, database_url: str, engine: AsyncEngine, settings: Settings
) -> None:
    messages = write(tmp_path / "messages.csv", b"message_id,author_id\n")
    users = write(tmp_path / "users.csv", b"user_id,name\n")
    made = tempo("aggregate", str(messages), str(users), str(tmp_path), "--allow-empty")
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "pipeline_result.csv").read_bytes() == b"rank,user_id,name,messages\n"

    await feed_file(engine, write(tmp_path / "good.csv", RESULT))
    emptied = await asyncio.to_thread(
        tempo, "feed", str(tmp_path / "pipeline_result.csv"), "--allow-empty",
        "--database-url", database_url,
    )  # fmt: skip
    assert emptied.returncode == 0, emptied.stderr
    async for client in running(create_app(settings)):
        assert (await client.get("/leaderboard")).json()["total"] == 0


# --- the API ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.kind != "result"])
async def test_an_upload_is_refused_and_replaces_nothing(
    name: str, client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path
) -> None:
    case = CASES[name]
    files = {"messages": ("messages.csv", MESSAGES), "users": ("users.csv", USERS)}
    first = await client.post("/uploads", files=files, headers=auth)
    assert first.status_code == 200 and first.json()["run"]["status"] == "succeeded"
    stored = {p.name: p.read_bytes() for p in data_dir.iterdir()}
    board = board_rows(await client.get("/leaderboard"))
    runs = (await client.get("/pipeline/runs", headers=auth)).json()["total"]

    # The good file of the other kind comes along: it must not be stored either.
    refused = await client.post(
        "/uploads", files=files | {case.kind: ("upload.csv", case.content)}, headers=auth
    )

    assert refused.status_code == 422, refused.text
    assert_names_line_and_reason(refused.json()["error"], case, FILE_NAMES[case.kind])
    assert {p.name: p.read_bytes() for p in data_dir.iterdir()} == stored
    assert board_rows(await client.get("/leaderboard")) == board
    assert (await client.get("/pipeline/runs", headers=auth)).json()["total"] == runs


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.kind == "result"])
async def test_post_feed_refuses_the_file_and_keeps_the_board(
    name: str, client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path
) -> None:
    case = CASES[name]
    write(data_dir / "good.csv", RESULT)
    assert (await client.post("/feed", json={"data_path": "good.csv"}, headers=auth)).is_success
    board = board_rows(await client.get("/leaderboard"))

    write(data_dir / "result.csv", case.content)
    refused = await client.post("/feed", json={"data_path": "result.csv"}, headers=auth)

    assert refused.status_code == 422, refused.text
    assert_names_line_and_reason(refused.json()["error"], case, "result.csv")
    assert board_rows(await client.get("/leaderboard")) == board


async def test_the_api_takes_an_empty_input_when_asked(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path
) -> None:
    write(data_dir / "good.csv", RESULT)
    write(data_dir / "empty.csv", b"rank,user_id,name,messages\n")
    assert (await client.post("/feed", json={"data_path": "good.csv"}, headers=auth)).is_success
    body = {"data_path": "empty.csv", "allow_empty": True}
    assert (await client.post("/feed", json=body, headers=auth)).is_success
    assert (await client.get("/leaderboard")).json()["total"] == 0

    header_only = {"messages": ("m.csv", b"message_id,author_id\n"), "users": ("u.csv", USERS)}
    refused = await client.post("/uploads", files=header_only, headers=auth)
    assert refused.status_code == 422
    accepted = await client.post(
        "/uploads", params={"allow_empty": "true"}, files=header_only, headers=auth
    )
    assert accepted.status_code == 200, accepted.text
    assert [f["rows"] for f in accepted.json()["stored"]] == [0, 2]
    # The upload's run took the empty messages.csv too: both users, with no messages.
    assert accepted.json()["run"]["status"] == "succeeded"
    assert (await client.get("/leaderboard")).json()["total"] == 2

    run = await client.post("/pipeline/run", json={}, headers=auth)
    assert run.status_code == 422 and "no data rows" in run.json()["error"]["message"]
    run = await client.post("/pipeline/run", json={"allow_empty": True}, headers=auth)
    assert run.status_code == 200, run.text


# --- no 500 from simple input, no wrong 503 ---------------------------------------------

BEYOND = [2**63, -(2**63) - 1, 10**40]
INTEGER_PARAMETERS = [
    ("/leaderboard", "limit"), ("/leaderboard", "offset"), ("/tracks", "limit"),
    ("/tracks", "offset"), ("/pipeline/runs", "limit"), ("/pipeline/runs", "offset"),
    ("/analytics/spotify/top", "limit"), ("/analytics/spotify/popularity-histogram", "bins"),
    ("/analytics/majors/largest", "limit"), ("/analytics/majors/largest", "version"),
    ("/analytics/majors/by-category", "version"),
    ("/analytics/majors/share-vs-earnings", "version"),
]  # fmt: skip


async def test_integers_beyond_any_column_are_a_422(
    settings: Settings, auth: dict[str, str]
) -> None:
    # With Spotify data, so the analytics routes get as far as their parameters.
    settings = settings.model_copy(update={"spotify_source": str(spotify_csv())})
    async for client in running(create_app(settings)):
        await _integers_beyond_any_column_are_a_422(client, auth)


async def _integers_beyond_any_column_are_a_422(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for path, name in INTEGER_PARAMETERS:
        for value in BEYOND:
            response = await client.get(path, params={name: value}, headers=auth)
            assert response.status_code == 422, (path, name, value, response.text)
            assert response.json()["error"]["details"][0]["field"] == f"query.{name}"
    for page in ("/board", "/datamart", "/analytics"):  # pages say what is missing, as pages
        for name in ("page", "version"):
            response = await client.get(page, params={name: 10**40})
            assert response.status_code < 500, (page, name, response.text)


NUL_QUERIES = [
    "/leaderboard?offset=%00", "/leaderboard?limit=1&x=%00", "/tracks?q=dance%00monkey",
    "/tracks?genre=pop%00", "/pipeline/runs?limit=%001", "/board?page=1%00",
    "/datamart?table=users%00", "/analytics/majors/largest?version=%00", "/healthz?%00=1",
    "/readyz?probe=%00", "/?date=%00", "/analytics/spotify/top?limit=1%00",
]  # fmt: skip


async def test_a_nul_byte_in_any_query_parameter_is_a_422(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    # A cached answer must not get round the check: the cache sees the request after it.
    assert (await client.get("/leaderboard?offset=0")).status_code == 200
    for query in NUL_QUERIES:
        response = await client.get(query, headers=auth)
        assert response.status_code == 422, (query, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_request" and "NUL" in error["message"]
        assert error["details"][0]["type"] == "nul_byte"
    post = await client.post("/schedule?format=%00", json={}, headers=auth)
    assert post.status_code == 422 and post.json()["error"]["details"][0]["field"] == (
        "query.format"
    )


@pytest.mark.parametrize(
    ("make", "requested", "said"),
    [
        ("loop", "loop", "symbolic link loop"),
        ("loop", "loop/inside.csv", "symbolic link loop"),
        (None, "x" * 256, "longer than the file system allows"),
        (None, "x" * 256 + "/result.csv", "longer than the file system allows"),
    ],
)
async def test_a_path_the_file_system_refuses_is_a_400_that_says_why(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path,
    make: str | None, requested: str, said: str,
) -> None:  # fmt: skip
    if make == "loop":
        (data_dir / "loop").symlink_to("loop")
    response = await client.post("/feed", json={"data_path": requested}, headers=auth)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_path" and said in error["message"]
    assert str(data_dir) not in error["message"]


def test_an_os_error_about_a_file_is_not_a_lost_database() -> None:
    too_long = OSError(errno.ENAMETOOLONG, "File name too long", "/data/" + "x" * 256)
    assert not is_database_unavailable(too_long)
    assert is_database_unavailable(ConnectionRefusedError(errno.ECONNREFUSED, "refused"))
    assert is_database_unavailable(OSError("Multiple exceptions: [Errno 111] Connect call"))


def _partial_request(port: int, request_id: str, head: str, body_start: bytes) -> None:
    """Send a request's head and the start of its body, then hang up."""
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(
            head.format(rid=request_id, token=TOKEN).replace("\n", "\r\n").encode()
            + b"\r\n"
            + body_start
        )
        time.sleep(0.2)  # the server has started reading the body


PARTIAL_BODIES = {
    "feed": ("POST /feed HTTP/1.1\nHost: t\nX-Request-ID: {rid}\nAuthorization: Bearer {token}\n"
             "Content-Type: application/json\nContent-Length: 200\n", b'{"data_path": "r'),
    "schedule": ("POST /schedule HTTP/1.1\nHost: t\nX-Request-ID: {rid}\n"
                 "Content-Type: application/json\nContent-Length: 200\n", b'{"date": "2026'),
    "pipeline-run": ("POST /pipeline/run HTTP/1.1\nHost: t\nX-Request-ID: {rid}\n"
                     "Authorization: Bearer {token}\nContent-Type: application/json\n"
                     "Content-Length: 200\n", b'{"feed": '),
    "uploads": ("POST /uploads HTTP/1.1\nHost: t\nX-Request-ID: {rid}\n"
                "Authorization: Bearer {token}\nContent-Type: multipart/form-data; boundary=B\n"
                "Content-Length: 5000\n",
                b'--B\r\nContent-Disposition: form-data; name="messages"; filename="m.csv"\r\n'
                b"\r\nmessage_id,author_id\n1,1\n"),
    "upload-page": ("POST /upload HTTP/1.1\nHost: t\nX-Request-ID: {rid}\n"
                    "Content-Type: multipart/form-data; boundary=B\nContent-Length: 5000\n",
                    b'--B\r\nContent-Disposition: form-data; name="token"\r\n\r\n'
                    + TOKEN.encode() + b'\r\n--B\r\nContent-Disposition: form-data; '
                    b'name="users"; filename="u.csv"\r\n\r\nuser_id,name\n1,A'),
}  # fmt: skip


@pytest.mark.slow
def test_a_client_that_hangs_up_mid_body_is_one_info_line(
    database_url: str, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = {"DATA_DIR": str(data), "API_TOKEN": TOKEN, "LOG_LEVEL": "INFO"}
    with tempo_serve(database_url, tmp_path, **env) as base:
        port = int(base.rsplit(":", 1)[1])
        for route, (head, body) in PARTIAL_BODIES.items():
            _partial_request(port, f"gone-{route}", head, body)
        log = tmp_path / "serve.log"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
            if all(any(x.get("request_id") == f"gone-{r}" for x in lines) for r in PARTIAL_BODIES):
                break
            time.sleep(0.2)
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    for route in PARTIAL_BODIES:
        mine = [x for x in lines if x.get("request_id") == f"gone-{route}"]
        assert len(mine) == 1, (route, mine)
        assert mine[0]["level"] == "info" and mine[0]["status"] == 499, mine
    assert [x for x in lines if x["level"] in ("error", "critical") or "exception" in x] == []
    # Nothing was stored, and no temporary upload folder was left behind.
    assert not data.exists() or list(data.iterdir()) == []


async def test_an_upload_while_the_database_is_down_stores_nothing(
    data_dir: Path, auth: dict[str, str]
) -> None:
    old = {"messages.csv": b"message_id,author_id\n9,9\n", "users.csv": b"user_id,name\n9,Old\n"}
    for name, content in old.items():
        write(data_dir / name, content)
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/gone"
    async for client in running(create_app(make_settings(nowhere, data_dir))):
        files = {"messages": ("m.csv", MESSAGES), "users": ("u.csv", USERS)}
        response = await client.post("/uploads", files=files, headers=auth)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "database_unavailable"
    assert response.headers["retry-after"]
    assert {p.name: p.read_bytes() for p in data_dir.iterdir()} == old


async def test_an_upload_whose_run_finds_no_database_schema_says_what_was_stored(
    empty_database_url: str, data_dir: Path, auth: dict[str, str]
) -> None:
    # The database answers, so the files are stored; the run then cannot record itself.
    async for client in running(create_app(make_settings(empty_database_url, data_dir))):
        files = {"messages": ("m.csv", MESSAGES), "users": ("u.csv", USERS)}
        response = await client.post("/uploads", files=files, headers=auth)
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "schema_missing"
    assert error["message"].startswith("messages.csv and users.csv were stored, but")
    assert [f["name"] for f in error["details"]["stored"]] == ["messages.csv", "users.csv"]
    assert (data_dir / "messages.csv").read_bytes() == MESSAGES
    assert os.path.getsize(data_dir / "users.csv") == len(USERS)


async def test_the_docs_state_the_data_contract(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    for path in ("/uploads", "/feed", "/pipeline/run"):
        said = paths[path]["post"]["description"]
        for rule in ("not bare CR", "1,000", "`message_id`", "`allow_empty`", "`line`"):
            assert rule in said, (path, rule)


JSON_ROUTES = ["/feed", "/feed/s3", "/pipeline/run"]


@pytest.mark.parametrize("path", JSON_ROUTES)
async def test_a_json_route_names_a_syntax_error_and_refuses_other_media_types(
    client: httpx.AsyncClient, auth: dict[str, str], path: str
) -> None:
    broken = await client.post(
        path, content=b'{"allow_empty": ', headers=auth | {"Content-Type": "application/json"}
    )
    assert broken.status_code == 422, broken.text
    [problem] = broken.json()["error"]["details"]
    assert problem == {
        "field": "body",
        "message": "Invalid JSON: Expecting value at character 16",
        "type": "json_invalid",
    }
    for media_type in ("text/plain", "application/x-www-form-urlencoded"):
        wrong = await client.post(
            path, content=b'{"allow_empty": true}', headers=auth | {"Content-Type": media_type}
        )
        assert wrong.status_code == 415, (media_type, wrong.text)
        assert wrong.json()["error"]["code"] == "unsupported_media_type"
        assert media_type in wrong.json()["error"]["message"]
