"""Where data lives, by name: what is a URL, what an s3:// location is (bucket and key rules),
and the one error every source raises. No client library is imported here."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard
from urllib.parse import urlsplit, urlunsplit

from tempo.core.errors import RETRY_AFTER_SECONDS, TempoError

_DEFAULT_CODES = {
    400: "invalid_source",
    404: "source_not_found",
    413: "too_large",
    415: "not_csv",
    502: "download_failed",
    503: "object_storage_unavailable",
    504: "download_timeout",
}


class SourceError(TempoError):
    """Data that could not be fetched or stored, naming the `source`."""

    def __init__(self, source: str, message: str, status: int, *, code: str | None = None) -> None:
        self.source = source
        super().__init__(
            status,
            code or _DEFAULT_CODES.get(status, "source_error"),
            f"{source}: {message}",
            {"source": source},
            # Unreachable or refusing storage is usually brief; a missing file or bucket is not.
            {"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None,
        )


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
