"""A local path for any location: the path itself, or a downloaded copy of an http(s) URL."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from tempo.core.locations import SourceError, display_url, is_url
from tempo.core.sources.http import DownloadLimits, download


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
