"""s3:// objects on any S3-compatible store, through obstore."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from tempo.core.locations import (
    S3Location,
    SourceError,
    check_bucket_name,
    check_key,
    display_url,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from obstore import ReadableFile
    from obstore.store import ClientConfig, RetryConfig, S3Config, S3Store

    from tempo.core.settings import Settings


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
        import obstore

        with storage_errors(self.location):
            reader = obstore.open_reader(self.store, self.location.key, buffer_size=1 << 20)
        stream = io.BufferedReader(_ObjectReader(reader), 1 << 20)
        try:
            yield stream
        finally:
            stream.close()


def _first_listed(store: S3Store, prefix: str) -> None:
    import obstore

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
        from obstore.store import S3Store

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
        import obstore

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
        import obstore

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
    from obstore.exceptions import PermissionDeniedError, UnauthenticatedError

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


def storage_error_types() -> tuple[type[BaseException], ...]:
    """What obstore and Polars raise for a failed object-store request."""
    from obstore.exceptions import BaseError as ObjectStoreError

    return (ObjectStoreError, OSError, TimeoutError)


@contextmanager
def storage_errors(location: S3Location) -> Iterator[None]:
    """Turn object-store failures inside the block into SourceErrors about `location`."""
    try:
        yield
    except SourceError:
        raise
    except storage_error_types() as exc:
        raise translate_storage_error(exc, location) from None
    except ValueError as exc:
        if "parse path" not in str(exc):
            raise
        raise translate_storage_error(exc, location) from None
