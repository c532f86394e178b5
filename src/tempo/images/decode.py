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
import struct
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


# JPEG markers that start a frame and carry its size: SOF0-SOF15 but DHT, JPG and DAC.
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def header_size(data: bytes, format: str) -> tuple[int, int] | None:
    """Width and height as the file's header states them, read here so that every image over
    IMAGE_MAX_PIXELS is refused in the same words before Pillow parses it (Pillow refuses a
    header past twice its own bomb limit in its own words). None when the header is too
    short or malformed: Pillow then says why it cannot be decoded."""
    try:
        if format == "PNG":
            if data[12:16] == b"IHDR":
                width, height = struct.unpack_from(">II", data, 16)
                return width, height
        elif format == "WEBP":
            return _webp_size(data)
        elif format == "JPEG":
            return _jpeg_size(data)
    except struct.error:
        return None
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and data[20:21] == b"\x2f":
        (bits,) = struct.unpack_from("<I", data, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return (int.from_bytes(data[24:27], "little") + 1,
                int.from_bytes(data[27:30], "little") + 1)  # fmt: skip
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    at = 2  # past SOI
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            at += 2
            continue
        (length,) = struct.unpack_from(">H", data, at + 2)
        if marker in _JPEG_FRAMES:
            height, width = struct.unpack_from(">HH", data, at + 5)
            return width, height
        if marker == 0xDA or length < 2:  # the scan starts with no frame before it
            return None
        at += 2 + length
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
    from PIL import UnidentifiedImageError

    if isinstance(reason, UnidentifiedImageError):
        # Pillow's own words name the BytesIO object and its address.
        text = "its header cannot be read"
    else:
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
    refuse_oversized(data, format, max_pixels)
    try:
        image = Image.open(io.BytesIO(data), formats=[format])  # the header only
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(413, "too_many_pixels", str(exc)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise corrupt(format, exc) from None
    width, height = image.size
    _check_pixels(width, height, max_pixels)
    try:
        frames = int(getattr(image, "n_frames", 1))
        if frames > 1:
            image.seek(0)
        if format == "JPEG":
            # Decode at 1/2, 1/4 or 1/8 scale when the model needs no more: a 12 MP
            # photo for a 224 × 224 input decodes 64 times fewer pixels.
            image.draft(color, at_least)
        image.load()
        picture = _flattened(_upright(image), color)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(413, "too_many_pixels", str(exc)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise corrupt(format, exc) from None
    return Decoded(picture, format, width, height, frames)


def refuse_oversized(data: bytes, format: str, max_pixels: int) -> None:
    """413 `too_many_pixels` when the header states more pixels than allowed: a few µs, so
    the route does it before it waits for a classification slot."""
    stated = header_size(data, format)
    if stated is not None:
        _check_pixels(*stated, max_pixels)


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    from PIL import Image

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


# EXIF orientations (2 to 8) other than "as stored" (1).
_TURNED = range(2, 9)


def _upright(image: Image) -> Image:
    """The picture as a viewer shows it: a phone stores a portrait photo sideways with an
    EXIF orientation that says how to turn it, and the model should see what people see."""
    from PIL import ImageOps

    if image.getexif().get(0x0112, 1) in _TURNED:
        return ImageOps.exif_transpose(image)
    return image


def _flattened(image: Image, color: str) -> Image:
    """In `color`, a transparent image laid on white paper (a drawing on a transparent
    canvas is dark ink on light paper, as a scan is)."""
    from PIL import Image as PILImage

    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        paper = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = PILImage.alpha_composite(paper, rgba)
    return image if image.mode == color else image.convert(color)
