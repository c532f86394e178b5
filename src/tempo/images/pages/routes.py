"""GET and POST /classify: an image through a form, then the model's top classes as bars.

Server-rendered like the other pages, without script: the form posts the file, the answer
is the same page with the image (as a data: URL, which the pages' policy allows) and its
scores. It classifies with the code behind POST /images/classify, under the same limits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from tempo.core.api_errors import CLIENT_CLOSED_REQUEST
from tempo.core.deps import SettingsDep
from tempo.core.errors import TempoError
from tempo.core.limits import run_blocking
from tempo.core.settings import Settings
from tempo.images.service import (
    TOP_K_MAX,
    ModelChoice,
    classify_with_preview,
    in_turn,
    model_info,
)
from tempo.images.upload import read_image
from tempo.site.chrome import Pages, page_problem

router = APIRouter(include_in_schema=False)
PAGES = Pages(Path(__file__).resolve().parent / "templates")
PATH = "/classify"
TOP_K_CHOICES = (1, 3, 5, TOP_K_MAX)
DEFAULT_TOP_K = 5
# Codes whose API wording does not fit a form.
PAGE_WORDING = {
    "no_image": "Choose an image file (PNG, JPEG or WebP) to classify.",
    "unsupported_media_type": "The form could not be read; choose an image and try again.",
}


async def _page(settings: Settings, status: int = 200, **given: Any) -> HTMLResponse:
    context: dict[str, Any] = {
        "model": None,
        "model_problem": None,
        "answer": None,
        "problem": None,
        "top_k": DEFAULT_TOP_K,
        "top_k_choices": TOP_K_CHOICES,
        "max_bytes": settings.image_max_bytes,
        "max_pixels": settings.image_max_pixels,
        "filename": None,
    } | given
    headers = None
    try:
        model = await run_blocking(ModelChoice.of(settings).load)
        context["model"] = model_info(model, settings)
    except TempoError as exc:
        problem = page_problem(exc)
        context["model_problem"] = problem.message
        status, headers = problem.status, problem.headers
    return PAGES.render("classify.html", status, headers, **context)


@router.get(PATH, response_class=HTMLResponse)
async def classify_form(settings: SettingsDep) -> HTMLResponse:
    return await _page(settings)


def _top_k(given: str) -> int:
    return int(given) if given.isdigit() and 1 <= int(given) <= TOP_K_MAX else DEFAULT_TOP_K


@router.post(PATH, response_class=HTMLResponse)
async def classify_upload(request: Request, settings: SettingsDep) -> HTMLResponse:
    fields: dict[str, str] = {}
    top_k = DEFAULT_TOP_K
    try:
        data = await read_image(
            request, settings.image_max_bytes, settings.image_max_pixels, fields
        )
        top_k = _top_k(fields.get("top_k", ""))
        answer = await in_turn(settings, classify_with_preview, data, top_k)
    except TempoError as exc:
        problem = page_problem(exc, PAGE_WORDING)
        return await _page(settings, problem.status, problem=problem.message, top_k=top_k)
    except HTTPException as exc:  # the body passed the route's limit (tempo.core.admission)
        return await _page(settings, exc.status_code, problem=str(exc.detail), top_k=top_k)
    except ClientDisconnect:
        message = "The upload was cut off before it was complete; try again."
        return await _page(settings, CLIENT_CLOSED_REQUEST, problem=message, top_k=top_k)
    return await _page(settings, answer=answer, top_k=top_k)
