from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from tempo.core.api_errors import error_responses
from tempo.core.conditional import IfNoneMatch, entity_tag, not_modified
from tempo.core.deps import SessionDep
from tempo.core.paging import Paging, paging
from tempo.leaderboard import repository
from tempo.leaderboard.schemas import (
    LeaderboardPage,
    LeaderboardRow,
)

router = APIRouter(tags=["leaderboard"])


def _etag(feed_id: int | None, page: Paging) -> str:
    return entity_tag(f"lb-{feed_id or 0}-{page.limit}-{page.offset}")


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
    page: Annotated[Paging, Depends(paging(default=100, maximum=1000))],
    if_none_match: IfNoneMatch,
) -> LeaderboardPage | Response:
    # One snapshot for the version and the rows, so a concurrent feed cannot mix them.
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    version = await repository.current_version(session)
    headers = {
        "ETag": _etag(version.feed_id if version else None, page),
        "Cache-Control": "no-cache",
    }
    if (unchanged := not_modified(if_none_match, headers)) is not None:
        return unchanged
    rows = await repository.page(session, limit=page.limit, offset=page.offset) if version else []
    response.headers.update(headers)
    return LeaderboardPage(
        rows=[LeaderboardRow.model_validate(row, from_attributes=True) for row in rows],
        total=version.rows if version else 0,
        updated_at=version.loaded_at if version else None,
    )
