"""GET /datamart: the raw Messages and Users tables, 25 rows at a time, as they are stored.

It reads the files a pipeline run would read, from the same place: messages.csv and
users.csv in the raw bucket when object storage is on, else in the data directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tempo.core.csv_input import CsvError
from tempo.core.deps import OptionalStorageDep, SettingsDep
from tempo.core.limits import ensure_connected, run_blocking
from tempo.core.sources import SourceError
from tempo.pipeline.pages.raw import MAX_CELL, RawPage, read_page
from tempo.pipeline.runs import MESSAGES_FILE, USERS_FILE, PipelinePlan, open_input
from tempo.site.chrome import Pages, page_problem
from tempo.site.paging import PAGE_SIZE, Pager, page_number

router = APIRouter(include_in_schema=False)
PAGES = Pages(Path(__file__).resolve().parent / "templates")

PATH = "/datamart"
MISSING = ("file_not_found", "key_not_found")


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    file: str


TABLES = {
    "messages": Table("messages", "Messages", MESSAGES_FILE),
    "users": Table("users", "Users", USERS_FILE),
}


@router.get(PATH, response_class=HTMLResponse)
async def datamart_page(
    request: Request,
    settings: SettingsDep,
    storage: OptionalStorageDep,
    table: str = "messages",
    page: str = "",
) -> HTMLResponse:
    notices: list[str] = []
    shown = TABLES.get(table.strip().lower())
    if shown is None:
        shown = TABLES["messages"]
        notices.append(f"There is no table “{table[:40]}”; showing Messages.")
    number = page_number(page)
    plan = PipelinePlan.from_settings(settings)
    location = plan.messages if shown.key == "messages" else plan.users
    label = plan.label(location)
    context: dict[str, Any] = {
        "tables": TABLES.values(),
        "shown": shown,
        "label": label,
        "notices": notices,
    }
    # Not a page number: read from the top all the same, for the count of pages to offer.
    offset = (max(number, 1) - 1) * PAGE_SIZE
    try:
        async with open_input(plan, location, storage) as source:
            await ensure_connected(request, "datamart page")
            raw: RawPage = await run_blocking(read_page, source, label, offset, PAGE_SIZE)
    except SourceError as exc:
        if exc.code in MISSING:  # nothing uploaded yet: an empty table, not an error
            empty = Pager(PATH, number, 0, params={"table": shown.key}, asked=page)
            return PAGES.render(
                "datamart.html", empty.status, missing=True, problem=None, pager=empty, **context
            )
        problem = page_problem(exc)
        return PAGES.render(
            "datamart.html",
            problem.status,
            problem.headers,
            missing=False,
            problem=problem.message,
            **context,
        )
    except CsvError as exc:
        # The file is there but cannot be read as a table: the reason is the page's content.
        return PAGES.render("datamart.html", missing=False, problem=str(exc), **context)
    pager = Pager(PATH, number, raw.total, params={"table": shown.key}, asked=page)
    return PAGES.render(
        "datamart.html",
        # A table that is not there is a missing page (404), though Messages is shown.
        404 if notices else pager.status,
        missing=False,
        problem=None,
        raw=raw,
        pager=pager,
        max_cell=MAX_CELL,
        **context,
    )
