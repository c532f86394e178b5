"""GET / and POST /: the "Plan your day" page; POST /plan.ics: the same form as a calendar.

The page is one HTML form and works without JavaScript: every button is a submit button
whose `action` value says what to do, and each answer re-renders the page with the values
as they were typed. Problems are shown on the page itself, never as a JSON error.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from tempo.catalog import repository as catalog
from tempo.catalog.index import CatalogIndexes
from tempo.catalog.models import Track
from tempo.core.db_errors import KNOWN_FAILURES
from tempo.core.deps import SessionDep
from tempo.schedule.ics import to_ics
from tempo.schedule.pages.forms import (
    MAX_ROWS,
    MUSIC_KINDS,
    SECTIONS,
    FormRequest,
    InvalidForm,
    PlanForm,
    Section,
    field_label,
)
from tempo.schedule.pages.view import PlanView, plan_view
from tempo.schedule.schemas import SchedulePlan
from tempo.schedule.service import InvalidSchedule, needs_catalog, plan_day
from tempo.site.chrome import SECURITY_HEADERS, Pages, page_problem

router = APIRouter(include_in_schema=False)

PAGES = Pages(Path(__file__).resolve().parent / "templates")
SEARCH_PAGE_SIZE = 10
MAX_QUERY = 200  # as GET /tracks; every word of a query is one more LIKE for the database
CALENDAR_PROBLEM = "\x00calendar-problem"  # not a name a form field can have
ADD_ROW_ACTIONS: dict[str, Section] = {
    "add-appointment": "appointments",
    "add-todo": "todos",
    "add-song": "music",
}
# The database's errors, as the planner words them: it only needs the catalog.
CATALOG_WORDING = {
    "database_unavailable": "The music catalog cannot be reached right now; try again shortly.",
    "statement_timeout": (
        "The music catalog took too long to answer (the server is busy); try again shortly, "
        "or look up fewer songs at once."
    ),
    "schema_missing": "The music catalog is not set up: run `tempo migrate`.",
}


@dataclass(frozen=True)
class SearchResult:
    track_id: str
    title: str
    artist: str
    # The catalog holds many tracks of one title and artist (single, album, remaster,
    # compilation): the album and the year of its release are what tell them apart.
    album: str
    year: str
    genres: str
    length: str

    @property
    def release(self) -> str:
        """'The Kids Are Coming, 2019': the album and year, as far as they are known."""
        return ", ".join(part for part in (self.album, self.year) if part)


@dataclass
class Page:
    form: PlanForm
    errors: dict[str, str] = field(default_factory=dict)
    notice: str | None = None
    added: str | None = None  # the song just added from the search results
    plan: PlanView | None = None
    results: list[SearchResult] | None = None
    total: int = 0
    status: int = 200


# The one script of the page: an empty time zone field takes the browser's zone. Without
# JavaScript the field stays empty, and the calendar's own zone (else UTC) is used. The
# page's Content-Security-Policy allows this script alone, by its hash.
TIMEZONE_SCRIPT = (
    "var z=document.getElementById('timezone');"
    "if(z&&!z.value&&window.Intl){z.value=Intl.DateTimeFormat().resolvedOptions().timeZone||''}"
)
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(TIMEZONE_SCRIPT.encode()).digest()).decode()
PAGE_HEADERS = {
    "Content-Security-Policy": SECURITY_HEADERS["Content-Security-Policy"]
    + f"; script-src 'sha256-{_SCRIPT_HASH}'"
}


def render(page: Page) -> HTMLResponse:
    return PAGES.render(
        "page.html",
        page.status,
        PAGE_HEADERS,
        timezone_script=Markup(TIMEZONE_SCRIPT),
        page=page,
        form=page.form,
        errors=page.errors,
        summary=[(name, field_label(name), message) for name, message in page.errors.items()],
        sections=SECTIONS,
        music_kinds=MUSIC_KINDS,
    )


@router.get("/", response_class=HTMLResponse)
async def show_page() -> HTMLResponse:
    return render(Page(PlanForm.blank(dt.date.today())))


@router.post("/", response_class=HTMLResponse)
async def submit_page(request: Request, session: SessionDep) -> HTMLResponse:
    try:
        data = await _form_data(request)
    except HTTPException as exc:  # the body passed the route's limit (tempo.core.admission)
        return _refused(exc)
    page = Page(PlanForm.parse(data))
    action = data.get("action", "")
    if CALENDAR_PROBLEM in data:
        page.errors, page.status = {"calendar_file": data[CALENDAR_PROBLEM]}, 422
        return render(page)
    if "add_track" in data:
        action = "add-track"
    elif action == "default":
        # Enter in a text box submits with the form's first button, which says "default":
        # in a search box holding a new query that means search, anywhere else plan.
        changed = page.form.q.strip() and page.form.q.strip() != page.form.searched
        action = "search" if changed else "plan"

    if action == "forget-calendar":
        page.form.calendar = page.form.calendar_name = ""
    elif action in ADD_ROW_ACTIONS:
        section = ADD_ROW_ACTIONS[action]
        if not page.form.add_row(section):
            page.notice = f"That is the most rows the page holds ({MAX_ROWS})."
    elif action == "search":
        page.form.searched = page.form.q.strip()
        await _guard(page, _search(page, session))
    elif action == "add-track":
        await _guard(page, _add_track(page, session, data["add_track"].strip()))
    elif action == "plan":
        await _plan(page, session, request.state.catalog_index)
    return render(page)


@router.post("/plan.ics", response_model=None)
async def download_ics(request: Request, session: SessionDep) -> Response:
    try:
        data = await _form_data(request)
    except HTTPException as exc:
        return _refused(exc)
    page = Page(PlanForm.parse(data))
    if CALENDAR_PROBLEM in data:
        page.errors, page.status = {"calendar_file": data[CALENDAR_PROBLEM]}, 422
        return render(page)
    result = await _plan(page, session, request.state.catalog_index)
    if result is None:
        return render(page)
    plan, built = result
    day = built.request.date or dt.date.today()
    return Response(
        to_ics(plan, day),
        media_type="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="tempo-{day}.ics"'},
    )


def _refused(exc: HTTPException) -> HTMLResponse:
    """A form over the size limit: the blank page with the reason, under the refusal's status
    (a browser shows a page, not the API's JSON)."""
    page = Page(PlanForm.blank(dt.date.today()))
    detail = str(exc.detail)
    page.notice, page.status = f"{detail[:1].upper()}{detail[1:]}.", exc.status_code
    return render(page)


async def _form_data(request: Request) -> dict[str, str]:
    """The submitted fields. A calendar file chosen in `calendar_file` replaces the one the
    page holds (`calendar`, `calendar_name`); a file that cannot be one is named under
    CALENDAR_PROBLEM. Any other file is ignored."""
    form = await request.form()
    data = {key: value for key, value in form.items() if isinstance(value, str)}
    upload = form.get("calendar_file")
    if isinstance(upload, UploadFile) and upload.filename:
        content = await upload.read()
        media = (upload.content_type or "").split(";")[0].strip().lower()
        looks_like = content.lstrip(b"\xef\xbb\xbf \r\n").upper().startswith(b"BEGIN:VCALENDAR")
        if media not in ("text/calendar", "application/octet-stream", "") or not looks_like:
            data[CALENDAR_PROBLEM] = (
                f"{upload.filename} is not an iCalendar file: choose an .ics file exported "
                "from your calendar app"
            )
            return data
        try:
            data["calendar"] = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            data[CALENDAR_PROBLEM] = f"{upload.filename} is not UTF-8 text"
            return data
        data["calendar_name"] = upload.filename[:200]
    return data


async def _plan(
    page: Page, session: AsyncSession, index: CatalogIndexes
) -> tuple[SchedulePlan, FormRequest] | None:
    """Plans the form's day onto `page`; the plan, or None with the problems on `page`."""
    try:
        built = page.form.to_request()
    except InvalidForm as invalid:
        page.errors, page.status = invalid.errors, 422
        return None
    # Only catalog look-ups touch the database; a day of inline songs plans without it.
    catalog_session = session if needs_catalog(built.request) else None
    try:
        plan = await plan_day(built.request, catalog_session, index)
    except InvalidSchedule as invalid:
        page.errors, page.status = built.errors_from(invalid, page.form), 422
        return None
    except KNOWN_FAILURES as exc:
        _catalog_failed(page, exc)
        return None
    page.plan = plan_view(plan, built)
    return plan, built


async def _search(page: Page, session: AsyncSession) -> None:
    q = page.form.searched
    problem = (
        "Enter a title or an artist to search for"
        if not q
        else f"Search for at most {MAX_QUERY} characters"
        if len(q) > MAX_QUERY
        else None
    )
    if problem is not None:
        page.errors, page.status = {"q": problem}, 422
        return
    await _snapshot(session)
    tracks, page.total = await catalog.search(session, q, None, SEARCH_PAGE_SIZE, 0)
    page.results = [_result(track) for track in tracks]


def _result(track: Track | catalog.TrackInfo) -> SearchResult:
    return SearchResult(
        track_id=track.track_id,
        title=track.name or track.track_id,
        artist=track.artist or "",
        album=track.album_name or "",
        year=str(track.release_date.year) if track.release_date else "",
        genres=", ".join(track.genres),
        length=_song_length(track.duration_ms),
    )


async def _snapshot(session: AsyncSession) -> None:
    """One snapshot for the search's count and page, so a concurrent load cannot mix them;
    set before the session's first query, which starts its transaction."""
    if not session.in_transaction():
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


async def _add_track(page: Page, session: AsyncSession, track_id: str) -> None:
    await _snapshot(session)
    found = await catalog.tracks_by_id(session, [track_id])
    track = found.get(track_id)
    if track is None:
        page.notice = "That track is no longer in the catalog."
    else:
        # Which of several same-named tracks was picked: its album and year say so.
        picked = _result(track)
        where = f"{picked.release}; " if picked.release else ""
        label = f"{picked.title} — {track.artist or 'unknown artist'} ({where}{picked.length})"
        row = page.form.add_track(track_id, label)
        if row is None:
            page.notice = f"That is the most songs the page holds ({MAX_ROWS})."
        else:
            release = f" ({picked.release})" if picked.release else ""
            page.added = f"Added {picked.title}{release} as song {row + 1}."
    if page.form.searched:
        # Keep the results up, so that several songs can be picked one after another.
        page.form.q = page.form.searched
        await _search(page, session)


async def _guard(page: Page, work: Awaitable[None]) -> None:
    """Runs a catalog step; a database that is down or unmigrated becomes a notice."""
    try:
        await work
    except KNOWN_FAILURES as exc:
        _catalog_failed(page, exc)


def _catalog_failed(page: Page, exc: BaseException) -> None:
    problem = page_problem(exc, CATALOG_WORDING)
    page.notice, page.status = problem.message, problem.status


def _song_length(duration_ms: int) -> str:
    minutes, seconds = divmod(round(duration_ms / 1000), 60)
    return f"{minutes}:{seconds:02d}"
