"""http(s):// downloads: streamed to disk with a size cap and time limits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from tempo.core.locations import SourceError, display_url

MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class DownloadLimits:
    max_bytes: int = MAX_DOWNLOAD_BYTES
    connect_seconds: float = 10.0
    read_seconds: float = 30.0  # the longest silence between two chunks
    total_seconds: float = 600.0


async def download(url: str, target: Path, limits: DownloadLimits) -> int:
    """Stream `url` into `target`; the number of bytes written, or a SourceError."""
    # Imported here: httpx (with the rich console its CLI pulls in) costs 0.14 CPU seconds
    # of start-up, which every command reading local files or s3:// objects now skips.
    import httpx

    label = display_url(url)
    timeout = httpx.Timeout(limits.read_seconds, connect=limits.connect_seconds)
    limit = f"more than the limit of {limits.max_bytes:,} bytes"
    written = 0
    try:
        async with asyncio.timeout(limits.total_seconds):
            async with (
                httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    status = 404 if response.status_code in (404, 410) else 502
                    raise SourceError(
                        label,
                        f"download failed: HTTP {response.status_code} "
                        f"{response.reason_phrase}".rstrip(),
                        status,
                    )
                refuse_non_csv(label, response.headers.get("content-type"))
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit():
                    if int(declared) > limits.max_bytes:
                        raise SourceError(
                            label, f"too large: {int(declared):,} bytes, {limit}", 413
                        )
                with target.open("wb") as handle:
                    async for chunk in response.aiter_bytes(1 << 20):
                        written += len(chunk)
                        # Content-Length may be absent or wrong: count what actually arrives.
                        if written > limits.max_bytes:
                            raise SourceError(label, f"too large: {limit}", 413)
                        handle.write(chunk)
    except TimeoutError:
        raise SourceError(
            label, f"download timed out after {limits.total_seconds:g} s in total", 504
        ) from None
    except httpx.TimeoutException as exc:
        what = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for data"
        seconds = limits.connect_seconds if what == "connecting" else limits.read_seconds
        raise SourceError(label, f"download timed out {what} (after {seconds:g} s)", 504) from None
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise SourceError(label, f"download failed: {reason}", 502) from None
    return written


# What an error page, an API or a binary file is served as; a CSV is often labelled
# text/plain or application/octet-stream, so only these are refused outright.
_NOT_CSV_TYPES = (
    "text/html",
    "application/xhtml+xml",
    "application/json",
    "application/xml",
    "text/xml",
    "application/pdf",
    "image/",
    "audio/",
    "video/",
)


def refuse_non_csv(label: str, content_type: str | None) -> None:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type and media_type.startswith(_NOT_CSV_TYPES):
        raise SourceError(label, f"not a CSV file: the server sent {media_type}", 415)
