"""POST /images/classify and GET /images/model."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from tempo.core.api_errors import error_responses
from tempo.core.deps import SettingsDep
from tempo.core.limits import run_blocking
from tempo.core.paging import WHOLE_NUMBER
from tempo.images.schemas import CLASSIFICATION_EXAMPLE, Classification, ModelInfo
from tempo.images.service import TOP_K_MAX, ModelChoice, classify, in_turn, model_info
from tempo.images.upload import read_image

router = APIRouter(tags=["images"])

_BINARY = {"type": "string", "format": "binary"}
REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "description": "One image (PNG, JPEG or WebP; an animated one is classified by its first "
    "frame), as the body or as the form field `image`; at most IMAGE_MAX_BYTES bytes and "
    "IMAGE_MAX_PIXELS pixels.",
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["image"],
                "properties": {"image": {**_BINARY, "description": "The image file"}},
            },
            "examples": {
                "form": {
                    "summary": "A file from a form (curl -F image=@samples/digit-3.png)",
                    "value": {"image": "(the bytes of digit-3.png)"},
                }
            },
        },
        **{
            media: {
                "schema": _BINARY,
                "examples": {
                    "raw": {
                        "summary": f"The file as the body (curl --data-binary @file "
                        f"-H 'Content-Type: {media}')",
                        "value": f"(the bytes of a {media.split('/')[1].upper()} file)",
                    }
                },
            }
            for media in ("image/png", "image/jpeg", "image/webp")
        },
        "application/octet-stream": {
            "schema": _BINARY,
            "examples": {
                "raw": {
                    "summary": "Bytes of an unnamed type, told by their first bytes (as is a "
                    "body without Content-Type)",
                    "value": "(the bytes of a PNG, JPEG or WebP file)",
                }
            },
        },
    },
}


@router.post(
    "/images/classify",
    response_model=Classification,
    summary="Classify one image: the top_k labels of the configured model with their scores",
    description="Decoding and inference run off the event loop, a few at once per worker; "
    "past that, `503 busy` with `Retry-After`. Refusals cost little: the type is told by "
    "the first bytes (415), the size by Content-Length or while streaming (413), the "
    "pixels by the header before decoding (413 `too_many_pixels`), a corrupt or truncated "
    "file is a 422.",
    responses={
        200: {"content": {"application/json": {"example": CLASSIFICATION_EXAMPLE}}},
        **error_responses(400, 413, 415, 422, 503),
    },
    openapi_extra={"requestBody": REQUEST_BODY},
)
async def classify_image(
    request: Request,
    settings: SettingsDep,
    top_k: Annotated[
        int,
        Field(ge=1, le=TOP_K_MAX),
        WHOLE_NUMBER,
        Query(description="How many labels to answer with"),
    ] = 3,
) -> Classification:
    data = await read_image(request, settings.image_max_bytes, settings.image_max_pixels)
    return await in_turn(settings, classify, data, top_k, request)


@router.get(
    "/images/model",
    response_model=ModelInfo,
    summary="The model POST /images/classify uses: input, normalisation, labels, accuracy",
    responses=error_responses(503),
)
async def image_model(settings: SettingsDep) -> ModelInfo:
    model = await run_blocking(ModelChoice.of(settings).load)
    return model_info(model, settings)
