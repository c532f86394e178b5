from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from tempo.catalog.index import CatalogIndexes
from tempo.core.api_errors import error_responses
from tempo.core.deps import open_session
from tempo.core.errors import TempoError
from tempo.core.json_body import RequestRoute, json_body, openapi_body, validate_json
from tempo.core.limits import CATALOG_LOOKUPS, ensure_connected
from tempo.schedule.calendar_import import DayEvents
from tempo.schedule.ics import to_ics
from tempo.schedule.schemas import (
    EXAMPLE_REQUEST,
    SAMPLE_CALENDAR,
    SchedulePlan,
    ScheduleRequest,
)
from tempo.schedule.service import (
    FieldProblem,
    InvalidSchedule,
    check,
    import_calendar,
    needs_catalog,
    plan_day,
    plan_day_json,
)

# Its one route reads its request itself (RequestRoute): no FastAPI request handler.
router = APIRouter(tags=["schedule"], route_class=RequestRoute)

ICS_MEDIA_TYPE = "text/calendar"
JSON = "application/json"
# A day at the item limit (500) with long titles is about 150 KB; a typical one is 3 KB.
MAX_BODY_BYTES = 1024 * 1024


def wants_ics(format: str | None, accept: str | None) -> bool:
    if format is not None:
        return format == "ics"
    return accept is not None and ICS_MEDIA_TYPE in accept.lower()


# The parameters FastAPI would document from a signature; the route reads them itself (see
# tempo.core.json_body: solving them per request cost more than validating the whole body).
FORMAT_PARAMETER = {
    "name": "format",
    "in": "query",
    "required": False,
    "description": "Overrides the Accept header",
    "schema": {"anyOf": [{"enum": ["json", "ics"], "type": "string"}, {"type": "null"}]},
}
ACCEPT_PARAMETER = {
    "name": "accept",
    "in": "header",
    "required": False,
    "schema": {"anyOf": [{"type": "string"}, {"type": "null"}]},
}


def schedule_body() -> dict[str, Any]:
    """The JSON body (`openapi_body`), with examples, and the same as multipart/form-data
    with the calendar as a file."""
    body: dict[str, Any] = openapi_body(ScheduleRequest)["requestBody"]
    with_calendar = {
        "date": "2026-11-23", "timezone": "Europe/Paris", "day_start": "08:00",
        "todos": [{"title": "Write report", "duration_minutes": 90, "priority": 1}],
    }  # fmt: skip
    body["content"]["application/json"]["examples"] = {
        "day": {"summary": "Appointments, to-dos and music", "value": EXAMPLE_REQUEST},
        "calendar": {
            "summary": "The day's calendar (iCalendar text) and a to-do around it",
            "value": with_calendar | {"calendar": SAMPLE_CALENDAR},
        },
    }
    request = dict(body["content"]["application/json"]["schema"])
    request["description"] = "The JSON body as above, without `calendar`; optional"
    body["content"]["multipart/form-data"] = {
        "schema": {
            "type": "object",
            "required": ["calendar"],
            "properties": {
                "request": request,
                "calendar": {
                    "type": "string",
                    "format": "binary",
                    "description": "An .ics file (text/calendar, UTF-8): its events on "
                    "`date` become appointments, its all-day events are listed",
                },
            },
        },
        "encoding": {
            "request": {"contentType": "application/json"},
            "calendar": {"contentType": "text/calendar"},
        },
        "examples": {
            "calendar": {
                "summary": "curl -F 'request=…;type=application/json' "
                "-F 'calendar=@day.ics;type=text/calendar'",
                "value": {"request": with_calendar, "calendar": SAMPLE_CALENDAR},
            }
        },
    }
    return body


@router.post(
    "/schedule",
    response_model=SchedulePlan,
    summary="Plan a day: appointments, to-dos and whole songs around them",
    responses={
        200: {
            "content": {ICS_MEDIA_TYPE: {"schema": {"type": "string"}}},
            "description": "The plan as JSON, or as iCalendar with `Accept: text/calendar` "
            "or `?format=ics`",
        },
        **error_responses(413, 415, 422, 503),
    },
    openapi_extra={
        "requestBody": schedule_body(),
        "parameters": [FORMAT_PARAMETER, ACCEPT_PARAMETER],
    },
)
async def post_schedule(request: Request) -> Response:
    content_type = request.headers.get("content-type")
    if content_type is not None and content_type.startswith("multipart/"):
        body = await multipart_body(request)
    else:
        body = await json_body(request, ScheduleRequest, MAX_BODY_BYTES)
    # Most requests have no query string: no QueryParams to parse then.
    format = request.query_params.get("format") if request.scope["query_string"] else None
    if format not in (None, "json", "ics"):
        message = "Input should be 'json' or 'ics'"
        details = [{"field": "query.format", "message": message, "type": "literal_error"}]
        raise TempoError(422, "invalid_request", "invalid request: query.format", details)
    ics = wants_ics(format, request.headers.get("accept"))
    imported = None
    if body.calendar is not None:
        # Before any catalog slot or database connection: parsing and expanding a calendar
        # takes up to a second of a worker thread, and holds neither.
        check(body)
        imported = await import_calendar(body)
    if needs_catalog(body):
        # Catalog look-ups hold a database connection: bounded, and not for a client that
        # has already left. The session is opened here rather than declared: a declared
        # one would keep its connection past the slot, until the answer is sent, and costs
        # every plan, with look-ups or not, about as much as planning.
        async with CATALOG_LOOKUPS.slot():
            await ensure_connected(request, "catalog look-ups")
            async with open_session(request) as session:
                # Answered from this process's in-memory catalog, which the session
                # reads (once) only when a load has dropped it.
                index = request.state.catalog_index
                return await answer(body, session, ics, index, imported)
    # Songs given in full: no database work at all.
    return await answer(body, None, ics, imported=imported)


async def multipart_body(request: Request) -> ScheduleRequest:
    """A multipart/form-data request: the JSON body as its `request` part (optional), the
    calendar as its `calendar` part (text/calendar). The body's size is capped before it is
    read (tempo.core.admission), as for JSON."""
    if not request.headers["content-type"].startswith("multipart/form-data"):
        raise TempoError(
            415, "unsupported_media_type",
            f"send the body as application/json or multipart/form-data, "
            f"not {request.headers['content-type']}",
        )  # fmt: skip
    try:
        form = await request.form(max_files=2, max_fields=2, max_part_size=MAX_BODY_BYTES)
    except HTTPException as error:  # a malformed multipart body is python-multipart's 400
        if error.status_code != 400:
            raise  # the body cap's 413
        raise TempoError(
            422, "invalid_request", f"invalid multipart body: {error.detail}"
        ) from None
    unknown = sorted(set(form.keys()) - {"request", "calendar"})
    if unknown:
        message = f"unknown part {unknown[0]!r}: the parts are request (JSON) and calendar"
        raise _part_problem("body", message)
    repeated = sorted(name for name in set(form.keys()) if len(form.getlist(name)) > 1)
    if repeated:
        message = f"the {repeated[0]} part is given more than once: send one"
        raise _part_problem(f"body.{repeated[0]}", message)
    raw = form.get("request")
    text = await _part_text(raw, "request", JSON_TYPES) if raw is not None else "{}"
    body = validate_json(ScheduleRequest, text.encode())
    calendar = form.get("calendar")
    if calendar is None:
        raise _part_problem(
            "body.calendar", "a multipart request needs a calendar part (text/calendar)"
        )
    if body.calendar is not None:
        raise _part_problem(
            "body.calendar", "give the calendar once: as the calendar part or in the JSON"
        )
    return body.model_copy(update={"calendar": await _part_text(calendar, "calendar", ICS_TYPES)})


JSON_TYPES = ("application/json",)
ICS_TYPES = ("text/calendar",)


async def _part_text(part: UploadFile | str, name: str, types: tuple[str, ...]) -> str:
    """A part as text: a plain field, or a file of one of `types` (or with no type of its
    own, e.g. curl's application/octet-stream for a file named *.ics or *.json), in UTF-8."""
    if isinstance(part, str):
        return part
    media = (part.content_type or "").split(";")[0].strip().lower()
    suffix = ".ics" if name == "calendar" else ".json"
    untyped = media in ("", "application/octet-stream") and (part.filename or "").lower().endswith(
        suffix
    )
    if media not in types and not untyped:
        raise TempoError(
            415, "unsupported_media_type",
            f"the {name} part must be {types[0]}, not {media or 'untyped'}",
        )  # fmt: skip
    data = await part.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _part_problem(f"body.{name}", f"the {name} part is not UTF-8: {error}") from None


def _part_problem(field: str, message: str) -> InvalidSchedule:
    return InvalidSchedule([FieldProblem(field, message)])


async def answer(
    body: ScheduleRequest, session: AsyncSession | None, ics: bool,
    index: CatalogIndexes | None = None, imported: DayEvents | None = None,
) -> Response:  # fmt: skip
    if ics:
        return ics_response(await plan_day(body, session, index, imported), body.date)
    # Straight from the planner's records to JSON: the model and its validation are for
    # the ICS file and the pages.
    return Response(await plan_day_json(body, session, index, imported), media_type=JSON)


def ics_response(plan: SchedulePlan, date: dt.date | None) -> Response:
    day = date or dt.date.today()
    return Response(
        to_ics(plan, day),
        media_type=ICS_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="tempo-{day}.ics"'},
    )
