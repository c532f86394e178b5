from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from tempo.dependencies import EngineDep, SessionDep, SettingsDep
from tempo.errors import error_responses
from tempo.leaderboard import service
from tempo.leaderboard.feed import feed_file
from tempo.leaderboard.schemas import FeedRequest, FeedResponse, LeaderboardPage, LeaderboardRow
from tempo.security import Authorized, resolve_data_path

router = APIRouter(tags=["leaderboard"])


def _etag(feed_id: int | None, limit: int, offset: int) -> str:
    return f'"lb-{feed_id or 0}-{limit}-{offset}"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


@router.get(
    "/leaderboard",
    response_model=LeaderboardPage,
    summary="The ranked users, most messages first",
    responses={
        304: {"description": "Not modified: the `If-None-Match` ETag is current"},
        **error_responses(422, 503),
    },
)
async def get_leaderboard(
    session: SessionDep,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000, description="Rows per page")] = 100,
    offset: Annotated[int, Query(ge=0, description="Rows to skip")] = 0,
    if_none_match: Annotated[str | None, Header()] = None,
) -> LeaderboardPage | Response:
    # One snapshot for the version and the rows, so a concurrent feed cannot mix them.
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    version = await service.current_version(session)
    etag = _etag(version.feed_id if version else None, limit, offset)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    rows = await service.page(session, limit=limit, offset=offset) if version else []
    response.headers.update(headers)
    return LeaderboardPage(
        leaderboard=[LeaderboardRow.model_validate(row, from_attributes=True) for row in rows],
        total=version.rows if version else 0,
        updated_at=version.loaded_at if version else None,
    )


@router.post(
    "/feed",
    response_model=FeedResponse,
    summary="Replace the leaderboard with a pipeline_result.csv from the data directory",
    dependencies=[Authorized],
    responses=error_responses(400, 401, 403, 404, 422, 503),
)
async def post_feed(body: FeedRequest, settings: SettingsDep, engine: EngineDep) -> FeedResponse:
    path = resolve_data_path(settings.data_dir, body.data_path)
    result = await feed_file(engine, path, source=body.data_path)
    return FeedResponse(
        feed_id=result.feed_id,
        rows=result.rows,
        seconds=round(result.seconds, 6),
        rows_per_second=round(result.rows_per_second, 1),
        source=result.source,
        loaded_at=result.loaded_at,
    )
