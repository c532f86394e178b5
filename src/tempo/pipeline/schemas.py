from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from tempo.core.paging import Page, rows_named

# Paths: no NUL, and no name longer than the file systems' 255 (400 from the route).
DATA_PATH_PATTERN = r"^[^\x00/]{0,255}(?:/[^\x00/]{0,255})*$"
# S3 bucket names: [a-z0-9.-], a letter or digit at both ends, never two dots in a row.
BUCKET_PATTERN = r"^[a-z0-9](?:\.?[a-z0-9-])*\.?[a-z0-9]$"
# Object keys: segments without control characters, none of them empty, `.` or `..`.
_CHAR, _NOT_DOT = r"[^/\x00-\x1f\x7f]", r"[^/.\x00-\x1f\x7f]"
_SEGMENT = rf"(?:{_NOT_DOT}{_CHAR}*|\.{_NOT_DOT}{_CHAR}*|\.\.{_CHAR}+)"
KEY_PATTERN = rf"^{_SEGMENT}(?:/{_SEGMENT})*$"


def _allow_empty() -> bool:
    """A fresh field for each model (pydantic fills in a field's annotation in place)."""
    accepted: bool = Field(
        default=False,
        strict=True,  # a JSON true or false: "yes" or 1 is a mistake to report
        description="Accept a file with a header and no rows, which empties the "
        "leaderboard; without it such a file is refused (422)",
    )
    return accepted


class FeedRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"data_path": "pipeline_result.csv"}]}
    )

    # The pattern is documented, not validated here: the route names what is wrong with a
    # path (400 `invalid_path`), as it does for the S3 names below.
    data_path: str = Field(
        min_length=1,
        max_length=1024,
        json_schema_extra={"pattern": DATA_PATH_PATTERN},
        description="A pipeline_result.csv inside the data directory (relative to it): no "
        "NUL, each name in it at most 255 bytes (400 `invalid_path`). `..` and paths that "
        "lead outside it are refused (400, 403), and so is one the file system cannot take "
        "(400: a symlink loop)",
    )
    allow_empty: bool = _allow_empty()


class FeedResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "feed_id": 7,
                    "rows": 10,
                    "seconds": 0.012,
                    "rows_per_second": 833.3,
                    "source": "pipeline_result.csv",
                    "loaded_at": "2026-11-22T09:30:00Z",
                }
            ]
        }
    )

    feed_id: int
    rows: int
    seconds: float
    rows_per_second: float
    source: str
    loaded_at: datetime


class FeedS3Request(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"s3_bucket": "tempo-results", "key": "pipeline_result.csv"}]
        }
    )

    # The patterns are documented, not validated here: the route checks the S3 rules and
    # says which one a name breaks (400 `invalid_bucket_name`, `invalid_key`).
    s3_bucket: str = Field(
        max_length=255,
        json_schema_extra={"minLength": 3, "maxLength": 63, "pattern": BUCKET_PATTERN},
        description="The bucket holding the result file, named by the S3 rules: lowercase "
        "letters, digits, dots and hyphens, starting and ending with a letter or digit, no "
        "two dots in a row; not an IP address, and no prefix (`xn--`, …) or suffix "
        "(`-s3alias`, …) that S3 reserves. A name that breaks them is a 400",
    )
    key: str = Field(
        default="pipeline_result.csv",
        max_length=1024,
        json_schema_extra={"minLength": 1, "pattern": KEY_PATTERN},
        description="The object key of a pipeline_result.csv: at most 1,024 bytes in UTF-8, "
        "no control character, no leading `/`, no empty, `.` or `..` segment (400)",
    )
    allow_empty: bool = _allow_empty()


RUN_EXAMPLE: dict[str, JsonValue] = {
    "id": 12,
    "status": "succeeded",
    "trigger": "api",
    "started_at": "2026-11-22T09:30:00Z",
    "finished_at": "2026-11-22T09:30:01Z",
    "inputs": {
        "messages": {"location": "s3://tempo-raw/messages.csv", "bytes": 1204},
        "users": {"location": "s3://tempo-raw/users.csv", "bytes": 301},
    },
    "output": "s3://tempo-results/pipeline_result.csv",
    "messages": 10,
    "users": 10,
    "ranked_users": 10,
    "orphan_messages": 0,
    "feed_id": 7,
    "seconds": 0.214,
    "error": None,
}


class RunInput(BaseModel):
    location: str = Field(description="An s3:// URL, or a file in the data directory")
    bytes: int | None = Field(description="Its size when the run read it; null if never read")


class PipelineRunOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [RUN_EXAMPLE]})

    id: int | None = Field(description="null for a run without a database (a bare Lambda)")
    status: Literal["running", "succeeded", "failed"]
    trigger: Literal["api", "upload", "lambda", "cli"]
    started_at: datetime | None
    finished_at: datetime | None
    inputs: dict[str, RunInput] = Field(description="messages and users: where they were read")
    output: str | None = Field(description="Where pipeline_result.csv was written")
    messages: int | None = Field(description="Messages counted")
    users: int | None = Field(description="Rows of users.csv")
    ranked_users: int | None = Field(description="Rows of the result")
    orphan_messages: int | None = Field(description="Messages from users missing from users.csv")
    feed_id: int | None = Field(description="The feed that now serves the result; null if not fed")
    seconds: float | None
    error: str | None = Field(description="Why the run failed, naming the file, row and column")


class PipelineRunPage(Page[PipelineRunOut]):
    model_config = rows_named(
        "runs", json_schema_extra={"examples": [{"runs": [RUN_EXAMPLE], "total": 1}]}
    )

    rows: list[PipelineRunOut] = Field(description="Newest first")
    total: int = Field(description="Runs ever recorded")


class PipelineRunRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"feed": True}]})

    # Strict: a JSON 0 or "false" is a mistake to report, not a boolean to guess.
    feed: bool = Field(
        default=True, strict=True, description="Load the result into the leaderboard"
    )
    allow_empty: bool = Field(
        default=False,
        strict=True,
        description="Accept a messages.csv or users.csv with a header and no rows; without "
        "it such a file fails the run (422)",
    )


class StoredUpload(BaseModel):
    name: Literal["messages.csv", "users.csv"]
    location: str = Field(description="Where it now lives: the raw bucket or the data directory")
    bytes: int
    rows: int = Field(description="Messages, or users, in the file")


class UploadResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "stored": [
                        {
                            "name": "messages.csv",
                            "location": "s3://tempo-raw/messages.csv",
                            "bytes": 1204,
                            "rows": 10,
                        }
                    ],
                    "run": RUN_EXAMPLE | {"trigger": "upload"},
                }
            ]
        }
    )

    stored: list[StoredUpload]
    run: PipelineRunOut | None = Field(
        description="The run the upload started (RUN_ON_UPLOAD); it may have failed, for "
        "example while the other file is still missing. null when uploads do not start runs"
    )
