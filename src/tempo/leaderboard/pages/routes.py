"""GET /board: the served ranking as a page, 25 users at a time.

It reads what GET /leaderboard serves, in one snapshot like it, so a feed arriving
meanwhile cannot mix two rankings on one page.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from tempo.core.db_errors import KNOWN_FAILURES
from tempo.core.deps import SessionDep
from tempo.leaderboard import repository
from tempo.site.chrome import Pages, page_problem
from tempo.site.paging import Pager, page_number

router = APIRouter(include_in_schema=False)
PAGES = Pages(Path(__file__).resolve().parent / "templates")

PATH = "/board"


@router.get(PATH, response_class=HTMLResponse)
async def board_page(session: SessionDep, page: str = "") -> HTMLResponse:
    try:
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        version = await repository.current_version(session)
        pager = Pager(PATH, page_number(page), version.rows if version else 0, asked=page)
        rows = (
            await repository.page(session, limit=pager.size, offset=pager.offset)
            if version and pager.exists
            else []
        )
    except KNOWN_FAILURES as exc:
        problem = page_problem(exc)
        return PAGES.render("board.html", problem.status, problem.headers, problem=problem.message)
    return PAGES.render(
        "board.html",
        pager.status,
        problem=None,
        version=version,
        pager=pager,
        rows=rows,
    )
