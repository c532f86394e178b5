from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from pydantic import Field

from tempo.core.deps import SessionDep
from tempo.core.errors import (
    error_responses,
)
from tempo.core.paging import WHOLE_NUMBER, Offset
from tempo.leaderboard import repository
from tempo.leaderboard.schemas import (
    LeaderboardPage,
    LeaderboardRow,
)

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
    limit: Annotated[
        int, Field(ge=1, le=1000), WHOLE_NUMBER, Query(description="Rows per page")
    ] = 100,
    offset: Annotated[Offset, Query(description="Rows to skip")] = 0,
    if_none_match: Annotated[str | None, Header()] = None,
) -> LeaderboardPage | Response:
    # One snapshot for the version and the rows, so a concurrent feed cannot mix them.
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    version = await repository.current_version(session)
    etag = _etag(version.feed_id if version else None, limit, offset)
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    rows = await repository.page(session, limit=limit, offset=offset) if version else []
    response.headers.update(headers)
    return LeaderboardPage(
        leaderboard=[LeaderboardRow.model_validate(row, from_attributes=True) for row in rows],
        total=version.rows if version else 0,
        updated_at=version.loaded_at if version else None,
    )
