"""The chrome every server-rendered page shares: security headers, the stylesheet, one
way to render a template, and what a page says when a TempoError or the database failed it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import jinja2
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from tempo.core.db_errors import database_error
from tempo.core.errors import TempoError
from tempo.core.logs import get_logger
from tempo.site import templating

log = get_logger(__name__)

STYLESHEET = Path(__file__).resolve().parent / "static" / "tempo.css"
DATABASE_DOWN = "The database cannot be reached right now; try again shortly."
# How a page words the database's errors, by code, unless the page words them itself; any
# other TempoError's message is shown as it is.
WORDING = {
    "database_unavailable": DATABASE_DOWN,
    "statement_timeout": DATABASE_DOWN,
    "schema_missing": "The database is not set up yet: run `tempo migrate`.",
    "database_busy": "The database is busy right now; try again shortly.",
}
# No script runs on any page; inline style attributes position the day view.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Pages echo what was typed; nothing of it belongs in a shared cache.
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)


@cache
def _stylesheet() -> tuple[bytes, str]:
    css = STYLESHEET.read_bytes()
    return css, hashlib.sha256(css).hexdigest()[:12]


def stylesheet_href() -> str:
    """The stylesheet's URL with its content hash, so it may be cached for good (any page)."""
    return f"/assets/tempo.css?v={_stylesheet()[1]}"


@router.get("/assets/tempo.css")
async def stylesheet() -> Response:
    css, _ = _stylesheet()
    # Pages link it with its content hash in the query, so it may be cached for good.
    return Response(
        css,
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


class Pages:
    """A domain's page templates (its own folder, then the site's), rendered with the chrome."""

    def __init__(self, folder: Path, **filters: Any) -> None:
        self._folder = folder
        self._filters = filters

    @cached_property
    def environment(self) -> jinja2.Environment:
        return templating.environment(self._folder, **self._filters)

    def render(
        self,
        template: str,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        html = self.environment.get_template(template).render(
            stylesheet=stylesheet_href(), **context
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS | (headers or {}))


@dataclass(frozen=True)
class Problem:
    """What a page shows for a failure, and answers with."""

    status: int
    message: str
    headers: dict[str, str] | None


def page_problem(exc: BaseException, wording: Mapping[str, str] | None = None) -> Problem:
    """A TempoError, or a failing database, as a page's notice: `wording` by code, then the
    site's, then the error's own message. Anything else is raised again."""
    error = exc if isinstance(exc, TempoError) else database_error(exc)
    if error is None:
        raise exc
    error.log_to(log)
    message = (wording or {}).get(error.code) or WORDING.get(error.code) or error.message
    return Problem(error.status, message, error.headers)
