"""The HTTP API through httpx's ASGI transport, on a real database."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tempo.app import create_app
from tests.fixtures.app import SAMPLE_RANKING, make_settings, running
from tests.fixtures.files import write


async def feed_sample(client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path,
                      sample_dir: Path) -> httpx.Response:  # fmt: skip
    from tempo.pipeline.aggregate import aggregate

    aggregate(sample_dir / "messages.csv", sample_dir / "users.csv", data_dir)
    return await client.post("/feed", json={"data_path": "pipeline_result.csv"}, headers=auth)


async def test_an_empty_leaderboard(client: httpx.AsyncClient) -> None:
    response = await client.get("/leaderboard")
    assert response.status_code == 200
    assert response.json() == {"leaderboard": [], "total": 0, "updated_at": None}


async def test_aggregate_feed_serve_gives_the_sample_ranking(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path, sample_dir: Path
) -> None:
    fed = await feed_sample(client, auth, data_dir, sample_dir)
    assert fed.status_code == 200, fed.text
    assert fed.json()["rows"] == 10 and fed.json()["source"] == "pipeline_result.csv"

    body = (await client.get("/leaderboard")).json()
    assert [(r["rank"], r["user_id"], r["messages"]) for r in body["leaderboard"]] == SAMPLE_RANKING
    assert body["total"] == 10 and body["updated_at"] is not None
    assert body["leaderboard"][0]["name"] != ""


async def test_limit_and_offset_page_through(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path, sample_dir: Path
) -> None:
    await feed_sample(client, auth, data_dir, sample_dir)
    page = (await client.get("/leaderboard", params={"limit": 3, "offset": 6})).json()
    assert [r["user_id"] for r in page["leaderboard"]] == [9, 0, 5]
    assert page["total"] == 10
    beyond = (await client.get("/leaderboard", params={"offset": 50})).json()
    assert beyond["leaderboard"] == [] and beyond["total"] == 10


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "query.limit"), ({"limit": 1001}, "query.limit"),
     ({"offset": -1}, "query.offset"), ({"limit": "ten"}, "query.limit"),
     ({"offset": 2**63}, "query.offset")],
)  # fmt: skip
async def test_bad_paging_is_a_422_naming_the_field(
    client: httpx.AsyncClient, params: dict[str, object], field: str
) -> None:
    response = await client.get("/leaderboard", params=params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and field in error["message"]
    assert error["details"][0]["field"] == field


async def test_etag_and_304(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path, sample_dir: Path
) -> None:
    await feed_sample(client, auth, data_dir, sample_dir)
    first = await client.get("/leaderboard")
    etag = first.headers["etag"]
    cached = await client.get("/leaderboard", headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers["etag"] == etag
    assert (
        await client.get("/leaderboard", headers={"If-None-Match": '"other"'})
    ).status_code == 200
    other_page = await client.get("/leaderboard", params={"limit": 5})
    assert other_page.headers["etag"] != etag

    await feed_sample(client, auth, data_dir, sample_dir)  # a new feed, a new version
    after = await client.get("/leaderboard", headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag


async def test_weak_tags_lists_and_star_are_answered_304_by_the_route(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path, sample_dir: Path
) -> None:
    await feed_sample(client, auth, data_dir, sample_dir)
    etag = (await client.get("/leaderboard")).headers["etag"]
    # Each asks for the first 100 rows under a query string of its own: a miss of the
    # response cache (which keeps no 304), so the route itself compares the tags.
    forms = {
        "offset=0": f"W/{etag}",
        "limit=100": f'"stale", W/"x", {etag}',
        "limit=100&offset=0": "*",
        "offset=00": f' ,W/{etag},, "stale" ',
    }
    for query, if_none_match in forms.items():
        cached = await client.get(f"/leaderboard?{query}", headers={"If-None-Match": if_none_match})
        assert cached.status_code == 304 and cached.content == b"", (query, if_none_match)
        assert cached.headers["etag"] == etag and cached.headers["cache-control"] == "no-cache"
    # Two header lines are one list.
    lines = [("If-None-Match", '"stale"'), ("If-None-Match", f"W/{etag}")]
    assert (await client.get("/leaderboard?offset=000", headers=lines)).status_code == 304
    for other in ['"stale", W/"x"', f"w/{etag}", etag[1:-1], f"{etag} junk", f'"{etag}"']:
        full = await client.get("/leaderboard?limit=0100", headers={"If-None-Match": other})
        assert full.status_code == 200 and full.json()["total"] == 10, other


async def test_feed_needs_the_token(client: httpx.AsyncClient, data_dir: Path) -> None:
    write(data_dir / "pipeline_result.csv", "rank,user_id,name,messages\n1,1,A,1\n")
    body = {"data_path": "pipeline_result.csv"}
    missing = await client.post("/feed", json=body)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["code"] == "unauthorized"
    wrong = await client.post("/feed", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "forbidden"
    basic = await client.post("/feed", json=body, headers={"Authorization": "Basic dTpw"})
    assert basic.status_code == 401
    assert (await client.get("/leaderboard")).json()["total"] == 0


@pytest.mark.parametrize(
    ("data_path", "status", "code"),
    [
        ("../outside.csv", 400, "invalid_path"),
        ("sub/../../outside.csv", 400, "invalid_path"),
        ("..\\outside.csv", 400, "invalid_path"),
        ("/etc/passwd", 403, "outside_data_dir"),
        ("link-out.csv", 403, "outside_data_dir"),
        ("missing.csv", 404, "file_not_found"),
        ("sub", 400, "not_a_file"),
        ("a\x00b.csv", 400, "invalid_path"),
    ],
)
async def test_paths_stay_inside_the_data_directory(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path, tmp_path: Path,
    data_path: str, status: int, code: str,
) -> None:  # fmt: skip
    outside = write(tmp_path / "outside.csv", "rank,user_id,name,messages\n1,666,Evil,9\n")
    (data_dir / "link-out.csv").symlink_to(outside)
    (data_dir / "sub").mkdir()
    response = await client.post("/feed", json={"data_path": data_path}, headers=auth)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert (await client.get("/leaderboard")).json()["total"] == 0


async def test_absolute_paths_inside_the_data_directory_are_fine(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path
) -> None:
    path = write(data_dir / "nested" / "r.csv", "rank,user_id,name,messages\n1,1,A,1\n")
    response = await client.post("/feed", json={"data_path": str(path.resolve())}, headers=auth)
    assert response.status_code == 200, response.text


async def test_symlinks_inside_the_data_directory_are_followed(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path
) -> None:
    write(data_dir / "real.csv", "rank,user_id,name,messages\n1,1,A,1\n")
    (data_dir / "latest.csv").symlink_to(data_dir / "real.csv")
    response = await client.post("/feed", json={"data_path": "latest.csv"}, headers=auth)
    assert response.status_code == 200, response.text


async def test_an_invalid_csv_is_a_422_naming_file_row_and_column(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path, sample_dir: Path
) -> None:
    await feed_sample(client, auth, data_dir, sample_dir)
    write(data_dir / "bad.csv", "rank,user_id,name,messages\n1,1,A,5\n2,two,B,3\n")
    response = await client.post("/feed", json={"data_path": "bad.csv"}, headers=auth)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_csv"
    assert error["details"] == {
        "file": "bad.csv", "row": 2, "line": None, "column": "user_id", "value": "two",
        "reason": "not an integer",
    }  # fmt: skip
    assert str(data_dir) not in error["message"]  # no server paths leak to clients
    assert (await client.get("/leaderboard")).json()["total"] == 10


async def test_malformed_request_bodies(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    no_body = await client.post("/feed", headers=auth)
    assert no_body.status_code == 422 and no_body.json()["error"]["details"][0]["field"] == "body"
    bad_json = await client.post(
        "/feed", content=b"{not json", headers=auth | {"content-type": "application/json"}
    )
    assert bad_json.status_code == 422
    empty = await client.post("/feed", json={"data_path": ""}, headers=auth)
    assert empty.status_code == 422 and "body.data_path" in empty.json()["error"]["message"]


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {
        "status": "ready", "database": "ok", "migrations": "current",
    }  # fmt: skip


async def test_unknown_routes_and_methods_use_the_error_shape(client: httpx.AsyncClient) -> None:
    missing = await client.get("/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong_method = await client.delete("/leaderboard")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    assert wrong_method.headers["allow"] == "GET, HEAD"  # HEAD is served (see below)


@pytest.mark.parametrize("path", ["/healthz", "/leaderboard?limit=2", "/board", "/openapi.json"])
async def test_head_is_get_without_the_body(client: httpx.AsyncClient, path: str) -> None:
    for _ in range(2):  # a miss, then (for the leaderboard) a cached hit
        get, head = await client.get(path), await client.head(path)
        assert head.status_code == get.status_code == 200, head.text
        assert head.content == b""
        assert head.headers["content-type"] == get.headers["content-type"]
        assert head.headers["content-length"] == get.headers["content-length"]
        assert head.headers["x-request-id"] != get.headers["x-request-id"]
    refused = await client.head("/feed")  # a POST route: 405, as for GET
    assert refused.status_code == 405 and refused.content == b""


async def test_request_ids_are_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert len(generated.headers["x-request-id"]) == 32
    assert (
        generated.headers["x-request-id"] != (await client.get("/healthz")).headers["x-request-id"]
    )


async def test_every_route_is_documented_with_an_example(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation["responses"]["200"]["content"]
            if "application/json" not in content:  # GET /metrics: Prometheus text
                (text,) = content.values()
                assert text.get("example"), f"{method.upper()} {path}: no response example"
                continue
            ok = content["application/json"]["schema"]
            name = ok["$ref"].rsplit("/", 1)[-1]
            assert schemas[name].get("examples"), f"{method.upper()} {path}: no response example"
            if "requestBody" in operation:
                # JSON bodies refer to a component; a multipart body describes its form inline;
                # a route taking several media types (an image, POST /schedule's JSON or
                # form) gives each its examples.
                for media, body in operation["requestBody"]["content"].items():
                    ref = body["schema"].get("$ref")
                    form = schemas[ref.rsplit("/", 1)[-1]] if ref else body["schema"]
                    assert form.get("examples") or body.get("examples"), (
                        f"{path}: no {media} example"
                    )
    assert spec["paths"]["/feed"]["post"]["security"] == [{"HTTPBearer": []}]


# --- the database going away or never being ready -----------------------------------


async def test_an_unreachable_database_is_a_503(data_dir: Path) -> None:
    settings = make_settings("postgresql://postgres@127.0.0.1:9/nowhere", data_dir)
    async for client in running(create_app(settings)):
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "database_unavailable"
        # The probe's answer is any route's: retry later, no driver class names.
        assert ready.headers["retry-after"] == "5" and "Error" not in ready.text
        board = await client.get("/leaderboard")
        assert board.status_code == 503 and board.headers["retry-after"] == "5"
        assert board.json()["error"]["code"] == "database_unavailable"


async def test_a_database_that_does_not_exist_is_not_worth_retrying(
    database_url: str, data_dir: Path
) -> None:
    from tests.fixtures.database import with_database

    missing = with_database(database_url, "tempo_no_such_database")
    async for client in running(create_app(make_settings(missing, data_dir))):
        for path in ("/readyz", "/leaderboard"):
            answer = await client.get(path)
            assert answer.status_code == 503, (path, answer.text)
            error = answer.json()["error"]
            assert error["code"] == "database_misconfigured" and "DATABASE_URL" in error["message"]
            assert "tempo_no_such_database" not in answer.text  # the name stays in the log
            assert "retry-after" not in answer.headers


async def test_an_unmigrated_database_says_to_migrate(
    empty_database_url: str, data_dir: Path
) -> None:
    async for client in running(create_app(make_settings(empty_database_url, data_dir))):
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "migrations_pending"
        board = await client.get("/leaderboard")
        assert board.status_code == 503 and "tempo migrate" in board.json()["error"]["message"]


async def test_the_database_going_away_between_requests(
    client: httpx.AsyncClient, database_url: str
) -> None:
    import asyncpg

    from tempo.core.db import asyncpg_dsn
    from tests.fixtures.database import with_database

    assert (await client.get("/leaderboard")).status_code == 200
    admin = await asyncpg.connect(asyncpg_dsn(with_database(database_url, "postgres")))
    name = database_url.rsplit("/", 1)[-1].split("?")[0]
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        # The page already served is still served, from the response cache …
        cached = await client.get("/leaderboard")
        assert cached.status_code == 200, cached.text
        # … while anything that needs the database says it is unavailable.
        down = await client.get("/leaderboard", params={"limit": 7})
        assert down.status_code == 503, down.text
        assert down.json()["error"]["code"] == "database_unavailable"
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
    assert (await client.get("/leaderboard")).status_code == 200


def test_tests_run_against_the_configured_database(server_url: str) -> None:
    """CI sets DATABASE_URL to a real server; without it the embedded one is used."""
    configured = os.environ.get("DATABASE_URL")
    assert ("host=" in server_url) == (not configured)


async def test_pages_are_consistent_while_feeds_land(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path
) -> None:
    """Each response's rows and total come from the same feed."""
    import asyncio

    for size in (300, 700):
        rows = "".join(f"{i + 1},{i},U{i},{size - i}\n" for i in range(size))
        write(data_dir / f"r{size}.csv", "rank,user_id,name,messages\n" + rows)

    stop = asyncio.Event()
    mismatches: list[tuple[int, int]] = []

    async def read() -> None:
        while not stop.is_set():
            body = (await client.get("/leaderboard", params={"limit": 1000})).json()
            if len(body["leaderboard"]) != body["total"]:
                mismatches.append((len(body["leaderboard"]), body["total"]))
            # A cache hit never waits on I/O: give the feeding task its turn.
            await asyncio.sleep(0)

    readers = [asyncio.create_task(read()) for _ in range(3)]
    for _ in range(6):
        for size in (300, 700):
            response = await client.post("/feed", json={"data_path": f"r{size}.csv"}, headers=auth)
            assert response.status_code == 200
    stop.set()
    await asyncio.gather(*readers)
    assert mismatches == []


async def test_an_offset_past_postgresqls_bigint_is_a_422_on_every_paged_route(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for path in ("/leaderboard", "/tracks", "/pipeline/runs"):
        largest = await client.get(path, params={"offset": 2**63 - 1}, headers=auth)
        assert largest.status_code == 200, (path, largest.text)
        beyond = await client.get(path, params={"offset": 2**63}, headers=auth)
        assert beyond.status_code == 422, (path, beyond.text)
        assert beyond.json()["error"]["details"][0]["field"] == "query.offset"
