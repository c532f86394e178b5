"""One error model: every TempoError, and every failing database, answered the same way by
the JSON API, the pages and the command line."""

from __future__ import annotations

import errno
import importlib
import pkgutil
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

import tempo
from tempo.analytics.errors import AnalyticsError
from tempo.app import create_app
from tempo.core.cli.support import one_line_errors
from tempo.core.csv_input import CsvError
from tempo.core.db import JobBusy, Lock
from tempo.core.db_errors import (
    SCHEMA_MISSING_MESSAGE,
    DatabaseBusy,
    DatabaseMisconfigured,
    DatabaseUnavailable,
    SchemaMissing,
    StatementTimeout,
    database_error,
)
from tempo.core.errors import TempoError
from tempo.core.locations import SourceError
from tempo.images.errors import ImageError, ModelError
from tempo.people.service import PiiKeyError
from tempo.pipeline.spark_engine import SparkUnavailable
from tempo.schedule.service import FieldProblem, InvalidSchedule
from tempo.site.chrome import WORDING, page_problem
from tests.fixtures.app import make_settings, running

# One of each kind, as the code raises them; a new kind must be added here to be checked.
EXAMPLES: list[TempoError] = [
    TempoError(409, "conflict", "a refusal of the route's own", {"why": "because"}),
    CsvError("users.csv", "not an integer", column="user_id", row=2, value="x"),
    SourceError("s3://raw/users.csv", "object storage is unreachable", 503),
    SourceError("s3://raw/users.csv", "no such key", 404, code="key_not_found"),
    AnalyticsError(404, "not_loaded", "run `tempo etl majors` first"),
    InvalidSchedule([FieldProblem("body.day_end", "day_end must be after day_start")]),
    JobBusy(Lock.FEED),
    PiiKeyError("PII_HMAC_KEY is empty; set a secret key"),
    DatabaseUnavailable("ConnectionRefusedError: refused"),
    StatementTimeout("QueryCanceledError: canceling statement due to statement timeout"),
    SchemaMissing(),
    DatabaseBusy(),
    DatabaseMisconfigured('InvalidCatalogNameError: database "x" does not exist'),
    SparkUnavailable("the Spark engine needs Java 17 or newer on PATH"),
    ImageError(
        415,
        "unsupported_image_type",
        "the file is a GIF image; send a PNG, JPEG or WebP image",
        {"supported": ["image/jpeg", "image/png", "image/webp"]},
    ),
    ModelError("labels.txt has 2 labels but model.onnx outputs 3 classes"),
]


def _subclasses(cls: type[TempoError]) -> set[type[TempoError]]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found))


def test_every_kind_of_tempo_error_has_an_example() -> None:
    for module in pkgutil.walk_packages(tempo.__path__, "tempo."):
        # __main__ runs the CLI; Alembic's env.py runs migrations when imported.
        if not module.name.endswith("__main__") and not module.name.startswith("tempo.migrat"):
            importlib.import_module(module.name)
    assert _subclasses(TempoError) <= {type(error) for error in EXAMPLES}


async def test_the_api_answers_every_tempo_error_through_one_handler(
    database_url: str, data_dir: Path
) -> None:
    app = create_app(make_settings(database_url, data_dir))

    async def failing(which: int) -> None:
        raise EXAMPLES[which]

    app.add_api_route("/failing", failing)
    async for client in running(app):
        for which, error in enumerate(EXAMPLES):
            response = await client.get("/failing", params={"which": which})
            assert response.status_code == error.status, error
            body = {"code": error.code, "message": error.message, "details": error.details}
            assert response.json() == {"error": body}, error
            for name, value in (error.headers or {}).items():
                assert response.headers[name] == value, error


def test_the_statuses_codes_and_headers_each_kind_answers_with() -> None:
    answers = {
        (type(e).__name__, e.status, e.code, (e.headers or {}).get("Retry-After")) for e in EXAMPLES
    }
    assert answers >= {
        ("CsvError", 422, "invalid_csv", None),
        ("SourceError", 503, "object_storage_unavailable", "5"),
        ("SourceError", 404, "key_not_found", None),
        ("InvalidSchedule", 422, "invalid_request", None),
        ("JobBusy", 503, "busy", "5"),
        ("DatabaseUnavailable", 503, "database_unavailable", "5"),
        ("StatementTimeout", 503, "statement_timeout", "5"),
        ("SchemaMissing", 503, "schema_missing", None),
        ("DatabaseBusy", 503, "database_busy", "1"),
    }
    csv = EXAMPLES[1]
    assert csv.message == "users.csv, row 2, column 'user_id': not an integer (value 'x')"
    assert csv.details == {
        "file": "users.csv", "row": 2, "line": None, "column": "user_id", "value": "x",
        "reason": "not an integer",
    }  # fmt: skip
    assert EXAMPLES[2].details == {"source": "s3://raw/users.csv"}


def test_pages_and_the_command_line_say_the_same_as_the_api(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for error in EXAMPLES:
        if isinstance(error, DatabaseUnavailable | SchemaMissing | DatabaseBusy):
            continue  # pages word these themselves (tempo.site.chrome.WORDING)
        problem = page_problem(error)
        assert (problem.status, problem.message, problem.headers) == (
            error.status,
            error.message,
            error.headers,
        )
        capsys.readouterr()  # the log line of a server's trouble (a busy job)
        with pytest.raises(SystemExit) as ended, one_line_errors():
            raise error
        assert ended.value.code == 1
        assert capsys.readouterr().err == f"error: {error.message}\n"


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"), DatabaseUnavailable),
        (TimeoutError(), DatabaseUnavailable),
        (
            asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
            DatabaseUnavailable,
        ),  # fmt: skip
        (
            asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
            StatementTimeout,
        ),  # fmt: skip
        (
            asyncpg.exceptions.UndefinedTableError('relation "leaderboard" does not exist'),
            SchemaMissing,
        ),  # fmt: skip
        (PoolTimeoutError("QueuePool limit of size 10 overflow 10 reached"), DatabaseBusy),
        (
            asyncpg.exceptions.UndefinedColumnError('column "delta_version" does not exist'),
            SchemaMissing,
        ),  # fmt: skip
        # Not the database's: a file that cannot be read, a query the database refused.
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "users.csv"), None),
        (asyncpg.exceptions.UniqueViolationError("duplicate key"), None),
        (ValueError("a bug"), None),
    ],
)
def test_the_database_failures_and_what_they_mean(
    failure: Exception, expected: type[TempoError] | None
) -> None:
    error = database_error(failure)
    assert type(error) is expected if expected else error is None
    if error is None:
        with pytest.raises(type(failure)):
            page_problem(failure)
        return
    assert error.status == 503 and error.__cause__ is failure
    # A page words it in the site's words, or its own, with the same status and headers.
    site = page_problem(failure)
    assert (site.status, site.message, site.headers) == (503, WORDING[error.code], error.headers)
    assert page_problem(failure, {error.code: "Ours."}).message == "Ours."


def test_the_command_line_words_a_lost_database_with_the_drivers_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lost = ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 1)")
    unmigrated = asyncpg.exceptions.UndefinedTableError('relation "track" does not exist')
    for failure, line in (
        (lost, "cannot reach the database: ConnectionRefusedError: [Errno 111] Connect call "
               "failed ('127.0.0.1', 1)"),
        (unmigrated, SCHEMA_MISSING_MESSAGE),
    ):  # fmt: skip
        with pytest.raises(SystemExit), one_line_errors():
            raise failure
        assert capsys.readouterr().err == f"error: {line}\n"
    # Anything else is a bug, and keeps its traceback.
    with pytest.raises(ValueError, match="a bug"), one_line_errors():
        raise ValueError("a bug")
