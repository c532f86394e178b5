from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Response
from sqlmodel.ext.asyncio.session import AsyncSession

from tempo.dependencies import EngineDep
from tempo.errors import ApiError, error_responses
from tempo.schedule.ics import to_ics
from tempo.schedule.schemas import SchedulePlan, ScheduleRequest
from tempo.schedule.service import InvalidSchedule, needs_catalog, plan_day

router = APIRouter(tags=["schedule"])

ICS_MEDIA_TYPE = "text/calendar"


def wants_ics(format: str | None, accept: str | None) -> bool:
    if format is not None:
        return format == "ics"
    return accept is not None and ICS_MEDIA_TYPE in accept.lower()


def as_api_error(error: InvalidSchedule) -> ApiError:
    details = [{"field": p.field, "message": p.message} for p in error.problems]
    return ApiError(422, error.code, str(error), details)


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
        **error_responses(422, 503),
    },
)
async def post_schedule(
    body: ScheduleRequest,
    engine: EngineDep,
    format: Annotated[
        Literal["json", "ics"] | None, Query(description="Overrides the Accept header")
    ] = None,
    accept: Annotated[str | None, Header()] = None,
) -> SchedulePlan | Response:
    try:
        if needs_catalog(body):
            async with AsyncSession(engine, expire_on_commit=False) as session:
                plan = await plan_day(body, session)
        else:  # songs given in full: no database work at all
            plan = await plan_day(body, None)
    except InvalidSchedule as error:
        raise as_api_error(error) from None
    if wants_ics(format, accept):
        day = body.date or dt.date.today()
        return Response(
            to_ics(plan, day),
            media_type=ICS_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="tempo-{day}.ics"'},
        )
    # The plan is already a validated SchedulePlan: encode it once, without FastAPI
    # validating it again against the response model (a fifth of the request's time).
    return Response(plan.model_dump_json(), media_type="application/json")
