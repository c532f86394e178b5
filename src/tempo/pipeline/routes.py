"""The pipeline's API: feeds, uploads and recorded runs, each replacing the leaderboard."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.core.api_errors import BODY_ERRORS, TOKEN_ERRORS, error_responses
from tempo.core.csv_input import CsvInput, require_plain, require_plain_object
from tempo.core.db_errors import (
    DatabaseMisconfigured,
    DatabaseUnavailable,
    SchemaMissing,
    database_error,
)
from tempo.core.deps import EngineDep, MetricsDep, OptionalStorageDep, SessionDep, SettingsDep
from tempo.core.errors import RETRY_AFTER_SECONDS, TempoError
from tempo.core.metrics import Metrics, timed_job
from tempo.core.paging import Paging, paging
from tempo.core.security import Authorized, resolve_data_path
from tempo.core.sources import ObjectStorage, s3_location
from tempo.leaderboard.models import PipelineRun
from tempo.pipeline.feed import FeedResult, feed_file
from tempo.pipeline.runs import PipelinePlan, RunFailed, recent_runs, run_pipeline
from tempo.pipeline.schemas import (
    FeedRequest,
    FeedResponse,
    FeedS3Request,
    PipelineRunOut,
    PipelineRunPage,
    PipelineRunRequest,
    StoredUpload,
    UploadResponse,
)
from tempo.pipeline.uploads import run_after_upload, store_uploads

router = APIRouter(tags=["pipeline"])

# What every CSV route accepts, as the README's "Data contracts" says; /docs shows it.
DATA_CONTRACT = """

**Data contract** (the same as `tempo aggregate` and `tempo feed`). Every file is UTF-8 (a
BOM is allowed) with LF or CRLF line endings (not bare CR), a header row of at most 1,000
columns and 64 KiB with each name once, and every record exactly as many fields as the
header; quoted fields may hold commas, quotes and line breaks. `messages.csv` has
`message_id` and `author_id` (or `user_id`), an integer; `users.csv` has `user_id` (or
`id`), integers each once, and `first_name` with `last_name`, or `name`;
`pipeline_result.csv` is `rank,user_id,name,messages`, competition-ranked. A file with a
header and no data rows is refused unless `allow_empty` is true. A refused file is a 422
whose `details` name the `file`, `row`, `line`, `column`, `value` and `reason`, and
nothing is replaced."""


@router.post(
    "/feed",
    response_model=FeedResponse,
    summary="Replace the leaderboard with a pipeline_result.csv from the data directory",
    description="A path the file system refuses (a symbolic link loop, a name over 255 bytes) "
    "is a 400 `invalid_path` that says why." + DATA_CONTRACT,
    dependencies=[Authorized],
    responses=error_responses(*TOKEN_ERRORS, *BODY_ERRORS, 400, 404, 503),
)
async def post_feed(
    body: FeedRequest, settings: SettingsDep, engine: EngineDep, metrics: MetricsDep
) -> FeedResponse:
    # The engine, not a session: the feed COPYs the file in a transaction of its own.
    path = resolve_data_path(settings.data_dir, body.data_path)
    require_plain(path, body.data_path)
    return await _feed(metrics, engine, path, body.data_path, body.allow_empty)


async def _feed(
    metrics: Metrics | None, engine: AsyncEngine, path: CsvInput, source: str, allow_empty: bool
) -> FeedResponse:
    with timed_job(metrics, "feed") as rows:
        result = await feed_file(engine, path, source=source, allow_empty=allow_empty)
        rows.append(result.rows)
    return _feed_response(result)


def _feed_response(result: FeedResult) -> FeedResponse:
    return FeedResponse(
        feed_id=result.feed_id,
        rows=result.rows,
        seconds=round(result.seconds, 6),
        rows_per_second=round(result.rows_per_second, 1),
        source=result.source,
        loaded_at=result.loaded_at,
    )


@router.post(
    "/feed/s3",
    response_model=FeedResponse,
    summary="Replace the leaderboard with a pipeline_result.csv from an S3 bucket",
    description="404 names whether the bucket or the key is missing; 400 for a bucket name "
    "that breaks the S3 naming rules; 503 when object storage is unreachable, refuses "
    "Tempo's credentials, or is not configured.",
    dependencies=[Authorized],
    responses=error_responses(*TOKEN_ERRORS, *BODY_ERRORS, 400, 404, 503),
)
async def post_feed_s3(
    body: FeedS3Request, storage: OptionalStorageDep, engine: EngineDep, metrics: MetricsDep
) -> FeedResponse:
    # The engine, not a session: the feed COPYs the file in a transaction of its own.
    location = s3_location(body.s3_bucket, body.key)
    if storage is None:
        raise ObjectStorage.not_configured(location.url)
    stored = await storage.require_object(location)
    await require_plain_object(stored, location.url)
    return await _feed(metrics, engine, stored, location.url, body.allow_empty)


def _rows_fed(run: PipelineRun) -> int:
    return (run.ranked_users or 0) if run.feed_id is not None else 0


def _run_out(run: PipelineRun) -> PipelineRunOut:
    return PipelineRunOut.model_validate(run, from_attributes=True)


def _run_error(failed: RunFailed) -> Exception:
    """The failed run's cause as the error a client gets, naming the recorded run."""
    if isinstance(failed.cause, TempoError):
        return failed.cause.naming(run_id=failed.run.id)
    return failed.cause  # a failing database is answered as such (503), anything else a 500


@router.post(
    "/pipeline/run",
    response_model=PipelineRunOut,
    summary="Aggregate the raw messages and users into pipeline_result.csv and feed it",
    description="Reads messages.csv and users.csv from the raw bucket (or the data directory "
    "without object storage), writes pipeline_result.csv to the result bucket (or the data "
    "directory) and, unless `feed` is false, loads it into the leaderboard. Runs wait for "
    "each other; a failed run is recorded and leaves the served leaderboard as it was."
    + DATA_CONTRACT,
    dependencies=[Authorized],
    responses=error_responses(*TOKEN_ERRORS, *BODY_ERRORS, 400, 404, 503),
)
async def post_pipeline_run(
    settings: SettingsDep,
    engine: EngineDep,
    storage: OptionalStorageDep,
    metrics: MetricsDep,
    body: Annotated[PipelineRunRequest, Body(default_factory=PipelineRunRequest)],
) -> PipelineRunOut:
    # The engine, not a session: a run holds the pipeline lock on a connection of its own
    # for as long as it lasts, records itself in sessions of its own and feeds by COPY.
    plan = PipelinePlan.from_settings(settings)
    try:
        with timed_job(metrics, "pipeline_run") as rows:
            run = await run_pipeline(
                engine,
                plan,
                storage=storage,
                trigger="api",
                feed=body.feed,
                allow_empty=body.allow_empty,
            )
            rows.append(_rows_fed(run))
    except RunFailed as failed:
        raise _run_error(failed) from None
    return _run_out(run)


@router.get(
    "/pipeline/runs",
    response_model=PipelineRunPage,
    summary="Recorded pipeline runs, newest first",
    dependencies=[Authorized],
    responses=error_responses(*TOKEN_ERRORS, 422, 503),
)
async def get_pipeline_runs(
    session: SessionDep,
    page: Annotated[Paging, Depends(paging(default=20, maximum=100, rows="Runs"))],
) -> PipelineRunPage:
    runs, total = await recent_runs(session, limit=page.limit, offset=page.offset)
    return PipelineRunPage(rows=[_run_out(run) for run in runs], total=total)


_CSV_FILE = {"type": "string", "format": "binary", "contentMediaType": "text/csv"}
UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "title": "Upload",
                "type": "object",
                # Either file or both; neither, or any other field, is a 400.
                "anyOf": [{"required": ["messages"]}, {"required": ["users"]}],
                "additionalProperties": False,
                "properties": {
                    "messages": _CSV_FILE | {"description": "messages.csv"},
                    "users": _CSV_FILE | {"description": "users.csv"},
                },
                "examples": [
                    {
                        "messages": "message_id,author_id,content\n1,1,hello\n2,2,hi\n",
                        "users": "user_id,first_name,last_name\n1,Ada,Lovelace\n2,Alan,Turing\n",
                    }
                ],
            },
            "encoding": {
                "messages": {"contentType": "text/csv"},
                "users": {"contentType": "text/csv"},
            },
        }
    },
}


def _stored_but_not_run(exc: Exception, uploaded: list[StoredUpload]) -> TempoError | None:
    """The database failed the run after the files were stored: a 503 that says so."""
    error = database_error(exc)
    if isinstance(error, (SchemaMissing, DatabaseMisconfigured)):
        code, why = error.code, error.message
    elif isinstance(error, DatabaseUnavailable):  # a statement timeout too
        code, why = "database_unavailable", "the database is unreachable"
    else:
        return None
    names = " and ".join(file.name for file in uploaded)
    return TempoError(
        503,
        code,
        f"{names} {'were' if len(uploaded) > 1 else 'was'} stored, but the pipeline could "
        f"not run: {why}; run it (POST /pipeline/run) once the database is back",
        {"stored": [file.model_dump() for file in uploaded]},
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


@router.post(
    "/uploads",
    response_model=UploadResponse,
    summary="Upload messages.csv and/or users.csv, then run the pipeline",
    description="Multipart form fields `messages` and `users` (either or both), each up to "
    "MAX_UPLOAD_BYTES (413 as soon as one passes it). Every file is checked like the "
    "aggregation reads it (422 naming the row and column) before any replaces the current "
    "one in the raw bucket (or the data directory). A file with a header and no rows is "
    "refused unless `allow_empty=true`. With RUN_ON_UPLOAD the database is checked before "
    "anything is stored (503, nothing stored), then the pipeline runs; its outcome, success "
    "or failure, is `run`. If the database goes away between the two, the 503 says which "
    "files were stored (`details.stored`)." + DATA_CONTRACT,
    dependencies=[Authorized],
    responses=error_responses(*TOKEN_ERRORS, *BODY_ERRORS, 400, 404, 503),
    openapi_extra={"requestBody": UPLOAD_BODY},
)
async def post_uploads(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    storage: OptionalStorageDep,
    metrics: MetricsDep,
    allow_empty: Annotated[
        bool, Query(description="Accept a file with a header and no rows")
    ] = False,
) -> UploadResponse:
    plan = PipelinePlan.from_settings(settings)
    if settings.run_on_upload:
        # A run needs the database: while it is down, refuse before replacing any file
        # (the error handlers answer 503), rather than store files no run can follow.
        # The engine: the run after the upload needs it (see post_pipeline_run), and this
        # probe gives its connection back before the upload, which may take minutes.
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    # A client that goes away mid-body raises ClientDisconnect: nothing was replaced, and
    # the error handlers make it one access line (499).
    stored = await store_uploads(
        request.headers.get("content-type"),
        request.headers.get("content-length"),
        request.stream(),
        plan=plan,
        storage=storage,
        max_bytes=settings.max_upload_bytes,
        allow_empty=allow_empty,
    )
    uploaded = [StoredUpload(**asdict(file)) for file in stored]
    run = None
    if settings.run_on_upload:
        try:
            with timed_job(metrics, "pipeline_run") as rows:
                done = await run_after_upload(engine, plan, storage, allow_empty=allow_empty)
                rows.append(_rows_fed(done))
            run = _run_out(done)
        except Exception as exc:
            refused = _stored_but_not_run(exc, uploaded)
            if refused is None:
                raise
            raise refused from None
    return UploadResponse(stored=uploaded, run=run)
