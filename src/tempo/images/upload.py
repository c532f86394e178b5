"""An image out of a request: a raw body (Content-Type image/png, image/jpeg or image/webp,
application/octet-stream or none: its type is told by its bytes anyway) or the `image` field
of a multipart/form-data form; at most IMAGE_MAX_BYTES either way.

A declared Content-Length over the cap is refused before a byte is read (here, and for
the whole body, the multipart's framing allowed, by tempo.core.admission); a body without
one is counted as it arrives and refused at the chunk that passes the cap, as an
`image_too_large` whichever of the two saw it first. The type is checked by the first bytes
before anything is decoded.
"""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import UploadFile

from tempo.core.admission import BodyTooLarge
from tempo.core.json_body import capped_body
from tempo.images.decode import (
    MEDIA_TYPES,
    SUPPORTED_WORDS,
    refuse_oversized,
    sniff,
    unsupported,
    what_it_is,
)
from tempo.images.errors import ImageError

FIELD = "image"
FORM = "multipart/form-data"
# Taken as a raw body too, its type told by its bytes: what clients send when they say
# nothing more precise (no Content-Type at all is read the same way).
GENERIC = "application/octet-stream"
# Boundaries and part headers around the image, allowed on top of IMAGE_MAX_BYTES.
MULTIPART_OVERHEAD = 16 * 1024


def body_limit(max_bytes: int) -> int:
    """The most a classification request's body may hold (tempo.core.admission)."""
    return max_bytes + MULTIPART_OVERHEAD


def too_large(size: int, max_bytes: int, *, more: bool, framing: bool = False) -> ImageError:
    at_least = "at least " if more else ""
    what = "the form" if framing else "the image"
    allowed = f" plus {MULTIPART_OVERHEAD // 1024} KiB for a form's framing" if framing else ""
    return ImageError(
        413,
        "image_too_large",
        f"{what} is {at_least}{size:,} bytes; the limit is {max_bytes:,} (IMAGE_MAX_BYTES)"
        f"{allowed}",
        {"max_bytes": max_bytes},
    )


def no_image() -> ImageError:
    return ImageError(
        422,
        "no_image",
        f"no image: send one as multipart/form-data in the field `{FIELD}`, or as the body "
        f"with Content-Type image/png, image/jpeg or image/webp",
    )


async def read_image(
    request: Request, max_bytes: int, max_pixels: int, fields: dict[str, str] | None = None
) -> bytes:
    """The image's bytes, of a supported type by their first bytes and within `max_pixels`
    by its header; ImageError otherwise. A form's text fields go into `fields`, if given
    (the page's choice of top_k)."""
    content_type = request.headers.get("content-type") or ""
    media = content_type.split(";", 1)[0].strip().lower()
    try:
        if media == FORM:
            data = await _form_image(request, max_bytes, fields)
        elif media in MEDIA_TYPES or media in ("", GENERIC):
            data = await capped_body(request, max_bytes, too_large)
        else:
            raise _unsupported_media(media)
    except BodyTooLarge as exc:
        # The whole body passed the route's cap (tempo.core.admission): said as the image's.
        raise too_large(exc.size, max_bytes, more=exc.more, framing=media == FORM) from None
    if not data:
        raise no_image()
    format = sniff(data[:16])
    if format is None:
        raise unsupported(what_it_is(data[:512]))
    refuse_oversized(data, format, max_pixels)  # before a classification slot is taken
    return data


def _unsupported_media(media: str) -> ImageError:
    return ImageError(
        415,
        "unsupported_media_type",
        f"{media} is not taken; send a {SUPPORTED_WORDS} image as the body (Content-Type "
        f"image/png, image/jpeg or image/webp, or none) or in a {FORM} field `{FIELD}`",
        {"content_type": media[:100]},
    )


async def _form_image(request: Request, max_bytes: int, fields: dict[str, str] | None) -> bytes:
    # Starlette spools the file part to a temporary file past 1 MiB; the whole body is
    # capped by tempo.core.admission at IMAGE_MAX_BYTES plus the form's framing.
    form = await request.form(max_files=1, max_fields=8)
    try:
        if fields is not None:
            fields.update((k, v) for k, v in form.multi_items() if isinstance(v, str))
        upload = form.get(FIELD)
        if isinstance(upload, str):
            # A part without a filename is a text field to the form parser: its bytes are
            # gone (decoded as text, at most 1 MiB), so say what to change.
            raise ImageError(
                422,
                "no_image",
                f"the field `{FIELD}` is a text field, not a file: send the image as a file "
                f'part (Content-Disposition: form-data; name="{FIELD}"; filename="…")',
            )
        if not isinstance(upload, UploadFile):
            raise no_image()
        data = await upload.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise too_large(len(data), max_bytes, more=True)
        return data
    finally:
        await form.close()
