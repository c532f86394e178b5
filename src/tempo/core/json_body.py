"""A JSON request body validated straight from its bytes, for routes where every µs counts.

FastAPI decodes a body with `json.loads`, then validates the Python objects, and solves
each query and header parameter through its dependency machinery: for `POST /schedule`
that is ~110 µs of a request's ~450. pydantic-core parses and validates the raw bytes in
one pass instead. Such a route documents its body with `openapi_body(Model)` and the
application lists `Model` in `document_models`, so `/docs` shows it as for any route.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import FastAPI, Request, Response
from fastapi.dependencies.utils import get_typed_signature
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from tempo.core.errors import TempoError

Model = TypeVar("Model", bound=BaseModel)

COMPONENTS = "#/components/schemas/{model}"


async def json_body(request: Request, model: type[Model], max_bytes: int) -> Model:
    """The body as `model`, validated strictly; errors are FastAPI's own 422 (fields named
    `body.…`). A body over `max_bytes` is refused (413) before it is held in memory, whatever
    its framing."""
    refused = not_json(request.headers.get("content-type"))
    if refused is not None:
        raise refused
    return validate_json(model, await capped_body(request, max_bytes))


async def capped_body(
    request: Request, max_bytes: int, too_large: Callable[..., Exception] | None = None
) -> bytes:
    """The whole body, refused before it is held in memory past `max_bytes`: by its declared
    length before a byte is read, else at the chunk that passes it. The refusal is
    `too_large(size, max_bytes, more=…)`, by default the 413 `too_large` of any route."""
    refuse = too_large or _too_large
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise refuse(int(declared), max_bytes, more=False)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # chunked bodies declare no length: count
        size += len(chunk)
        if size > max_bytes:
            raise refuse(size, max_bytes, more=True)
        chunks.append(chunk)
    return b"".join(chunks)


def validate_json(model: type[Model], raw: bytes) -> Model:
    """`raw` as `model`, as `json_body` validates a body (e.g. a multipart request's JSON
    part): strictly, errors FastAPI's own 422."""
    try:
        # Strict: JSON says what it means, so "5" is not an integer and 0 not a boolean;
        # dates and times still come as ISO strings, as JSON has no type of its own for them.
        return model.model_validate_json(raw, strict=True)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        ) from None


def not_json(content_type: str | None) -> TempoError | None:
    """The 415 for a JSON route sent another media type; None for JSON or no type at all."""
    if content_type is None or "json" in content_type.lower():
        return None
    message = f"send the body as application/json, not {content_type}"
    return TempoError(415, "unsupported_media_type", message)


class RequestRoute(APIRoute):
    """A route whose endpoint takes the `Request` alone and returns a `Response`: FastAPI
    calls it as it is, without its request handler (solving no dependencies, probing
    telemetry, checking the return value), a fifth of a typical `POST /schedule`. Its
    errors still reach the application's handlers, and it is documented as any route."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        parameters = list(get_typed_signature(endpoint).parameters.values())
        if [p.annotation for p in parameters] != [Request] or kwargs.get("dependencies"):
            raise TypeError(f"{path}: a RequestRoute endpoint takes the Request alone")
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return handler


def _too_large(size: int, max_bytes: int, more: bool = False) -> TempoError:
    at_least = "at least " if more else ""
    return TempoError(
        413, "too_large", f"the body is {at_least}{size:,} bytes; this route takes {max_bytes:,}"
    )


def openapi_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route that reads a required `model` body with `json_body`."""
    schema = {"$ref": COMPONENTS.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def document_models(app: FastAPI, *models: type[BaseModel]) -> None:
    """Put `models` (and the models they contain) into the OpenAPI components, where the
    routes' `openapi_body` references point."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()  # FastAPI keeps this dict as app.openapi_schema
            _, definitions = models_json_schema(
                [(model, "validation") for model in models], ref_template=COMPONENTS
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in definitions.get("$defs", {}).items():
                schemas.setdefault(name, schema)
        return app.openapi_schema or document

    app.openapi = openapi  # type: ignore[method-assign]
