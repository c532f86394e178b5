"""AWS Lambda entry point: a raw file landing in S3 runs the pipeline, raw → result bucket.

Deploy the same package with the handler `tempo.lambda_handler.handler` and an S3 trigger
on `s3:ObjectCreated:*` for the raw bucket (filter: suffix `.csv`). The function reads
messages.csv and users.csv from the bucket in the event, writes pipeline_result.csv to
RESULT_BUCKET in one PUT and, when DATABASE_URL is set, feeds it into the leaderboard,
through the same code, lock and run record as `POST /pipeline/run`. Credentials come from
the function's role (S3_* keys unset); S3_ENDPOINT_URL stays unset on AWS.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote_plus

from pydantic import model_validator

from tempo.core.db_errors import is_database_unavailable
from tempo.core.logs import configure_logging, get_logger
from tempo.core.settings import Settings
from tempo.core.sources import ObjectStorage, SourceError
from tempo.pipeline.runs import (
    MESSAGES_FILE,
    USERS_FILE,
    PipelinePlan,
    RunFailed,
    run_fields,
    run_pipeline,
)

log = get_logger(__name__)

RAW_FILES = (MESSAGES_FILE, USERS_FILE)


class LambdaSettings(Settings):
    """The service's settings, without the checks that guard `tempo serve`: a Lambda
    answers no HTTP (no API token to protect) and needs no database of its own."""

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> LambdaSettings:
        return self


def raw_buckets(
    event: dict[str, Any], result_bucket: str
) -> tuple[list[str], list[dict[str, Any]]]:
    """The buckets whose raw files changed, in event order, and the records left alone."""
    buckets: list[str] = []
    ignored: list[dict[str, Any]] = []
    for record in event.get("Records") or []:
        s3 = record.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name", "")
        # Keys arrive URL-encoded, with '+' for spaces.
        key = unquote_plus((s3.get("object") or {}).get("key", ""))
        reason = None
        if record.get("eventSource") != "aws:s3" or not str(record.get("eventName", "")).startswith(
            "ObjectCreated:"
        ):
            reason = f"not an S3 object-created event ({record.get('eventName')!r})"
        elif key not in RAW_FILES:
            reason = f"not a raw input; the pipeline reads {' and '.join(RAW_FILES)}"
        elif bucket == result_bucket:
            reason = "the result bucket; its writes must not start runs"
        if reason is not None:
            ignored.append({"bucket": bucket, "key": key, "reason": reason})
        elif bucket not in buckets:
            buckets.append(bucket)
    return buckets, ignored


def _transient(exc: Exception) -> bool:
    """Worth Lambda's retry: storage or database out of reach, not a bad file."""
    if isinstance(exc, SourceError):
        return exc.status == 503
    return is_database_unavailable(exc)


async def handle(event: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Run the pipeline for every raw bucket the event touched; a JSON-able summary."""
    buckets, ignored = raw_buckets(event, settings.result_bucket)
    for skipped in ignored:
        log.info("lambda_record_ignored", **skipped)
    if not buckets:
        return {"status": "ignored", "runs": [], "ignored": ignored}

    # The event itself comes from S3: object storage is there even if no setting says so.
    storage = ObjectStorage.from_settings(settings, enabled=True)
    engine = None
    if settings.database_url is not None:
        from tempo.core.db import create_engine, database_url

        engine = create_engine(database_url(settings), pool_size=2)
    runs = []
    try:
        for bucket in buckets:
            plan = PipelinePlan.from_raw_bucket(bucket, settings.result_bucket)
            try:
                run = await run_pipeline(engine, plan, storage=storage, trigger="lambda")
            except RunFailed as failed:
                if _transient(failed.cause):
                    raise  # Lambda retries the event
                run = failed.run
            runs.append(run_fields(run))
    finally:
        if engine is not None:
            await engine.dispose()
    failed_runs = [run for run in runs if run["status"] != "succeeded"]
    return {"status": "failed" if failed_runs else "succeeded", "runs": runs, "ignored": ignored}


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """The Lambda entry point (`tempo.lambda_handler.handler`)."""
    settings = LambdaSettings()
    configure_logging(settings.log_level, "json")
    return asyncio.run(handle(event, settings))
