"""Uploads and pipeline runs without object storage: the data directory holds everything."""

from __future__ import annotations

import bz2
import gzip
import lzma
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.app import create_app
from tempo.pipeline.runs import INTERRUPTED, PipelinePlan, RunFailed, run_pipeline
from tests.fixtures.app import SAMPLE_RANKING, board, files_of, make_settings, running


async def test_an_upload_runs_the_pipeline_in_the_data_directory(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path, sample_dir: Path
) -> None:
    response = await client.post(
        "/uploads", files=files_of(sample_dir, "messages", "users"), headers=auth
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["stored"] == [
        {"name": "messages.csv", "location": "messages.csv", "rows": 10,
         "bytes": (sample_dir / "messages.csv").stat().st_size},
        {"name": "users.csv", "location": "users.csv", "rows": 10,
         "bytes": (sample_dir / "users.csv").stat().st_size},
    ]  # fmt: skip
    run = body["run"]
    assert run["status"] == "succeeded" and run["output"] == "pipeline_result.csv"
    assert run["inputs"]["messages"]["location"] == "messages.csv"
    assert (data_dir / "users.csv").read_bytes() == (sample_dir / "users.csv").read_bytes()
    assert (data_dir / "pipeline_result.csv").is_file()
    assert [p.name for p in data_dir.iterdir() if p.name.startswith(".")] == []
    assert await board(client) == SAMPLE_RANKING


async def test_run_on_demand_and_the_run_history(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path, sample_dir: Path
) -> None:
    missing = await client.post("/pipeline/run", headers=auth)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "file_not_found"
    assert missing.json()["error"]["message"].startswith("messages.csv: no such file")
    assert str(data_dir) not in missing.text

    for name in ("messages.csv", "users.csv"):
        (data_dir / name).write_bytes((sample_dir / name).read_bytes())
    done = await client.post("/pipeline/run", json={"feed": True}, headers=auth)
    assert done.status_code == 200, done.text
    assert await board(client) == SAMPLE_RANKING

    runs = (await client.get("/pipeline/runs", headers=auth)).json()
    assert runs["total"] == 2
    assert [(r["status"], r["trigger"]) for r in runs["runs"]] == [
        ("succeeded", "api"), ("failed", "api"),
    ]  # fmt: skip
    assert runs["runs"][1]["error"].startswith("messages.csv: no such file")
    assert runs["runs"][1]["inputs"]["messages"] == {"location": "messages.csv", "bytes": None}
    for limit in (0, 101):
        bad_paging = await client.get("/pipeline/runs", params={"limit": limit}, headers=auth)
        assert bad_paging.status_code == 422
        assert bad_paging.json()["error"]["details"][0]["field"] == "query.limit"
    paged = await client.get("/pipeline/runs", params={"limit": 1, "offset": 1}, headers=auth)
    assert paged.json() == {"runs": [runs["runs"][1]], "total": 2}


async def test_a_failed_run_leaves_the_leaderboard_and_the_result_as_they_were(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path, sample_dir: Path
) -> None:
    await client.post("/uploads", files=files_of(sample_dir, "messages", "users"), headers=auth)
    result = (data_dir / "pipeline_result.csv").read_bytes()
    # Written behind Tempo's back: the run reads it, refuses it, and changes nothing.
    (data_dir / "users.csv").write_text("user_id,name\n1,A\n1,B\n")
    response = await client.post("/pipeline/run", headers=auth)
    assert response.status_code == 422
    assert response.json()["error"]["details"]["file"] == "users.csv"
    assert response.json()["error"]["details"]["row"] == 2
    assert (data_dir / "pipeline_result.csv").read_bytes() == result
    assert await board(client) == SAMPLE_RANKING


async def test_uploads_are_checked_before_anything_is_replaced(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path, sample_dir: Path
) -> None:
    await client.post("/uploads", files=files_of(sample_dir, "messages", "users"), headers=auth)
    files = {
        "messages": ("m.csv", b"message_id,author_id\n1,5\n", "text/csv"),
        "users": ("u.csv", b"user_id,name\n1,A\nx,B\n", "text/csv"),
    }
    response = await client.post("/uploads", files=files, headers=auth)
    assert response.status_code == 422
    assert response.json()["error"]["details"] == {
        "file": "users.csv", "column": "user_id", "row": 2, "value": "x", "line": None,
        "reason": "not an integer",
    }  # fmt: skip
    # The good messages.csv of the same request did not replace the old one either.
    for name in ("messages.csv", "users.csv"):
        assert (data_dir / name).read_bytes() == (sample_dir / name).read_bytes()
    assert await board(client) == SAMPLE_RANKING
    assert [p.name for p in data_dir.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b'{"messages": "x"}', "application/json", 415, "unsupported_media_type"),
        (b"--b\r\n", "multipart/form-data", 400, "invalid_multipart"),
        (b"--b--\r\n", "multipart/form-data; boundary=b", 400, "no_files"),
        (b'--b\r\nContent-Disposition: form-data; name="messages"; filename="m.csv"\r\n\r\n'
         b"message_id,author_id\n1,1\n", "multipart/form-data; boundary=b", 400,
         "invalid_multipart"),
        (b'--b\r\nContent-Disposition: form-data; name="photo"; filename="a.png"\r\n\r\n'
         b"x\r\n--b--\r\n", "multipart/form-data; boundary=b", 400, "unknown_field"),
        (b'--b\r\nContent-Disposition: form-data; name="users"\r\n\r\nuser_id,name\n1,A\n\r\n'
         b'--b\r\nContent-Disposition: form-data; name="users"\r\n\r\nuser_id,name\n2,B\n\r\n'
         b"--b--\r\n", "multipart/form-data; boundary=b", 400, "duplicate_field"),
        (b'--b\r\nContent-Disposition: form-data; name="messages"; filename="m.csv"\r\n\r\n'
         b"\r\n--b--\r\n", "multipart/form-data; boundary=b", 422, "invalid_csv"),
    ],
)  # fmt: skip
async def test_bad_upload_requests(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path,
    content: bytes, content_type: str, status: int, code: str,
) -> None:  # fmt: skip
    response = await client.post(
        "/uploads", content=content, headers=auth | {"Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert list(data_dir.iterdir()) == []


@pytest.fixture
async def capped(database_url: str, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, data_dir, max_upload_bytes=1000, run_on_upload=False)
    async for client in running(create_app(settings)):
        yield client


async def test_an_oversized_upload_is_cut_off_at_the_cap(
    capped: httpx.AsyncClient, auth: dict[str, str], data_dir: Path
) -> None:
    boundary = uuid.uuid4().hex
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="messages"; '
            f'filename="messages.csv"\r\nContent-Type: text/csv\r\n\r\n'
            "message_id,author_id\n"
        ).encode()
        for chunk in range(1000):  # 64 MB if it were all read
            sent.append(chunk)
            yield b"1,1\n" * 16_384
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await capped.post(
        "/uploads", content=body(),
        headers=auth | {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )  # fmt: skip
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large" and "1,000 bytes" in error["message"]
    assert error["details"] == {"file": "messages.csv", "max_bytes": 1000}
    assert len(sent) <= 2  # refused at the first chunk past the cap, not at the end
    assert list(data_dir.iterdir()) == []


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
async def test_a_compressed_upload_is_refused_before_it_is_stored(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    data_dir: Path,
    compress: Callable[[bytes], bytes],
) -> None:
    # 2 MB of messages in a few kB: unpacked, it would pass any upload limit it slipped under.
    plain = b"message_id,author_id\n" + b"1,1\n" * 500_000
    users = ("users.csv", b"user_id,name\n1,A\n", "text/csv")
    files = {"users": users, "messages": ("messages.csv", compress(plain), "text/csv")}
    response = await client.post("/uploads", files=files, headers=auth)
    assert response.status_code == 415
    error = response.json()["error"]
    assert error["code"] == "compressed_upload" and "upload the plain CSV" in error["message"]
    assert error["details"]["file"] == "messages.csv"
    assert list(data_dir.iterdir()) == []  # not even users.csv, which came first


async def test_a_declared_oversized_body_is_refused_unread(
    capped: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await capped.post(
        "/uploads", content=b"x" * 70_000,
        headers=auth | {"Content-Type": "multipart/form-data; boundary=b"},
    )  # fmt: skip
    assert response.status_code == 413 and "70,000 bytes" in response.json()["error"]["message"]


async def test_uploads_without_a_run(
    capped: httpx.AsyncClient, auth: dict[str, str], data_dir: Path
) -> None:
    response = await capped.post(
        "/uploads", files={"users": ("u.csv", b"user_id,name\n1,A\n", "text/csv")}, headers=auth
    )
    assert response.status_code == 200 and response.json()["run"] is None
    assert (data_dir / "users.csv").read_text() == "user_id,name\n1,A\n"
    assert (await capped.get("/pipeline/runs", headers=auth)).json()["total"] == 0


async def test_an_upload_whose_run_fails_still_stores_the_file(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path
) -> None:
    response = await client.post(
        "/uploads", files={"users": ("u.csv", b"user_id,name\n1,A\n", "text/csv")}, headers=auth
    )
    assert response.status_code == 200
    run = response.json()["run"]
    assert run["status"] == "failed" and run["trigger"] == "upload"
    assert run["error"] == (
        "messages.csv: no such file in the data directory; upload it first (POST /uploads)"
    )
    assert (data_dir / "users.csv").is_file()


async def test_a_run_left_behind_by_a_dead_process_is_marked(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text("INSERT INTO pipeline_run (status, trigger) VALUES ('running', 'api')")
        )
    plan = PipelinePlan(
        tmp_path / "messages.csv", tmp_path / "users.csv", tmp_path / "pipeline_result.csv"
    )
    with pytest.raises(RunFailed) as caught:
        await run_pipeline(engine, plan, storage=None, trigger="cli")
    assert caught.value.run.status == "failed" and caught.value.run.id == 2
    async with engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT id, status, error FROM pipeline_run ORDER BY id"))
        ).all()
    assert [tuple(r) for r in rows] == [
        (1, "failed", INTERRUPTED),
        (2, "failed", caught.value.run.error),
    ]
