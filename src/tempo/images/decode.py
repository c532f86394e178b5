"""Bytes to a picture, refusing early and cheaply whatever is not a PNG, JPEG or WebP image.

The type is told by the first bytes (a declared Content-Type may lie), so a GIF, BMP, SVG or
text is refused before Pillow sees it. Pillow's `Image.open` reads the header only: the
width × height is checked against IMAGE_MAX_PIXELS before a single pixel is decoded, so a
small file that inflates into gigabytes (a decompression bomb) costs next to nothing. Pillow's
own bomb limit (MAX_IMAGE_PIXELS: it warns past it and raises past twice it) stands behind
it, both refused the same way.
An animated image (APNG, animated WebP) is classified by its first frame.

Pillow is imported inside the functions: the app's start-up does not load it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tempo.images.errors import ImageError

if TYPE_CHECKING:
    from PIL.Image import Image

# Pillow's format name → the media type it is sent as.
SUPPORTED = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
MEDIA_TYPES = frozenset(SUPPORTED.values()) | {"image/jpg"}  # image/jpg: a common misspelling
SUPPORTED_WORDS = "PNG, JPEG or WebP"


@dataclass(frozen=True)
class Decoded:
    image: Image  # RGB or L, transparency flattened onto white
    format: str  # PNG, JPEG or WEBP
    width: int  # of the file, before any reduction
    height: int
    frames: int  # more than 1: animated, and only the first frame was decoded


def sniff(head: bytes) -> str | None:
    """The supported format the first bytes announce, else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def what_it_is(head: bytes) -> str:
    """A few words on an unsupported body, for its 415."""
    start = head.lstrip()[:256].lower()
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF image"
    if head.startswith(b"BM"):
        return "a BMP image"
    if start.startswith(b"<svg") or (start.startswith(b"<?xml") and b"<svg" in start):
        return "an SVG image"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "a TIFF image"
    if not head:
        return "empty"
    try:
        head[:512].decode("utf-8")
    except UnicodeDecodeError:
        return "not a PNG, JPEG or WebP image"
    return "text, not an image"


def unsupported(what: str) -> ImageError:
    return ImageError(
        415,
        "unsupported_image_type",
        f"the file is {what}; send a {SUPPORTED_WORDS} image",
        {"supported": sorted(SUPPORTED.values())},
    )


def corrupt(format: str, reason: object) -> ImageError:
    text = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason).__name__
    return ImageError(
        422,
        "corrupt_image",
        f"the {format} image cannot be decoded (corrupt or truncated): {text}",
        {"format": format},
    )


def too_many_pixels(width: int, height: int, max_pixels: int) -> ImageError:
    return ImageError(
        413,
        "too_many_pixels",
        f"the image is {width:,} × {height:,} pixels ({width * height:,}); "
        f"the limit is {max_pixels:,} (IMAGE_MAX_PIXELS)",
        {"width": width, "height": height, "max_pixels": max_pixels},
    )


def decode(data: bytes, *, max_pixels: int, color: str, at_least: tuple[int, int]) -> Decoded:
    """`data` decoded into `color` ("L" or "RGB"), or an ImageError. `at_least` is the size the
    model needs: a large JPEG is decoded straight at a reduced scale no smaller than that."""
    from PIL import Image, UnidentifiedImageError

    format = sniff(data[:16])
    if format is None:
        raise unsupported(what_it_is(data[:512]))
    try:
        image = Image.open(io.BytesIO(data), formats=[format])  # the header only
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(413, "too_many_pixels", str(exc)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise corrupt(format, exc) from None
    width, height = image.size
    if width * height > max_pixels:
        raise too_many_pixels(width, height, max_pixels)
    bomb = Image.MAX_IMAGE_PIXELS
    if bomb and width * height > bomb:
        # Past it Pillow only warns (and refuses past twice it): refused here too, without
        # touching the process's warning filters from a worker thread.
        raise ImageError(
            413,
            "too_many_pixels",
            f"the image is {width:,} × {height:,} pixels, over Pillow's decompression bomb "
            f"limit of {bomb:,}",
            {"width": width, "height": height, "max_pixels": bomb},
        )
    try:
        frames = int(getattr(image, "n_frames", 1))
        if frames > 1:
            image.seek(0)
        if format == "JPEG":
            # Decode at 1/2, 1/4 or 1/8 scale when the model needs no more: a 12 MP
            # photo for a 224 × 224 input decodes 64 times fewer pixels.
            image.draft(color, at_least)
        image.load()
        picture = _flattened(image, color)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(413, "too_many_pixels", str(exc)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise corrupt(format, exc) from None
    return Decoded(picture, format, width, height, frames)


def _flattened(image: Image, color: str) -> Image:
    """In `color`, a transparent image laid on white paper (a drawing on a transparent
    canvas is dark ink on light paper, as a scan is)."""
    from PIL import Image as PILImage

    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        paper = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = PILImage.alpha_composite(paper, rgba)
    return image if image.mode == color else image.convert(color)
