"""Where data lives: a local path, an http(s):// URL, or an s3:// object on any S3-compatible store.

A download is streamed to disk with a size cap and time limits, so a slow, huge or missing
remote file ends in a clear SourceError instead of a hung process or a full disk; what is
read afterwards is a local file, with the same checks as any other.

An s3:// object is not downloaded: Polars scans it natively (`storage_options`), on the
same streaming engine as a local file. obstore answers the questions Polars cannot answer
precisely (is it the bucket or the key that is missing?) and writes objects in one PUT, so
a reader sees the previous object or the complete new one. Every failure becomes a
SourceError carrying the HTTP status and error code a route answers with.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from tempo.core.locations import (
    S3Location,
    SourceError,
    bucket_name_problem,
    check_bucket_name,
    check_key,
    display_url,
    is_s3_url,
    is_url,
    parse_s3_url,
    s3_location,
)
from tempo.core.sources.http import MAX_DOWNLOAD_BYTES, DownloadLimits, download, refuse_non_csv
from tempo.core.sources.local import local_file
from tempo.core.sources.s3 import (
    ObjectFile,
    ObjectStorage,
    StorageLimits,
    storage_errors,
    translate_storage_error,
)

__all__ = [
    "MAX_DOWNLOAD_BYTES",
    "DownloadLimits",
    "ObjectFile",
    "ObjectStorage",
    "S3Location",
    "SourceError",
    "StorageLimits",
    "bucket_name_problem",
    "check_bucket_name",
    "check_key",
    "display_url",
    "download",
    "is_s3_url",
    "is_url",
    "local_file",
    "open_csv",
    "parse_s3_url",
    "read_errors",
    "refuse_non_csv",
    "s3_location",
    "storage_errors",
    "translate_storage_error",
]


@contextmanager
def read_errors(source: Path | ObjectFile) -> Iterator[None]:
    """While reading `source`: object-store failures become SourceErrors; a local file's
    problems are the CSV readers' to report."""
    if isinstance(source, ObjectFile):
        with storage_errors(source.location):
            yield
    else:
        yield


# --- one entry point for "read this CSV, wherever it is" ----------------------------------


@asynccontextmanager
async def open_csv(
    location: str | Path,
    *,
    storage: ObjectStorage | None = None,
    limits: DownloadLimits | None = None,
) -> AsyncIterator[Path | ObjectFile]:
    """A CSV input for the readers in tempo.core.csv_input: a local path as given, an http(s)://
    download in a temporary file, or an s3:// object (checked to exist, read natively)."""
    if is_s3_url(location):
        target = parse_s3_url(location)
        if storage is None:
            raise ObjectStorage.not_configured(target.url)
        yield await storage.require_object(target)
        return
    async with local_file(location, limits=limits) as path:
        yield path
