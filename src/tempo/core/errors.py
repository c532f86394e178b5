"""One error shape for every client-visible failure: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from tempo.core.csv_input import CsvError
from tempo.core.db import COMMAND_TIMEOUT, STATEMENT_TIMEOUT_MS, JobBusy, driver_errors
from tempo.core.logs import get_logger
from tempo.core.sources import SourceError

log = get_logger(__name__)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status_code, headers=headers)


_RETRY_AFTER = {
    "description": "Seconds to wait before trying again",
    "schema": {"type": "integer", "minimum": 0},
}
_CHALLENGE_HEADER = {
    "description": "`Bearer`: the route takes `Authorization: Bearer <API_TOKEN>`",
    "schema": {"type": "string"},
}
# What each error status means on any route; a route's own description says more.
ERROR_STATUSES: dict[int, tuple[str, dict[str, Any]]] = {
    400: ("Bad request: a path, bucket name or object key that cannot be used", {}),
    401: ("Missing token", {"WWW-Authenticate": _CHALLENGE_HEADER}),
    403: (
        "Wrong token, or a path outside the data directory",
        {"WWW-Authenticate": _CHALLENGE_HEADER},
    ),
    404: ("Not found: the file, bucket, key or data the route reads", {}),
    413: ("The body, or a file in it, is over the route's size limit", {}),
    415: ("A media type or a compression the route does not take", {}),
    422: ("Invalid request: `details` names each field, or the file, row and column", {}),
    429: ("Too many requests: slow down", {"Retry-After": _RETRY_AFTER}),
    503: (
        "The database or object storage is unreachable or busy (with `Retry-After`), the "
        "schema is not migrated, or object storage is not configured",
        {"Retry-After": _RETRY_AFTER},
    ),
}
# The errors every route that checks the token can answer (429: repeated wrong tokens) …
TOKEN_ERRORS = (401, 403, 429)
# … and those of every route that reads a request body (size, media type, validation).
BODY_ERRORS = (413, 415, 422)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the error shape for the given statuses, each
    with what it means and the headers it may carry (none of them always)."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        description, headers = ERROR_STATUSES[status]
        responses[status] = {"model": ErrorResponse, "description": description}
        if headers:
            responses[status]["headers"] = headers
    return responses


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "unavailable",
}


# What a lost, unreachable or refusing database raises, through SQLAlchemy or from asyncpg.
DATABASE_DOWN_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.exceptions.OperatorInterventionError,  # 57: shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # 53: too many connections, disk full
    asyncpg.exceptions.ObjectNotInPrerequisiteStateError,  # database not accepting connections
    asyncpg.exceptions.InvalidCatalogNameError,  # the database does not exist
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,  # 28: login refused
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
)
SCHEMA_MISSING_ERRORS = (
    asyncpg.exceptions.UndefinedTableError,
    asyncpg.exceptions.UndefinedColumnError,
)
# How long a client should wait after a 503 for a database that is down or not answering.
RETRY_AFTER_SECONDS = "5"
SCHEMA_MISSING_MESSAGE = "the database schema is missing or behind; run `tempo migrate`"
# nginx's status for "client closed the request": nobody receives the answer, and the
# access line (at info, like every request's) is then the one line the event leaves.
CLIENT_CLOSED_REQUEST = 499


def is_schema_missing(exc: BaseException) -> bool:
    return any(isinstance(e, SCHEMA_MISSING_ERRORS) for e in driver_errors(exc))


def database_failure(exc: BaseException) -> str:
    """One line on a lost or silent database; a driver timeout has no message of its own."""
    causes = driver_errors(exc)
    if any(isinstance(e, TimeoutError) for e in causes):
        return f"the database did not answer within {COMMAND_TIMEOUT} s"
    # The driver's own error says most (not a wrapper such as a failed pipeline run).
    driver = next((e for e in causes if isinstance(e, DATABASE_DOWN_ERRORS)), exc)
    first_line = (str(driver).strip().splitlines() or [""])[0]
    return f"{type(driver).__name__}: {first_line}".rstrip(": ")


# The server cancelled a statement at its statement limit (SQLSTATE 57014): the database
# answered, the work was too slow. Still a 503 everywhere (it is usually load, and passes),
# but not worded as a lost database.
STATEMENT_TIMEOUT_CODE = "statement_timeout"
STATEMENT_TIMEOUT_MESSAGE = (
    f"the database is up, but this request's work took over {STATEMENT_TIMEOUT_MS / 1000:g} s "
    "and was stopped (the server is busy, or the request asks for much); try again shortly"
)


def is_statement_timeout(exc: BaseException) -> bool:
    return any(isinstance(e, asyncpg.exceptions.QueryCanceledError) for e in driver_errors(exc))


def is_database_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return any(
        isinstance(e, DATABASE_DOWN_ERRORS) and not _names_a_file(e) for e in driver_errors(exc)
    )


def _names_a_file(exc: BaseException) -> bool:
    """An OSError about a file (it carries the file's name): the file system's problem, not
    a lost connection, so not a 503 "database unavailable"."""
    return isinstance(exc, OSError) and exc.filename is not None


def _client_gone_response() -> JSONResponse:
    """A client that closed the connection before its body was complete: not a fault of
    the server's, so no error and no traceback."""
    return error_response(
        CLIENT_CLOSED_REQUEST,
        "client_disconnected",
        "the connection closed before the request body was complete",
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(CsvError)
    async def _csv_error(_: Request, exc: CsvError) -> JSONResponse:
        return error_response(422, "invalid_csv", str(exc), exc.details())

    @app.exception_handler(SourceError)
    async def _source_error(_: Request, exc: SourceError) -> JSONResponse:
        # Unreachable or refusing storage is usually brief; a missing file or bucket is not.
        headers = {"Retry-After": "5"} if exc.status_code == 503 else None
        details = {"source": exc.source}
        return error_response(exc.status_code, exc.code, str(exc), details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "field": ".".join(str(part) for part in err["loc"]),
                "message": err["msg"],
                "type": err["type"],
            }
            for err in exc.errors()
        ]
        fields = ", ".join(e["field"] for e in errors)
        return error_response(422, "invalid_request", f"invalid request: {fields}", errors)

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(_: Request, __: ClientDisconnect) -> JSONResponse:
        return _client_gone_response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, ClientDisconnect):  # FastAPI's body reading wraps it
            return _client_gone_response()
        code = _HTTP_CODES.get(exc.status_code, "error")
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, code, str(exc.detail), None, headers)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled_error", exc_info=exc)
        return error_response(500, "internal_error", "internal server error")

    async def _database_error(request: Request, exc: Exception) -> JSONResponse:
        if is_schema_missing(exc):
            log.error("database_schema_missing", detail=str(exc).splitlines()[0])
            return error_response(503, "schema_missing", SCHEMA_MISSING_MESSAGE)
        if not is_database_unavailable(exc):
            return await _unexpected(request, exc)
        if is_statement_timeout(exc):
            log.warning("statement_timeout", detail=str(exc).splitlines()[0])
            return error_response(
                503,
                STATEMENT_TIMEOUT_CODE,
                STATEMENT_TIMEOUT_MESSAGE,
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        log.warning("database_unavailable", error=type(exc).__name__, detail=str(exc))
        return error_response(
            503,
            "database_unavailable",
            "the database is unreachable; try again shortly",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )

    @app.exception_handler(JobBusy)
    async def _job_busy(_: Request, exc: JobBusy) -> JSONResponse:
        # Another feed (or load) holds the job's lock: the database is fine, so say so.
        log.info("job_busy", job=exc.lock.name.lower())
        return error_response(503, "busy", str(exc), headers={"Retry-After": RETRY_AFTER_SECONDS})

    @app.exception_handler(PoolTimeoutError)
    async def _database_busy(_: Request, exc: PoolTimeoutError) -> JSONResponse:
        # Every pooled connection stayed in use for the whole wait: overload, not a fault.
        log.warning("database_busy", detail=str(exc).split(" (Background")[0])
        return error_response(
            503,
            "database_busy",
            "every database connection is busy; try again shortly",
            headers={"Retry-After": "1"},
        )

    # Registered per class (not as a 500 handler) so Starlette answers them without re-raising.
    for exc_class in (DBAPIError, asyncpg.PostgresError, *DATABASE_DOWN_ERRORS):
        app.add_exception_handler(exc_class, _database_error)
