"""Limits come before work: a write route checks the token, and every route the size of the
body, before the body is read; repeated wrong tokens from one address are refused (429)."""

from __future__ import annotations

import asyncio
import gzip
import select
import socket
import time
import zlib
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from tempo.app import DEFAULT_BODY_LIMIT, PLANNER_FORM_LIMIT, create_app
from tempo.core.db import Lock, asyncpg_dsn
from tempo.core.security import WRONG_TOKENS_PER_MINUTE
from tempo.core.settings import Settings
from tempo.pipeline.uploads import upload_ceiling
from tests.fixtures.app import TOKEN, make_settings
from tests.fixtures.processes import tempo_serve
from tests.fixtures.s3 import S3Server, put

HUGE = 400_000_000  # the 400 MB body that was once read and parsed without a token
CHUNK = 64 * 1024
JSON = {"Content-Type": "application/json"}
MULTIPART = {"Content-Type": "multipart/form-data; boundary=b0undary"}
# The write routes (API token in the header) and the body each would take.
RESULT = "rank,user_id,name,messages\n1,1,Ada,2\n2,2,Bo,1\n"
USERS = ("users.csv", b"user_id,name\n1,A\n", "text/csv")
WRITE_ROUTES = {
    "/feed": JSON,
    "/feed/s3": JSON,
    "/pipeline/run": JSON,
    "/uploads": MULTIPART,
}


class Body:
    """A request body of `chunks` × 64 KiB that counts what the server pulled from it."""

    def __init__(self, chunks: int, head: bytes = b"", fill: bytes = b" ") -> None:
        self.chunks = chunks
        self.head = head
        self.chunk = fill * (CHUNK // len(fill))
        self.read = 0  # chunks handed to the app

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self.head:
            self.read += 1
            yield self.head
        for _ in range(self.chunks):
            self.read += 1
            yield self.chunk

    @property
    def declared(self) -> str:
        return str(len(self.head) + self.chunks * len(self.chunk))


async def clients(
    settings: Settings, *addresses: str
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """One app with its lifespan, and a client of it from each address."""
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        made = {
            address: httpx.AsyncClient(
                transport=httpx.ASGITransport(app=manager.app, client=(address, 40000)),
                base_url="http://tempo.test",
            )
            for address in addresses
        }
        try:
            yield made
        finally:
            for client in made.values():
                await client.aclose()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async for made in clients(settings, "192.0.2.1"):
        yield made["192.0.2.1"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("route", sorted(WRITE_ROUTES))
@pytest.mark.parametrize("framing", ["declared", "chunked"])
@pytest.mark.parametrize(("token", "status"), [(None, 401), ("wrong-token", 403)])
async def test_a_write_route_refuses_a_bad_token_before_reading_the_body(
    client: httpx.AsyncClient, route: str, framing: str, token: str | None, status: int
) -> None:
    body = Body(HUGE // CHUNK)
    headers = WRITE_ROUTES[route] | (bearer(token) if token else {})
    if framing == "declared":
        headers["Content-Length"] = str(HUGE)
    started = time.perf_counter()
    response = await client.post(route, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == ("unauthorized" if status == 401 else "forbidden")
    assert body.read == 0  # not one byte of the 400 MB was pulled
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("route", ["/feed", "/feed/s3", "/pipeline/run"])
async def test_an_oversized_body_with_the_token_is_refused_unread(
    client: httpx.AsyncClient, route: str
) -> None:
    declared = Body(HUGE // CHUNK)
    headers = JSON | bearer(TOKEN) | {"Content-Length": declared.declared}
    response = await client.post(route, content=declared, headers=headers)
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "too_large"
    size = int(declared.declared)
    assert error["message"] == f"the body is {size:,} bytes; this route takes 65,536"
    assert DEFAULT_BODY_LIMIT == 65_536
    assert declared.read == 0

    chunked = Body(HUGE // CHUNK)
    response = await client.post(route, content=chunked, headers=JSON | bearer(TOKEN))
    assert response.status_code == 413, response.text
    assert response.json()["error"]["message"].startswith("the body is at least ")
    assert chunked.read == DEFAULT_BODY_LIMIT // CHUNK + 1  # the chunk past the limit, no more


async def test_an_upload_body_is_capped_as_a_whole(database_url: str, data_dir: Path) -> None:
    settings = make_settings(database_url, data_dir, max_upload_bytes=1000)
    ceiling = upload_ceiling(1000)
    async for made in clients(settings, "192.0.2.1"):
        client = made["192.0.2.1"]
        declared = Body(HUGE // CHUNK)
        headers = MULTIPART | bearer(TOKEN) | {"Content-Length": declared.declared}
        response = await client.post("/uploads", content=declared, headers=headers)
        assert response.status_code == 413 and declared.read == 0

        # Parts that store nothing (a file input left empty) still count against the body.
        empty = (
            b'--b0undary\r\nContent-Disposition: form-data; name="messages"; filename=""\r\n'
            b"\r\n\r\n"
        )

        parts = Body(HUGE // CHUNK, fill=empty)
        response = await client.post("/uploads", content=parts, headers=MULTIPART | bearer(TOKEN))
        assert response.status_code == 413, response.text
        assert f"this route takes {ceiling:,}" in response.json()["error"]["message"]
        assert parts.read <= ceiling // CHUNK + 2
        assert list(data_dir.iterdir()) == []


async def test_the_upload_page_checks_its_token_before_the_first_file(
    client: httpx.AsyncClient, data_dir: Path
) -> None:
    # The form's token comes first; a file part without it is refused at its headers.
    head = (
        b'--b0undary\r\nContent-Disposition: form-data; name="messages"; '
        b'filename="messages.csv"\r\nContent-Type: text/csv\r\n\r\nmessage_id,author_id\n'
    )
    body = Body(1000, head=head)  # 64 MB, within what two files may be
    response = await client.post(
        "/upload", content=body, headers=MULTIPART | {"Content-Length": body.declared}
    )
    assert response.status_code == 401
    assert "Enter the API token" in response.text
    assert body.read == 1
    assert list(data_dir.iterdir()) == []

    # A body over what two files could be is refused as a page, unread.
    declared = Body(HUGE // CHUNK)
    response = await client.post(
        "/upload", content=declared, headers=MULTIPART | {"Content-Length": declared.declared}
    )
    assert response.status_code == 413 and declared.read == 0
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "larger than two files of the upload limit" in response.text

    # A part header that never ends is cut off, not held (python-multipart's own cap).
    endless = Body(HUGE // CHUNK, head=b"--b0undary\r\nX-Padding: ")
    response = await client.post("/upload", content=endless, headers=MULTIPART)
    assert response.status_code == 400
    assert "Maximum header size exceeded" in response.text
    assert endless.read <= 2


@pytest.mark.parametrize("route", ["/", "/plan.ics"])
async def test_the_planner_form_is_capped(client: httpx.AsyncClient, route: str) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    declared = Body(HUGE // CHUNK)
    response = await client.post(
        route, content=declared, headers=form | {"Content-Length": declared.declared}
    )
    assert response.status_code == 413 and declared.read == 0
    chunked = Body(HUGE // CHUNK)
    response = await client.post(route, content=chunked, headers=form)
    assert response.status_code == 413
    assert chunked.read == PLANNER_FORM_LIMIT // CHUNK + 1


async def test_wrong_tokens_from_one_address_are_refused_for_a_while(
    settings: Settings,
) -> None:
    guesser, other, forgetful = "203.0.113.7", "198.51.100.2", "198.51.100.3"
    async for made in clients(settings, guesser, other, forgetful):
        for attempt in range(WRONG_TOKENS_PER_MINUTE):
            refused = await made[guesser].get("/pipeline/runs", headers=bearer(f"guess-{attempt}"))
            assert refused.status_code == 403
        blocked = await made[guesser].post("/feed", json={"data_path": "x"}, headers=bearer("g"))
        assert blocked.status_code == 429
        assert blocked.json()["error"]["code"] == "too_many_attempts"
        retry_after = int(blocked.headers["Retry-After"])
        # The window is a minute and its oldest attempt was made just now.
        assert 50 <= retry_after <= 60
        # Even the right token is refused from there: a right guess would otherwise get in.
        right_from_guesser = await made[guesser].get("/pipeline/runs", headers=bearer(TOKEN))
        assert right_from_guesser.status_code == 429
        page = await made[guesser].post("/upload", data={"token": TOKEN}, files={"users": USERS})
        assert page.status_code == 429 and "Retry-After" in page.headers
        assert "too many wrong API tokens" in page.text

        # Other addresses are not affected: the right token works, a wrong one is a 403.
        assert (await made[other].get("/pipeline/runs", headers=bearer(TOKEN))).status_code == 200
        assert (await made[other].get("/pipeline/runs", headers=bearer("no"))).status_code == 403
        # A missing token is not a guess and is never counted.
        for _ in range(3 * WRONG_TOKENS_PER_MINUTE):
            assert (await made[forgetful].get("/pipeline/runs")).status_code == 401
        assert (
            await made[forgetful].get("/pipeline/runs", headers=bearer(TOKEN))
        ).status_code == 200


async def test_wrong_tokens_on_the_upload_page_count_too(settings: Settings) -> None:
    async for made in clients(settings, "203.0.113.9"):
        client = made["203.0.113.9"]
        for attempt in range(WRONG_TOKENS_PER_MINUTE):
            page = await client.post(
                "/upload", data={"token": f"guess-{attempt}"}, files={"users": USERS}
            )
            assert page.status_code == 401 and "That API token is not valid" in page.text
        blocked = await client.get("/pipeline/runs", headers=bearer(TOKEN))
        assert blocked.status_code == 429


async def test_updated_at_is_when_the_new_board_became_visible(
    client: httpx.AsyncClient, data_dir: Path, database_url: str
) -> None:
    (data_dir / "pipeline_result.csv").write_text(RESULT)
    # Another feed holds the lock, so this one starts its transaction and then waits.
    holder = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", int(Lock.FEED))
        feed = asyncio.create_task(
            client.post("/feed", json={"data_path": "pipeline_result.csv"}, headers=bearer(TOKEN))
        )
        await asyncio.sleep(1.0)
        assert not feed.done()
        released_at = await holder.fetchval("SELECT clock_timestamp()")
        await holder.execute("SELECT pg_advisory_unlock($1)", int(Lock.FEED))
    finally:
        await holder.close()
    fed = await feed
    assert fed.status_code == 200, fed.text
    board = (await client.get("/leaderboard")).json()
    updated_at = board["updated_at"]
    assert updated_at == fed.json()["loaded_at"]
    # now() would be the transaction's start, a second before the lock was released.
    assert datetime.fromisoformat(updated_at) >= released_at


async def test_a_compressed_file_in_the_data_directory_is_refused(
    client: httpx.AsyncClient, data_dir: Path
) -> None:
    # Polars unpacks zlib (and zstd, and gzip) by itself when it scans a file.
    (data_dir / "result.csv").write_bytes(zlib.compress(RESULT.encode()))
    response = await client.post("/feed", json={"data_path": "result.csv"}, headers=bearer(TOKEN))
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["code"] == "compressed_input"
    assert error["message"].startswith("result.csv: is a zlib-compressed file")


async def test_a_compressed_object_is_refused(
    s3_client: httpx.AsyncClient, s3_server: S3Server, s3_settings: Settings
) -> None:
    # 1.5 MB of gzip that Polars would unpack, by itself, into 180 M rows.
    result = s3_settings.result_bucket
    put(s3_server, result, "pipeline_result.csv", gzip.compress(RESULT.encode()))
    response = await s3_client.post("/feed/s3", json={"s3_bucket": result}, headers=bearer(TOKEN))
    assert response.status_code == 415, response.text
    error = response.json()["error"]
    assert error["code"] == "compressed_input"
    assert "is a gzip-compressed file" in error["message"]
    assert (await s3_client.get("/leaderboard")).json()["total"] == 0

    raw = s3_settings.raw_bucket
    put(s3_server, raw, "messages.csv", gzip.compress(b"message_id,author_id\n" + b"1,1\n" * 9))
    put(s3_server, raw, "users.csv", b"user_id,name\n1,A\n")
    run = await s3_client.post("/pipeline/run", headers=bearer(TOKEN))
    assert run.status_code == 415, run.text
    assert run.json()["error"]["code"] == "compressed_input"
    runs = (await s3_client.get("/pipeline/runs", headers=bearer(TOKEN))).json()["runs"]
    assert runs[0]["status"] == "failed" and "gzip-compressed" in runs[0]["error"]


def answer_before_body(port: int, head: str, declared: int) -> tuple[int, int, float]:
    """Send `head` (request line and headers) declaring `declared` body bytes, then the body
    in 64 KiB chunks for as long as the server lets us, until it answers: the status, the
    body bytes it could be sent before answering, and the seconds it took."""
    request = f"{head}Content-Length: {declared}\r\nConnection: close\r\n\r\n".encode()
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        conn.setblocking(False)
        sent, answer = 0, b""
        while b"\r\n" not in answer:
            assert time.perf_counter() - started < 10, f"no answer after {sent:,} bytes"
            readable, writable, _ = select.select([conn], [conn] if sent < declared else [], [], 1)
            if readable:
                chunk = conn.recv(4096)
                assert chunk, "closed without an answer"
                answer += chunk
            elif writable:
                try:
                    sent += conn.send(b" " * CHUNK)
                except (BlockingIOError, ConnectionError):
                    pass
        return int(answer.split()[1]), sent, time.perf_counter() - started


def test_a_real_server_answers_before_the_body_and_limits_guesses_per_forwarded_client(
    database_url: str, tmp_path: Path
) -> None:
    """`tempo serve` (uvicorn): the answers come after the headers alone, and the
    wrong-token limit follows X-Forwarded-For from the trusted proxy (127.0.0.1)."""
    with tempo_serve(database_url, tmp_path, API_TOKEN=TOKEN) as base:
        port = int(base.rsplit(":", 1)[1])
        feed = "POST /feed HTTP/1.1\r\nHost: tempo\r\nContent-Type: application/json\r\n"
        status, sent, seconds = answer_before_body(port, feed, HUGE)
        assert status == 401 and seconds < 2
        assert sent < HUGE // 20  # at most what the socket buffers hold, not the 400 MB
        authorized = f"{feed}Authorization: Bearer {TOKEN}\r\n"
        status, sent, seconds = answer_before_body(port, authorized, HUGE)
        assert status == 413 and seconds < 2 and sent < HUGE // 20

        guesser = {"X-Forwarded-For": "203.0.113.5"}
        for attempt in range(WRONG_TOKENS_PER_MINUTE):
            wrong = guesser | bearer(f"guess-{attempt}")
            assert httpx.get(f"{base}/pipeline/runs", headers=wrong).status_code == 403
        assert (
            httpx.get(f"{base}/pipeline/runs", headers=guesser | bearer(TOKEN)).status_code == 429
        )
        other = {"X-Forwarded-For": "203.0.113.6"} | bearer(TOKEN)
        assert httpx.get(f"{base}/pipeline/runs", headers=other).status_code == 200
        # The proxy itself (no X-Forwarded-For) is another client again.
        assert httpx.get(f"{base}/pipeline/runs", headers=bearer(TOKEN)).status_code == 200


async def test_the_token_routes_document_what_the_admission_layer_answers(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    documented = {
        (method.upper(), path)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if {"401", "403", "429"} <= set(operation["responses"])
    }
    # GET /metrics checks the token itself, in production unless METRICS_PUBLIC=true.
    assert documented == {
        ("POST", "/feed"), ("POST", "/feed/s3"), ("POST", "/pipeline/run"),
        ("POST", "/uploads"), ("GET", "/pipeline/runs"), ("GET", "/metrics"),
    }  # fmt: skip
    for route in WRITE_ROUTES:
        assert "413" in paths[route]["post"]["responses"]


def _slow_body(port: int, path: str, media: str, declared: int, pieces: list[bytes],
               pause: float) -> tuple[int, float, bool]:  # fmt: skip
    """Headers, then `pieces` of the body `pause` s apart (and no more): (status, seconds
    from the headers to the answer, whether the server then closed the connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: tempo\r\nContent-Type: {media}\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        )
        conn.sendall(head.encode())
        started = time.monotonic()
        received = b""
        for piece in pieces:
            readable, _, _ = select.select([conn], [], [], pause)
            if readable:
                break  # answered already
            conn.sendall(piece)
        while b"\r\n\r\n" not in received:
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
        seconds = time.monotonic() - started
        conn.settimeout(2)  # well before the server's keep-alive timeout (5 s)
        try:
            while conn.recv(65536):
                pass
            closed = True
        except TimeoutError:
            closed = False
    return int(received.split(b" ", 2)[1]), seconds, closed


@pytest.mark.slow
def test_a_body_that_stalls_or_trickles_is_a_408_within_seconds(
    database_url: str, tmp_path: Path
) -> None:
    """A client that sends its headers and then stops, or sends a byte now and then (a
    slowloris), gets a 408 and a closed connection once BODY_TIMEOUT_SECONDS pass without
    a byte, or once its average falls under BODY_MIN_RATE; a whole body is planned."""
    settings = {"BODY_TIMEOUT_SECONDS": "1", "BODY_MIN_RATE": "200"}
    with tempo_serve(database_url, tmp_path, **settings) as base:
        port = int(base.rsplit(":", 1)[1])
        # Stalls: 10 of 1,000 bytes, then nothing.
        status, seconds, closed = _slow_body(
            port, "/schedule", "application/json", 1000, [b"{" * 10], 30
        )
        assert status == 408 and 0.9 < seconds < 5 and closed
        # Trickles: a byte every 0.4 s never stalls for 1 s, but 2.5 bytes/s is under 200.
        trickle = [b"x"] * 60
        status, seconds, closed = _slow_body(
            port, "/images/classify", "image/png", 1000, trickle, 0.4
        )
        assert status == 408 and 0.9 < seconds < 5 and closed
        # The same route, its body sent at once: planned.
        day = httpx.post(f"{base}/schedule", json={"appointments": []}, timeout=10)
        assert day.status_code == 200
        # Refused with the error shape, and the server serves on.
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
