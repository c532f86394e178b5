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

import asyncio
import io
import ipaddress
import re
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeGuard
from urllib.parse import urlsplit, urlunsplit

import httpx
import obstore
from obstore.exceptions import BaseError as ObjectStoreError
from obstore.exceptions import PermissionDeniedError, UnauthenticatedError
from obstore.store import S3Store

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from obstore import ReadableFile
    from obstore.store import ClientConfig, RetryConfig, S3Config

    from tempo.settings import Settings

MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class DownloadLimits:
    max_bytes: int = MAX_DOWNLOAD_BYTES
    connect_seconds: float = 10.0
    read_seconds: float = 30.0  # the longest silence between two chunks
    total_seconds: float = 600.0


_DEFAULT_CODES = {
    400: "invalid_source",
    404: "source_not_found",
    413: "too_large",
    415: "not_csv",
    502: "download_failed",
    503: "object_storage_unavailable",
    504: "download_timeout",
}


class SourceError(Exception):
    """Data that could not be fetched or stored; `status_code` and `code` are what a route
    answers with."""

    def __init__(
        self, source: str, message: str, status_code: int, *, code: str | None = None
    ) -> None:
        self.source = source
        self.message = message
        self.status_code = status_code
        self.code = code or _DEFAULT_CODES.get(status_code, "source_error")
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


# --- s3:// objects -------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def __str__(self) -> str:
        return self.url


def is_s3_url(value: str | Path) -> TypeGuard[str]:
    return isinstance(value, str) and value[:5].lower() == "s3://"


# S3 bucket naming rules (general purpose buckets), checked before any request is made:
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problem(name: str) -> str | None:
    """Why `name` cannot be an S3 bucket name, or None if it can."""
    if not 3 <= len(name) <= 63:
        return f"must be 3 to 63 characters long, not {len(name)}"
    if not _BUCKET_CHARS.match(name):
        return (
            "may hold only lowercase letters, digits, dots and hyphens, and must begin and "
            "end with a letter or digit"
        )
    if ".." in name:
        return "must not hold two adjacent dots"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        return "must not be formatted as an IP address"
    if name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        return "uses a prefix or suffix that S3 reserves"
    return None


def check_bucket_name(name: str) -> None:
    problem = bucket_name_problem(name)
    if problem is not None:
        raise SourceError(
            f"s3://{name}", f"invalid bucket name {name!r}: {problem}", 400,
            code="invalid_bucket_name",
        )  # fmt: skip


def check_key(bucket: str, key: str) -> None:
    """Keys that object stores treat inconsistently are refused rather than rewritten."""
    problem = None
    if not key:
        problem = "the object key is empty"
    elif len(key.encode()) > 1024:
        problem = "the object key is longer than 1024 bytes"
    elif any(ord(c) < 32 or ord(c) == 127 for c in key):
        problem = "the object key holds a control character"
    elif key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
        problem = "the object key has an empty, '.' or '..' path segment"
    if problem is not None:
        raise SourceError(f"s3://{bucket}/{key}", problem, 400, code="invalid_key")


def s3_location(bucket: str, key: str) -> S3Location:
    check_bucket_name(bucket)
    check_key(bucket, key)
    return S3Location(bucket, key)


def parse_s3_url(url: str, *, directory_file: str | None = None) -> S3Location:
    """s3://bucket/key. With `directory_file`, s3://bucket and s3://bucket/prefix/ name that
    file in the bucket or under the prefix."""
    rest = url[5:] if is_s3_url(url) else url
    bucket, _, key = rest.partition("/")
    if directory_file is not None and (key == "" or key.endswith("/")):
        key += directory_file
    return s3_location(bucket, key)


@dataclass(frozen=True)
class StorageLimits:
    connect_seconds: float = 5.0
    read_seconds: float = 30.0  # the longest silence while data flows
    request_seconds: float = 600.0  # a whole request, transfer included
    retries: int = 2
    retry_seconds: float = 30.0


class _ObjectReader(io.RawIOBase):
    """obstore's buffered reader as a standard binary stream, for the csv module."""

    def __init__(self, reader: ReadableFile) -> None:
        super().__init__()
        self._reader = reader

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._reader.read(len(view))
        view[: len(data)] = memoryview(data)
        return len(data)

    def close(self) -> None:
        self._reader.close()
        super().close()


@dataclass(frozen=True)
class ObjectFile:
    """An existing object, to scan with Polars by URL or to stream through obstore."""

    location: S3Location
    size: int
    storage_options: dict[str, Any] = field(repr=False)
    store: S3Store = field(repr=False)

    @property
    def url(self) -> str:
        return self.location.url

    def __str__(self) -> str:
        return self.location.url

    @contextmanager
    def open(self) -> Iterator[BinaryIO]:
        """A sequential binary stream of the object (blocking; run it in a thread)."""
        with storage_errors(self.location):
            reader = obstore.open_reader(self.store, self.location.key, buffer_size=1 << 20)
        stream = io.BufferedReader(_ObjectReader(reader), 1 << 20)
        try:
            yield stream
        finally:
            stream.close()


def _first_listed(store: S3Store, prefix: str) -> None:
    for _ in obstore.list(store, prefix=prefix, chunk_size=1):
        break


class ObjectStorage:
    """One S3-compatible endpoint with its credentials; a client per bucket, made on demand.

    Requests use obstore's blocking API in a worker thread, not its async one: the async
    API completes Python futures from obstore's own threads, and one still doing so while
    the interpreter exits aborts the process (Python before 3.14 ends such threads with
    pthread_exit, which cannot unwind through Rust).
    """

    def __init__(
        self,
        *,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        limits: StorageLimits | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.limits = limits or StorageLimits()
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._stores: dict[str, S3Store] = {}

    def __repr__(self) -> str:
        return f"ObjectStorage(endpoint_url={self.endpoint_url!r}, region={self.region!r})"

    @staticmethod
    def not_configured(source: str = "s3") -> SourceError:
        return SourceError(
            source,
            "object storage is not configured: set S3_ENDPOINT_URL (plus S3_ACCESS_KEY_ID "
            "and S3_SECRET_ACCESS_KEY), or S3_ENABLED=true to use AWS S3 with the default "
            "credential chain",
            503,
            code="object_storage_not_configured",
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, enabled: bool | None = None) -> ObjectStorage:
        """The configured store; SourceError 503 when object storage is not configured."""
        if not (settings.object_storage_enabled if enabled is None else enabled):
            raise cls.not_configured()
        key_id, secret = settings.s3_access_key_id, settings.s3_secret_access_key
        return cls(
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=key_id.get_secret_value() if key_id else None,
            secret_access_key=secret.get_secret_value() if secret else None,
        )

    @property
    def display_endpoint(self) -> str:
        return display_url(self.endpoint_url) if self.endpoint_url else f"AWS S3 ({self.region})"

    def _config(self) -> S3Config:
        config: S3Config = {"region": self.region}
        if self.endpoint_url is not None:
            # S3-compatible servers (MinIO, SeaweedFS, …) seldom resolve bucket subdomains.
            config["endpoint"] = self.endpoint_url
            config["virtual_hosted_style_request"] = False
        if self._access_key_id is not None and self._secret_access_key is not None:
            config["access_key_id"] = self._access_key_id
            config["secret_access_key"] = self._secret_access_key
        return config

    def store(self, bucket: str) -> S3Store:
        store = self._stores.get(bucket)
        if store is None:
            limits = self.limits
            client: ClientConfig = {
                "connect_timeout": timedelta(seconds=limits.connect_seconds),
                "read_timeout": timedelta(seconds=limits.read_seconds),
                "timeout": timedelta(seconds=limits.request_seconds),
                "allow_http": (self.endpoint_url or "").lower().startswith("http://"),
            }
            retry: RetryConfig = {
                "max_retries": limits.retries,
                "retry_timeout": timedelta(seconds=limits.retry_seconds),
            }
            store = S3Store(
                bucket, config=self._config(), client_options=client, retry_config=retry
            )
            self._stores[bucket] = store
        return store

    def storage_options(self) -> dict[str, Any]:
        """The same endpoint, credentials and limits for Polars' own object-store client."""
        config = self._config()
        limits = self.limits
        options: dict[str, Any] = {
            f"aws_{key}": str(value).lower() if isinstance(value, bool) else str(value)
            for key, value in config.items()
        }
        options |= {
            "aws_allow_http": str((self.endpoint_url or "").lower().startswith("http://")).lower(),
            "connect_timeout": f"{limits.connect_seconds:g}s",
            "read_timeout": f"{limits.read_seconds:g}s",
            "timeout": f"{limits.request_seconds:g}s",
            "max_retries": limits.retries,
            "retry_timeout_ms": int(limits.retry_seconds * 1000),
        }
        return options

    async def require_bucket(self, bucket: str) -> None:
        """SourceError 404 `bucket_not_found` unless the bucket exists."""
        check_bucket_name(bucket)
        # Listing an unlikely prefix costs one small request and tells a missing bucket
        # (S3 answers NoSuchBucket) from an empty one.
        with storage_errors(S3Location(bucket, "")):
            await asyncio.to_thread(_first_listed, self.store(bucket), ".tempo-probe")

    async def require_object(self, location: S3Location) -> ObjectFile:
        """The object, or SourceError 404 naming whether the bucket or the key is missing."""
        check_bucket_name(location.bucket)
        check_key(location.bucket, location.key)
        try:
            with storage_errors(location):
                meta = await asyncio.to_thread(
                    obstore.head, self.store(location.bucket), location.key
                )
        except SourceError as exc:
            if exc.code != "key_not_found":
                raise
            # A HEAD answers 404 without a body for both; only a listing says which.
            await self.require_bucket(location.bucket)
            raise
        return ObjectFile(
            location, int(meta["size"]), self.storage_options(), self.store(location.bucket)
        )

    async def exists(self, location: S3Location) -> bool:
        try:
            await self.require_object(location)
        except SourceError as exc:
            if exc.code == "key_not_found":
                return False
            raise
        return True

    async def put(self, location: S3Location, data: bytes | Path) -> None:
        """Store `data` whole in one PUT: readers get the old object or the new one."""
        check_bucket_name(location.bucket)
        check_key(location.bucket, location.key)
        with storage_errors(location):
            await asyncio.to_thread(
                obstore.put,
                self.store(location.bucket),
                location.key,
                data,
                use_multipart=False,
                attributes={"Content-Type": "text/csv; charset=utf-8"},
            )


def _short_reason(exc: BaseException) -> str:
    """The useful end of an object-store error's first line, without the debug dump."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else type(exc).__name__
    reason = first.rsplit(" - ", 1)[-1].strip() or first
    return reason[:300]


def _is_missing_bucket(text: str) -> bool:
    return "NoSuchBucket" in text


def translate_storage_error(exc: BaseException, location: S3Location) -> SourceError:
    """What an obstore or Polars object-store exception means for a client."""
    text = str(exc)
    if _is_missing_bucket(text):
        return SourceError(
            f"s3://{location.bucket}", f"no such bucket: {location.bucket}", 404,
            code="bucket_not_found",
        )  # fmt: skip
    if isinstance(exc, FileNotFoundError) or "404 Not Found" in text:
        return SourceError(
            location.url, f"no object {location.key!r} in bucket {location.bucket!r}", 404,
            code="key_not_found",
        )  # fmt: skip
    refused = ("403 Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied")
    if isinstance(exc, PermissionDeniedError | UnauthenticatedError | PermissionError) or any(
        marker in text for marker in refused
    ):
        return SourceError(
            location.url,
            "the object store refused access: check S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY "
            "and the bucket's policy",
            503,
            code="object_storage_access_denied",
        )
    if isinstance(exc, ValueError) and "parse path" in text:
        return SourceError(location.url, f"invalid object key: {_short_reason(exc)}", 400,
                           code="invalid_key")  # fmt: skip
    return SourceError(
        location.url,
        f"object storage is unavailable: {_short_reason(exc)}",
        503,
        code="object_storage_unavailable",
    )


# What obstore and Polars raise for a failed object-store request.
STORAGE_ERRORS: tuple[type[BaseException], ...] = (ObjectStoreError, OSError, TimeoutError)


@contextmanager
def storage_errors(location: S3Location) -> Iterator[None]:
    """Turn object-store failures inside the block into SourceErrors about `location`."""
    try:
        yield
    except SourceError:
        raise
    except STORAGE_ERRORS as exc:
        raise translate_storage_error(exc, location) from None
    except ValueError as exc:
        if "parse path" not in str(exc):
            raise
        raise translate_storage_error(exc, location) from None


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
    """A CSV input for the readers in tempo.csv_input: a local path as given, an http(s)://
    download in a temporary file, or an s3:// object (checked to exist, read natively)."""
    if is_s3_url(location):
        target = parse_s3_url(location)
        if storage is None:
            raise ObjectStorage.not_configured(target.url)
        yield await storage.require_object(target)
        return
    async with local_file(location, limits=limits) as path:
        yield path
