from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response

from tempo.core.api_errors import TOKEN_ERRORS, error_responses
from tempo.core.db import pending_migrations
from tempo.core.db_errors import database_error
from tempo.core.deps import EngineDep, MetricsDep, SettingsDep
from tempo.core.errors import TempoError
from tempo.core.security import TokenGuard, bearer_token, client_address
from tempo.ops.schemas import Health, Readiness

router = APIRouter(tags=["ops"])

READINESS_TIMEOUT_SECONDS = 3.0


@router.get("/healthz", response_model=Health, summary="The process is alive")
async def healthz() -> Health:
    return Health()


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="The database answers and its schema is current",
    responses=error_responses(503),
)
async def readyz(engine: EngineDep) -> Readiness:
    # The engine, not a session: the probe's connection goes back as soon as the probe
    # ends, timed out or not, rather than once the answer has been sent.
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            pending = await pending_migrations(engine)
    except Exception as exc:
        # The same answer as any route's (with Retry-After where waiting helps), so a
        # probe's client and an operator read one wording.
        error = database_error(exc)
        if error is None:
            raise
        raise error from exc
    if pending:
        raise TempoError(
            503, "migrations_pending", "the database schema is behind; run `tempo migrate`"
        )
    return Readiness()


METRICS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"
METRICS_EXAMPLE = """\
# HELP tempo_http_requests_total HTTP requests answered, by route template, method and status
# TYPE tempo_http_requests_total counter
tempo_http_requests_total{method="GET",route="/leaderboard",status="200"} 1532.0
"""


@router.get(
    "/metrics",
    summary="Prometheus metrics of every worker (the API token in production)",
    description="The Prometheus text format. Unless `METRICS_PUBLIC=true`, a scrape sends "
    "`Authorization: Bearer <API_TOKEN>` outside development. 404 with `METRICS=false`.",
    response_class=Response,
    responses={
        200: {
            "content": {
                METRICS_MEDIA_TYPE: {"schema": {"type": "string"}, "example": METRICS_EXAMPLE}
            }
        },
        **error_responses(*TOKEN_ERRORS, 404),
    },
)
async def metrics(request: Request, settings: SettingsDep, recorder: MetricsDep) -> Response:
    if recorder is None:
        raise TempoError(404, "not_found", "metrics are off (METRICS=false)")
    if settings.metrics_need_token:
        guard: TokenGuard = request.state.token_guard
        guard.check(
            client_address(request.scope), bearer_token(request.headers.get("authorization"))
        )
    return Response(recorder.render(), media_type=METRICS_MEDIA_TYPE)
