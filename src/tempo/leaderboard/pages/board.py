"""GET /board: the served ranking as a page, 25 users at a time.

It reads what GET /leaderboard serves, in one snapshot like it, so a feed arriving
meanwhile cannot mix two rankings on one page.
"""

from __future__ import annotations

import asyncpg
from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from sqlalchemy.exc import DBAPIError

from tempo.dependencies import SessionDep
from tempo.errors import DATABASE_DOWN_ERRORS
from tempo.leaderboard import service
from tempo.leaderboard.pages.paging import Pager, page_number
from tempo.leaderboard.pages.render import DATABASE_DOWN, database_problem, render

router = APIRouter(include_in_schema=False)

PATH = "/board"


@router.get(PATH, response_class=HTMLResponse)
async def board_page(session: SessionDep, page: str = "") -> HTMLResponse:
    try:
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        version = await service.current_version(session)
        pager = Pager(PATH, page_number(page), version.rows if version else 0, asked=page)
        rows = (
            await service.page(session, limit=pager.size, offset=pager.offset)
            if version and pager.exists
            else []
        )
    except (DBAPIError, asyncpg.PostgresError, *DATABASE_DOWN_ERRORS) as exc:
        problem = database_problem(exc)
        headers = {"Retry-After": "5"} if problem == DATABASE_DOWN else None
        return render("board.html", 503, headers, problem=problem)
    return render(
        "board.html",
        pager.status,
        problem=None,
        version=version,
        pager=pager,
        rows=rows,
    )
