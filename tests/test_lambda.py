"""The Lambda entry point on a real S3 Put event document, against SeaweedFS and PostgreSQL.

tests/data/lambda/s3-put.json is an `s3:ObjectCreated:Put` notification as S3 delivers it
(event message structure 2.1); each test points it at its own buckets and keys.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import obstore
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.lambda_handler import LambdaSettings, handle, handler
from tempo.pipeline.runs import RunFailed
from tests.fixtures.app import SAMPLE_RANKING
from tests.fixtures.s3 import S3Server

EVENT = Path(__file__).resolve().parent / "data" / "lambda" / "s3-put.json"


def s3_event(bucket: str, *keys: str, name: str = "ObjectCreated:Put") -> dict[str, Any]:
    """The real event document, one record per key (URL-encoded as S3 sends keys)."""
    template = json.loads(EVENT.read_text())["Records"][0]
    records = []
    for key in keys:
        record = copy.deepcopy(template)
        record["eventName"] = name
        record["s3"]["bucket"]["name"] = bucket
        record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
        record["s3"]["object"]["key"] = quote_plus(key, safe="/")
        records.append(record)
    return {"Records": records}


@pytest.fixture
def buckets(s3_server: S3Server, sample_dir: Path) -> dict[str, str]:
    """A raw bucket holding the sample, an empty result bucket, and the Lambda's settings."""
    values = s3_server.settings()
    for name in ("messages.csv", "users.csv"):
        obstore.put(s3_server.store(values["raw_bucket"]), name, (sample_dir / name).read_bytes())
    return values


def lambda_settings(values: dict[str, str], **overrides: str) -> LambdaSettings:
    """Settings as given, not from this process's environment (DATABASE_URL is the suite's)."""
    given = {"database_url": ""} | values | overrides
    return LambdaSettings(_env_file=None, **given)  # type: ignore[arg-type]


def lambda_environment(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], database_url: str | None
) -> None:
    """As deployed: production, no API token, the result bucket and maybe a database."""
    monkeypatch.chdir(Path(__file__).parent)  # no .env of a developer's checkout
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.delenv("API_TOKEN", raising=False)
    for key in ("s3_endpoint_url", "s3_access_key_id", "s3_secret_access_key", "result_bucket"):
        monkeypatch.setenv(key.upper(), values[key])
    if database_url is None:
        monkeypatch.delenv("DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("DATABASE_URL", database_url)


async def leaderboard(engine: AsyncEngine) -> list[tuple[int, int, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT rank, user_id, messages FROM leaderboard ORDER BY rank, user_id")
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_a_put_event_runs_the_pipeline_and_feeds_it(
    monkeypatch: pytest.MonkeyPatch, s3_server: S3Server, buckets: dict[str, str],
    database_url: str,
) -> None:  # fmt: skip
    lambda_environment(monkeypatch, buckets, database_url)
    raw, results = buckets["raw_bucket"], buckets["result_bucket"]

    summary = handler(s3_event(raw, "messages.csv"), None)

    assert json.loads(json.dumps(summary)) == summary  # JSON-able, as Lambda returns it
    assert summary["status"] == "succeeded" and summary["ignored"] == []
    (run,) = summary["runs"]
    assert run["trigger"] == "lambda" and run["status"] == "succeeded"
    assert run["inputs"]["messages"]["location"] == f"s3://{raw}/messages.csv"
    assert run["output"] == f"s3://{results}/pipeline_result.csv"
    assert run["id"] is not None and run["feed_id"] is not None
    result = bytes(obstore.get(s3_server.store(results), "pipeline_result.csv").bytes())
    assert result.startswith(b"rank,user_id,name,messages\n") and result.count(b"\n") == 11


async def test_the_fed_leaderboard_and_the_run_record(
    s3_server: S3Server, buckets: dict[str, str], database_url: str, engine: AsyncEngine
) -> None:
    settings = lambda_settings(buckets, database_url=database_url)
    raw = buckets["raw_bucket"]
    # Both files in one upload: one run for the bucket, not one per record.
    summary = await handle(s3_event(raw, "messages.csv", "users.csv"), settings)
    assert summary["status"] == "succeeded" and len(summary["runs"]) == 1
    assert await leaderboard(engine) == SAMPLE_RANKING
    async with engine.connect() as conn:
        recorded = (await conn.execute(text("SELECT trigger, status FROM pipeline_run"))).all()
    assert [tuple(r) for r in recorded] == [("lambda", "succeeded")]


async def test_without_a_database_the_result_is_written_but_not_fed(
    s3_server: S3Server, buckets: dict[str, str]
) -> None:
    settings = lambda_settings(buckets, environment="production")
    assert settings.database_url is None
    summary = await handle(s3_event(buckets["raw_bucket"], "users.csv"), settings)
    (run,) = summary["runs"]
    assert run["status"] == "succeeded" and run["id"] is None and run["feed_id"] is None
    assert run["messages"] == 10 and run["started_at"] is not None
    store = s3_server.store(buckets["result_bucket"])
    assert obstore.head(store, "pipeline_result.csv")["size"] > 0


async def test_other_events_are_ignored(s3_server: S3Server, buckets: dict[str, str]) -> None:
    settings = lambda_settings(buckets)
    raw, results = buckets["raw_bucket"], buckets["result_bucket"]
    event = s3_event(raw, "notes for later.txt", "archive/messages.csv")
    event["Records"] += s3_event(raw, "messages.csv", name="ObjectRemoved:Delete")["Records"]
    event["Records"] += s3_event(results, "messages.csv")["Records"]
    summary = await handle(event, settings)
    assert summary["status"] == "ignored" and summary["runs"] == []
    assert [(i["bucket"], i["key"]) for i in summary["ignored"]] == [
        (raw, "notes for later.txt"),  # decoded from notes+for+later.txt
        (raw, "archive/messages.csv"),
        (raw, "messages.csv"),
        (results, "messages.csv"),
    ]
    assert "not an S3 object-created event" in summary["ignored"][2]["reason"]
    assert await handle({"Service": "Amazon S3", "Event": "s3:TestEvent"}, settings) == {
        "status": "ignored", "runs": [], "ignored": [],
    }  # fmt: skip
    assert obstore.list(s3_server.store(results)).collect() == []


async def test_a_bad_raw_file_fails_the_run_and_keeps_the_leaderboard(
    s3_server: S3Server, buckets: dict[str, str], database_url: str, engine: AsyncEngine
) -> None:
    settings = lambda_settings(buckets, database_url=database_url)
    raw = buckets["raw_bucket"]
    await handle(s3_event(raw, "messages.csv"), settings)
    obstore.put(s3_server.store(raw), "users.csv", b"user_id,name\n1,A\nnope,B\n")

    summary = await handle(s3_event(raw, "users.csv"), settings)
    assert summary["status"] == "failed"
    assert summary["runs"][0]["error"] == (
        f"s3://{raw}/users.csv, row 2, column 'user_id': not an integer (value 'nope')"
    )
    assert await leaderboard(engine) == SAMPLE_RANKING


async def test_an_unreachable_store_is_raised_for_lambda_to_retry(
    buckets: dict[str, str],
) -> None:
    settings = lambda_settings(buckets, s3_endpoint_url="http://127.0.0.1:9")
    with pytest.raises(RunFailed) as caught:
        await handle(s3_event(buckets["raw_bucket"], "messages.csv"), settings)
    assert caught.value.run.error is not None
    assert "object storage is unavailable" in caught.value.run.error
