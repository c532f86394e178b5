"""Rendering shared by the leaderboard's pages: templates, number formats, database trouble."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi.responses import HTMLResponse

from tempo.errors import is_database_unavailable, is_schema_missing
from tempo.logs import get_logger
from tempo.web import templating
from tempo.web.routes import SECURITY_HEADERS, stylesheet_href

log = get_logger(__name__)

HERE = Path(__file__).resolve().parent
DATABASE_DOWN = "The database cannot be reached right now; try again shortly."
SCHEMA_MISSING = "The database is not set up yet: run `tempo migrate`."


def _count(value: int) -> str:
    return f"{value:,}"


def _size(value: int) -> str:
    """Bytes in binary units, as MAX_UPLOAD_BYTES is set (100 MiB is 104857600)."""
    if value < 1024:
        return f"{value:,} bytes"
    amount = value / 1024
    for unit in ("KiB", "MiB"):
        if amount < 1024:
            return f"{amount:.1f}".removesuffix(".0") + f" {unit}"
        amount /= 1024
    return f"{amount:.1f}".removesuffix(".0") + " GiB"


def _moment(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@cache
def _templates() -> jinja2.Environment:
    return templating.environment(HERE / "templates", count=_count, size=_size, moment=_moment)


def render(
    template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    html = _templates().get_template(template).render(stylesheet=stylesheet_href(), **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS | (headers or {}))


def database_problem(exc: BaseException) -> str:
    """What a page says when the database failed it; anything else is raised again."""
    if is_schema_missing(exc):
        return SCHEMA_MISSING
    if is_database_unavailable(exc):
        log.warning("database_unavailable", error=type(exc).__name__, detail=str(exc))
        return DATABASE_DOWN
    raise exc
