"""GET /upload and POST /upload: messages.csv and users.csv through a form, then a run.

The form posts to the same upload code as POST /uploads, so the files are streamed, capped
at MAX_UPLOAD_BYTES and checked by the aggregation's readers before either replaces the
stored one; the run afterwards is the one POST /uploads starts. Only the answers differ:
a page that says what was stored and how the run went, or what was wrong and that nothing
was replaced.

CSRF: the API token is typed into the form on every upload and is never kept in a cookie
or session, so a form on another site cannot post an upload: it does not know the token.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from tempo.core.api_errors import CLIENT_CLOSED_REQUEST
from tempo.core.csv_input import CsvError
from tempo.core.db_errors import KNOWN_FAILURES
from tempo.core.deps import EngineDep, OptionalStorageDep, SettingsDep
from tempo.core.errors import RETRY_AFTER_SECONDS, TempoError
from tempo.core.security import TokenGuard, client_address
from tempo.core.settings import Settings
from tempo.core.sources import SourceError
from tempo.pipeline.runs import MESSAGES_FILE, USERS_FILE, PipelinePlan
from tempo.pipeline.uploads import FormFields, run_after_upload, store_uploads
from tempo.site.chrome import Pages, page_problem

router = APIRouter(include_in_schema=False)
PAGES = Pages(Path(__file__).resolve().parent / "templates")

PATH = "/upload"
TOKEN_FIELD = "token"
# Codes whose API wording ("send … as multipart/form-data") does not fit a form.
PAGE_WORDING = {
    "no_files": "Choose messages.csv, users.csv or both to upload.",
    "incomplete_upload": "The upload was cut off before it was complete; try again.",
}


def _token_check(guard: TokenGuard, client: str | None) -> Callable[[Mapping[str, str]], None]:
    """Runs before the first file is written (the field comes first in the form). Wrong
    tokens count against the client's limit, as on the API (tempo.core.security.TokenGuard)."""

    def check(fields: Mapping[str, str]) -> None:
        given = fields.get(TOKEN_FIELD, "")
        if not given:
            raise TempoError(401, "unauthorized", "Enter the API token to upload files.")
        try:
            guard.check(client, given)
        except TempoError as exc:
            if exc.status == 403:
                raise TempoError(401, "unauthorized", "That API token is not valid.") from None
            raise

    return check


def _page(
    settings: Settings,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **given: Any,
) -> HTMLResponse:
    plan = PipelinePlan.from_settings(settings)
    context = {
        "destinations": [
            (MESSAGES_FILE, plan.label(plan.messages)),
            (USERS_FILE, plan.label(plan.users)),
        ],
        "max_bytes": settings.max_upload_bytes,
        "run_on_upload": settings.run_on_upload,
        "problem": None,
        "csv_problem": None,
        "nothing_replaced": False,
        "stored": None,
        "run": None,
        "run_problem": None,
    } | given
    extra = dict(headers or {})
    if status == 401:
        extra["WWW-Authenticate"] = "Bearer"
    if status == 503:
        extra.setdefault("Retry-After", RETRY_AFTER_SECONDS)  # as the API's 503
    return PAGES.render("upload.html", status, extra or None, **context)


@router.get(PATH, response_class=HTMLResponse)
async def upload_form(settings: SettingsDep) -> HTMLResponse:
    return _page(settings)


@router.post(PATH, response_class=HTMLResponse)
async def upload_files(
    request: Request, settings: SettingsDep, engine: EngineDep, storage: OptionalStorageDep
) -> HTMLResponse:
    plan = PipelinePlan.from_settings(settings)
    guard: TokenGuard = request.state.token_guard
    form = FormFields(frozenset({TOKEN_FIELD}), _token_check(guard, client_address(request.scope)))
    try:
        stored = await store_uploads(
            request.headers.get("content-type"),
            request.headers.get("content-length"),
            request.stream(),
            plan=plan,
            storage=storage,
            max_bytes=settings.max_upload_bytes,
            form=form,
        )
    except CsvError as exc:
        return _page(settings, 422, csv_problem=exc.problem, nothing_replaced=True)
    except TempoError as exc:
        problem = page_problem(exc, PAGE_WORDING)
        # Refused requests and files are refused before anything is replaced, but storage
        # may fail on the second file, after the first one was stored.
        return _page(
            settings,
            problem.status,
            problem.headers,
            problem=problem.message,
            nothing_replaced=not isinstance(exc, SourceError),
        )
    except HTTPException as exc:  # the body passed the route's limit (tempo.core.admission)
        return _page(settings, exc.status_code, problem=exc.detail, nothing_replaced=True)
    except ClientDisconnect:
        message = PAGE_WORDING["incomplete_upload"]
        return _page(settings, CLIENT_CLOSED_REQUEST, problem=message, nothing_replaced=True)
    if not settings.run_on_upload:
        return _page(settings, stored=stored)
    try:
        # The engine, not a session: the run takes the pipeline lock and feeds by COPY on
        # connections of its own (as POST /pipeline/run).
        run = await run_after_upload(engine, plan, storage)
    except KNOWN_FAILURES as exc:
        # The files are stored; only the run could not happen (no database, another job).
        problem = page_problem(exc)
        return _page(
            settings, problem.status, problem.headers, stored=stored, run_problem=problem.message
        )
    return _page(settings, stored=stored, run=run)
