"""Where an input file comes from: a local path, or an http(s):// URL fetched to a temporary file.

A download is streamed to disk with a size cap and time limits, so a slow, huge or missing
remote file ends in a clear SourceError instead of a hung process or a full disk; what is
read afterwards is always a local file, with the same checks as any other.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard
from urllib.parse import urlsplit, urlunsplit

import httpx

MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class DownloadLimits:
    max_bytes: int = MAX_DOWNLOAD_BYTES
    connect_seconds: float = 10.0
    read_seconds: float = 30.0  # the longest silence between two chunks
    total_seconds: float = 600.0


class SourceError(Exception):
    """An input that could not be fetched; `status_code` is the HTTP status a route would use."""

    def __init__(self, source: str, message: str, status_code: int) -> None:
        self.source = source
        self.message = message
        self.status_code = status_code
        super().__init__(f"{source}: {message}")


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_url(value: str | Path) -> TypeGuard[str]:
    return isinstance(value, str) and _SCHEME.match(value) is not None


def display_url(url: str) -> str:
    """The URL without credentials or query string, which may hold secrets (signed URLs)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@asynccontextmanager
async def local_file(
    path_or_url: str | Path,
    *,
    limits: DownloadLimits | None = None,
    progress: Callable[[str], None] | None = None,
) -> AsyncIterator[Path]:
    """A local path to read `path_or_url` from; a downloaded copy is deleted afterwards."""
    if not is_url(path_or_url):
        yield Path(path_or_url)
        return
    url = str(path_or_url)
    scheme = url.split("://", 1)[0].lower()
    label = display_url(url)
    if scheme not in ("http", "https"):
        raise SourceError(
            label, f"unsupported source {scheme}://; give a local path or an http(s):// URL", 400
        )
    with tempfile.TemporaryDirectory(prefix="tempo-download-") as folder:
        target = Path(folder) / (Path(urlsplit(url).path).name or "download")
        if progress is not None:
            progress(f"downloading {label}")
        await download(url, target, limits or DownloadLimits())
        yield target


async def download(url: str, target: Path, limits: DownloadLimits) -> int:
    """Stream `url` into `target`; the number of bytes written, or a SourceError."""
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
