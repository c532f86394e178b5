"""The JSON API's errors: one shape for every client-visible failure,
{"error": {"code", "message", "details"}}, and one handler for every TempoError (a failing
database included, through tempo.core.db_errors). What each status means is documented
on the routes from here too."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from tempo.core.db_errors import KNOWN_FAILURES, database_error
from tempo.core.errors import TempoError
from tempo.core.json_body import not_json
from tempo.core.logs import get_logger

log = get_logger(__name__)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status_code, headers=headers)


def json_error(error: TempoError) -> JSONResponse:
    """The answer to `error`, for the handler below and the pure-ASGI layers before it."""
    return error_response(error.status, error.code, error.message, error.details, error.headers)


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
    408: "request_timeout",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    503: "unavailable",
}

# nginx's status for "client closed the request": nobody receives the answer, and the
# access line (at info, like every request's) is then the one line the event leaves.
CLIENT_CLOSED_REQUEST = 499


def _client_gone_response() -> JSONResponse:
    """A client that closed the connection before its body was complete: not a fault of
    the server's, so no error and no traceback."""
    return error_response(
        CLIENT_CLOSED_REQUEST,
        "client_disconnected",
        "the connection closed before the request body was complete",
    )


def _field_problem(err: dict[str, Any]) -> dict[str, str]:
    loc, message = err["loc"], err["msg"]
    if err["type"] == "json_invalid" and len(loc) == 2 and isinstance(loc[1], int):
        # FastAPI puts the offset of a JSON syntax error where the field goes ("body.14",
        # "JSON decode error"): name the body, and say what and where, as pydantic does.
        reason = (err.get("ctx") or {}).get("error", "invalid JSON")
        loc, message = loc[:1], f"Invalid JSON: {reason} at character {loc[1]}"
    return {"field": ".".join(str(part) for part in loc), "message": message, "type": err["type"]}


def _not_json(request: Request, exc: RequestValidationError) -> TempoError | None:
    """A JSON body route sent another media type: FastAPI then validates the raw bytes and
    says the body is not an object (422); the client's mistake is the media type (415)."""
    if not any(
        e["type"] == "model_attributes_type" and tuple(e["loc"]) == ("body",) for e in exc.errors()
    ):
        return None
    return not_json(request.headers.get("content-type"))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled_error", exc_info=exc)
        return error_response(500, "internal_error", "internal server error")

    async def _tempo_error(request: Request, exc: Exception) -> JSONResponse:
        error = exc if isinstance(exc, TempoError) else database_error(exc)
        if error is None:  # an OSError about a file, a query the database refused: a bug
            return await _unexpected(request, exc)
        error.log_to(log)
        return json_error(error)

    # Registered per class (not as the 500 handler above) so Starlette answers them
    # without re-raising; a failing database arrives as the driver's exception.
    for exc_class in KNOWN_FAILURES:
        app.add_exception_handler(exc_class, _tempo_error)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        unsupported = _not_json(request, exc)
        if unsupported is not None:
            return json_error(unsupported)
        errors = [_field_problem(err) for err in exc.errors()]
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
