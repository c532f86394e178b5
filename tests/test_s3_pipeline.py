"""The pipeline with object storage, as in the cloud: raw bucket → run → result bucket → API.

Everything runs against a real SeaweedFS S3 server on 127.0.0.1 and a real PostgreSQL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import obstore
import pytest

from tempo.app import create_app
from tempo.core.settings import Settings
from tests.fixtures.app import SAMPLE_RANKING, make_settings, running
from tests.fixtures.s3 import S3Server, get, put

RESULT_HEADER = b"rank,user_id,name,messages\n"


def put_sample(server: S3Server, settings: Settings, sample_dir: Path) -> None:
    for name in ("messages.csv", "users.csv"):
        put(server, settings.raw_bucket, name, (sample_dir / name).read_bytes())


def ranking(body: dict[str, object]) -> list[tuple[int, int, int]]:
    rows = body["leaderboard"]
    assert isinstance(rows, list)
    return [(r["rank"], r["user_id"], r["messages"]) for r in rows]


# --- POST /feed/s3 --------------------------------------------------------------------------


async def test_feed_from_s3(
    s3_client: httpx.AsyncClient, s3_server: S3Server, s3_settings: Settings,
    auth: dict[str, str],
) -> None:  # fmt: skip
    bucket = s3_settings.result_bucket
    put(s3_server, bucket, "pipeline_result.csv", RESULT_HEADER + b"1,7,Ada,3\n2,8,Bo,1\n")
    put(s3_server, bucket, "daily/r.csv", RESULT_HEADER + b"1,9,Cy,5\n")

    fed = await s3_client.post("/feed/s3", json={"s3_bucket": bucket}, headers=auth)
    assert fed.status_code == 200, fed.text
    assert fed.json()["rows"] == 2
    assert fed.json()["source"] == f"s3://{bucket}/pipeline_result.csv"
    board = (await s3_client.get("/leaderboard")).json()
    assert ranking(board) == [(1, 7, 3), (2, 8, 1)]

    other = {"s3_bucket": bucket, "key": "daily/r.csv"}
    assert (await s3_client.post("/feed/s3", json=other, headers=auth)).status_code == 200
    assert ranking((await s3_client.get("/leaderboard")).json()) == [(1, 9, 5)]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"s3_bucket": "tempo-no-such-bucket"}, 404, "bucket_not_found"),
        ({"s3_bucket": "RESULT", "key": "missing.csv"}, 404, "key_not_found"),
        ({"s3_bucket": "Not_A_Bucket"}, 400, "invalid_bucket_name"),
        ({"s3_bucket": "ab"}, 400, "invalid_bucket_name"),
        ({"s3_bucket": "RESULT", "key": "../x.csv"}, 400, "invalid_key"),
    ],
)
async def test_feed_from_s3_failures_change_nothing(
    s3_client: httpx.AsyncClient, s3_server: S3Server, s3_settings: Settings,
    auth: dict[str, str], body: dict[str, str], status: int, code: str,
) -> None:  # fmt: skip
    bucket = s3_settings.result_bucket
    put(s3_server, bucket, "pipeline_result.csv", RESULT_HEADER + b"1,7,Ada,3\n")
    assert (await s3_client.post("/feed/s3", json={"s3_bucket": bucket}, headers=auth)).is_success
    body = {k: bucket if v == "RESULT" else v for k, v in body.items()}

    response = await s3_client.post("/feed/s3", json=body, headers=auth)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and body["s3_bucket"] in error["message"]
    assert ranking((await s3_client.get("/leaderboard")).json()) == [(1, 7, 3)]


async def test_an_invalid_result_in_s3_is_a_422_and_changes_nothing(
    s3_client: httpx.AsyncClient, s3_server: S3Server, s3_settings: Settings,
    auth: dict[str, str],
) -> None:  # fmt: skip
    bucket = s3_settings.result_bucket
    put(s3_server, bucket, "good.csv", RESULT_HEADER + b"1,7,Ada,3\n")
    put(s3_server, bucket, "bad.csv", RESULT_HEADER + b"1,7,Ada,3\n2,x,Bo,1\n")
    await s3_client.post("/feed/s3", json={"s3_bucket": bucket, "key": "good.csv"}, headers=auth)
    response = await s3_client.post(
        "/feed/s3", json={"s3_bucket": bucket, "key": "bad.csv"}, headers=auth
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"] == {
        "file": f"s3://{bucket}/bad.csv", "column": "user_id", "row": 2, "value": "x",
        "line": None, "reason": "not an integer",
    }  # fmt: skip
    assert ranking((await s3_client.get("/leaderboard")).json()) == [(1, 7, 3)]


async def test_s3_routes_need_the_token(s3_client: httpx.AsyncClient) -> None:
    for method, path in [
        ("POST", "/feed/s3"), ("POST", "/pipeline/run"), ("GET", "/pipeline/runs"),
        ("POST", "/uploads"),
    ]:  # fmt: skip
        missing = await s3_client.request(method, path, json={"s3_bucket": "tempo-results"})
        assert missing.status_code == 401, path
        wrong = await s3_client.request(method, path, headers={"Authorization": "Bearer no"})
        assert wrong.status_code == 403, path


async def test_without_object_storage_s3_feeds_are_a_clear_503(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await client.post("/feed/s3", json={"s3_bucket": "tempo-results"}, headers=auth)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "object_storage_not_configured"
    assert "S3_ENDPOINT_URL" in error["message"]


async def test_an_unreachable_store_and_wrong_keys_are_503s(
    s3_server: S3Server, database_url: str, data_dir: Path, auth: dict[str, str]
) -> None:
    bucket = s3_server.create_bucket()
    put(s3_server, bucket, "pipeline_result.csv", RESULT_HEADER + b"1,7,Ada,3\n")
    down = make_settings(
        database_url, data_dir, s3_endpoint_url="http://127.0.0.1:9",
        s3_access_key_id="k", s3_secret_access_key="s",
    )  # fmt: skip
    wrong = make_settings(
        database_url, data_dir, s3_endpoint_url=s3_server.endpoint,
        s3_access_key_id=s3_server.access_key_id, s3_secret_access_key="not-the-secret",
    )  # fmt: skip
    for settings, code in ((down, "object_storage_unavailable"),
                           (wrong, "object_storage_access_denied")):  # fmt: skip
        async for client in running(create_app(settings)):
            response = await client.post("/feed/s3", json={"s3_bucket": bucket}, headers=auth)
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == code
            assert response.headers["retry-after"] == "5"
            assert "not-the-secret" not in response.text
            assert (await client.get("/leaderboard")).json()["total"] == 0


# --- POST /pipeline/run, GET /pipeline/runs -----------------------------------------------


async def test_raw_bucket_to_result_bucket_to_leaderboard(
    s3_client: httpx.AsyncClient, s3_server: S3Server, s3_settings: Settings,
    auth: dict[str, str], sample_dir: Path,
) -> None:  # fmt: skip
    put_sample(s3_server, s3_settings, sample_dir)
    response = await s3_client.post("/pipeline/run", headers=auth)
    assert response.status_code == 200, response.text
    run = response.json()
    raw, results = s3_settings.raw_bucket, s3_settings.result_bucket
    assert run["status"] == "succeeded" and run["trigger"] == "api" and run["error"] is None
    assert run["inputs"] == {
        "messages": {"location": f"s3://{raw}/messages.csv",
                     "bytes": (sample_dir / "messages.csv").stat().st_size},
        "users": {"location": f"s3://{raw}/users.csv",
                  "bytes": (sample_dir / "users.csv").stat().st_size},
    }  # fmt: skip
    assert run["output"] == f"s3://{results}/pipeline_result.csv"
    assert (run["messages"], run["users"], run["ranked_users"], run["orphan_messages"]) == (
        10, 10, 10, 0,
    )  # fmt: skip
    assert run["feed_id"] is not None and run["finished_at"] >= run["started_at"]

    result = get(s3_server, results, "pipeline_result.csv")
    assert result.startswith(RESULT_HEADER) and result.count(b"\n") == 11
    board = (await s3_client.get("/leaderboard")).json()
    assert ranking(board) == SAMPLE_RANKING

    runs = (await s3_client.get("/pipeline/runs", headers=auth)).json()
    assert runs["total"] == 1 and runs["runs"] == [run]


async def test_a_run_without_feeding(
    s3_client: httpx.AsyncClient, s3_server: S3Server, s3_settings: Settings,
    auth: dict[str, str], sample_dir: Path,
) -> None:  # fmt: skip
    put_sample(s3_server, s3_settings, sample_dir)
    response = await s3_client.post("/pipeline/run", json={"feed": False}, headers=auth)
    assert response.status_code == 200 and response.json()["feed_id"] is None
    assert get(s3_server, s3_settings.result_bucket, "pipeline_result.csv")
    assert (await s3_client.get("/leaderboard")).json()["total"] == 0


async def test_bad_csv_in_the_raw_bucket_leaves_the_leaderboard_intact(
    s3_client: httpx.AsyncClient, s3_server: S3Server, s3_settings: Settings,
    auth: dict[str, str], sample_dir: Path,
) -> None:  # fmt: skip
    put_sample(s3_server, s3_settings, sample_dir)
    first = (await s3_client.post("/pipeline/run", headers=auth)).json()
    result_before = get(s3_server, s3_settings.result_bucket, "pipeline_result.csv")

    raw = s3_settings.raw_bucket
    put(s3_server, raw, "messages.csv", b"message_id,author_id\n1,1\n2,two\n")
    response = await s3_client.post("/pipeline/run", headers=auth)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_csv"
    assert error["details"] == {
        "file": f"s3://{raw}/messages.csv", "column": "author_id", "row": 2, "value": "two",
        "line": None, "reason": "not an integer", "run_id": first["id"] + 1,
    }  # fmt: skip
    assert ranking((await s3_client.get("/leaderboard")).json()) == SAMPLE_RANKING
    assert get(s3_server, s3_settings.result_bucket, "pipeline_result.csv") == result_before

    obstore.delete(s3_server.store(raw), "users.csv")
    put(s3_server, raw, "messages.csv", (sample_dir / "messages.csv").read_bytes())
    missing = await s3_client.post("/pipeline/run", headers=auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "key_not_found"

    runs = (await s3_client.get("/pipeline/runs", headers=auth)).json()
    assert [r["status"] for r in runs["runs"]] == ["failed", "failed", "succeeded"]
    assert runs["runs"][1]["error"] == (
        f"s3://{raw}/messages.csv, row 2, column 'author_id': not an integer (value 'two')"
    )
    assert "users.csv" in runs["runs"][0]["error"]
    page = (await s3_client.get("/pipeline/runs", params={"limit": 1, "offset": 2},
                                headers=auth)).json()  # fmt: skip
    assert page["total"] == 3 and [r["id"] for r in page["runs"]] == [first["id"]]


async def test_a_missing_raw_bucket_is_a_404(
    s3_server: S3Server, database_url: str, data_dir: Path, auth: dict[str, str]
) -> None:
    settings = make_settings(database_url, data_dir, **s3_server.settings())
    settings.raw_bucket = "tempo-raw-never-made"
    async for client in running(create_app(settings)):
        response = await client.post("/pipeline/run", headers=auth)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "bucket_not_found"
        assert "tempo-raw-never-made" in response.json()["error"]["message"]


async def test_concurrent_runs_take_turns(
    s3_client: httpx.AsyncClient, s3_server: S3Server, s3_settings: Settings,
    auth: dict[str, str], sample_dir: Path,
) -> None:  # fmt: skip
    put_sample(s3_server, s3_settings, sample_dir)
    responses = await asyncio.gather(
        *(s3_client.post("/pipeline/run", headers=auth) for _ in range(4))
    )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    runs = sorted((r.json() for r in responses), key=lambda run: run["started_at"])
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert earlier["finished_at"] <= later["started_at"]  # never two at once
    assert len({run["feed_id"] for run in runs}) == 4
    assert ranking((await s3_client.get("/leaderboard")).json()) == SAMPLE_RANKING


# --- POST /uploads into the raw bucket ------------------------------------------------------


async def test_an_upload_to_the_raw_bucket_runs_the_pipeline(
    s3_client: httpx.AsyncClient, s3_server: S3Server, s3_settings: Settings,
    auth: dict[str, str], sample_dir: Path,
) -> None:  # fmt: skip
    files = {
        name: (f"{name}.csv", (sample_dir / f"{name}.csv").read_bytes(), "text/csv")
        for name in ("messages", "users")
    }
    response = await s3_client.post("/uploads", files=files, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    raw = s3_settings.raw_bucket
    assert [(f["name"], f["location"], f["rows"]) for f in body["stored"]] == [
        ("messages.csv", f"s3://{raw}/messages.csv", 10),
        ("users.csv", f"s3://{raw}/users.csv", 10),
    ]
    assert body["run"]["status"] == "succeeded" and body["run"]["trigger"] == "upload"
    assert get(s3_server, raw, "messages.csv") == (sample_dir / "messages.csv").read_bytes()
    assert ranking((await s3_client.get("/leaderboard")).json()) == SAMPLE_RANKING

    # A new users.csv alone: the run uses it with the messages already in the bucket.
    users = b"user_id,name\n1,Solo\n"
    again = await s3_client.post(
        "/uploads", files={"users": ("u.csv", users, "text/csv")}, headers=auth
    )
    assert again.status_code == 200 and again.json()["run"]["status"] == "succeeded"
    assert again.json()["run"]["orphan_messages"] == 8
    board = (await s3_client.get("/leaderboard")).json()
    assert board["total"] == 7 and board["leaderboard"][0]["name"] == "Solo"

    bad = await s3_client.post(
        "/uploads", files={"users": ("u.csv", b"user_id,name\n1,A\n1,B\n", "text/csv")},
        headers=auth,
    )  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["file"] == "users.csv"
    assert get(s3_server, raw, "users.csv") == users
    assert (await s3_client.get("/leaderboard")).json()["total"] == 7
