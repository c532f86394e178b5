"""Uploads of the raw messages.csv and users.csv: streamed, capped, checked, then swapped in.

The multipart body is parsed as it arrives, each file going to a temporary file with a
running byte count, so an oversized file is refused as soon as it passes the cap and never
sits in memory. Every file is checked with the aggregation's own readers before any of
them replaces the current one, and each replacement is whole: a rename in the data
directory, or one PUT to the raw bucket.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.core.csv_input import CsvError
from tempo.core.errors import TempoError
from tempo.core.sources import ObjectStorage, S3Location, SourceError
from tempo.leaderboard.models import PipelineRun
from tempo.pipeline.aggregate import count_messages, read_users
from tempo.pipeline.runs import (
    MESSAGES_FILE,
    USERS_FILE,
    Location,
    PipelinePlan,
    RunFailed,
    run_pipeline,
)

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

# Form field → the raw file it replaces.
UPLOAD_FIELDS = {"messages": MESSAGES_FILE, "users": USERS_FILE}
# Boundaries and part headers around the files, allowed on top of the files themselves.
MULTIPART_OVERHEAD = 64 * 1024
MAX_TEXT_FIELD = 1024  # bytes of a form's text field (an API token)
# The first bytes of compressed files. An upload must be plain CSV: a small archive can
# inflate into far more than MAX_UPLOAD_BYTES, so compression is refused, not unpacked.
COMPRESSED_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"PK\x03\x04": "zip",
}
MAGIC_BYTES = max(len(magic) for magic in COMPRESSED_MAGIC)


@dataclass(frozen=True)
class FormFields:
    """Text fields an HTML form sends along with its files, and a check of their values
    (the page's API token) that runs before the first file is written, or at the end of a
    body without files. A browser sends the fields in the form's order."""

    names: frozenset[str]
    check: Callable[[Mapping[str, str]], None]


@dataclass(frozen=True)
class StoredFile:
    name: str
    location: str
    bytes: int
    rows: int


@dataclass
class _Part:
    field: str
    path: Path
    handle: BinaryIO
    size: int = 0
    head: bytes = b""  # the first bytes, to tell a compressed file before it is stored


class _Receiver:
    """python-multipart callbacks writing each file part to its own temporary file."""

    def __init__(self, folder: Path, max_bytes: int, form: FormFields | None = None) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.form = form
        self.parts: dict[str, _Part] = {}
        self.texts: dict[str, bytearray] = {}
        self.finished = False
        self._checked = form is None
        self._current: _Part | None = None
        self._text: bytearray | None = None
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_part,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._disposition = b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_part(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def check_form(self) -> None:
        """Run the form's check once, before anything is written."""
        if not self._checked and self.form is not None:
            self._checked = True
            self.form.check({k: v.decode("utf-8", "replace") for k, v in self.texts.items()})

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        field = options.get(b"name", b"").decode("utf-8", "replace")
        self._current = self._text = None
        if self.form is not None and field in self.form.names and b"filename" not in options:
            self._text = self.texts.setdefault(field, bytearray())
            return
        if field in UPLOAD_FIELDS and options.get(b"filename") == b"":
            return  # a browser's file input with no file chosen: nothing to store
        if field not in UPLOAD_FIELDS:
            raise TempoError(
                400,
                "unknown_field",
                f"unexpected form field {field!r}; send the files as 'messages' and/or 'users'",
                {"field": field},
            )
        if field in self.parts:
            raise TempoError(400, "duplicate_field", f"the form field {field!r} appears twice")
        self.check_form()
        path = self.folder / UPLOAD_FIELDS[field]
        self._current = self.parts[field] = _Part(field, path, path.open("wb"))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._text is not None:
            self._text += data[start:end]
            if len(self._text) > MAX_TEXT_FIELD:
                raise TempoError(400, "field_too_long", "a form field is longer than a token")
            return
        part = self._current
        if part is None:
            return
        part.size += end - start
        if part.size > self.max_bytes:
            raise TempoError(
                413,
                "too_large",
                f"{UPLOAD_FIELDS[part.field]} is larger than the upload limit of "
                f"{self.max_bytes:,} bytes (MAX_UPLOAD_BYTES)",
                {"file": UPLOAD_FIELDS[part.field], "max_bytes": self.max_bytes},
            )
        if len(part.head) < MAGIC_BYTES:
            part.head += data[start : min(end, start + MAGIC_BYTES - len(part.head))]
            _refuse_compressed(part)
        # One request chunk (64 KiB at most) into the page cache: cheaper than a thread hop.
        part.handle.write(data[start:end])

    def _part_end(self) -> None:
        if self._current is not None:
            self._current.handle.close()
            self._current = None

    def _end(self) -> None:
        self.finished = True

    def close(self) -> None:
        for part in self.parts.values():
            part.handle.close()


def _refuse_compressed(part: _Part) -> None:
    for magic, kind in COMPRESSED_MAGIC.items():
        if part.head.startswith(magic):
            name = UPLOAD_FIELDS[part.field]
            raise TempoError(
                415,
                "compressed_upload",
                f"{name} is a {kind}-compressed file; upload the plain CSV",
                {"file": name, "compression": kind},
            )


def _boundary(content_type: str | None) -> bytes:
    media_type, options = parse_options_header(content_type)
    if media_type != b"multipart/form-data":
        raise TempoError(
            415,
            "unsupported_media_type",
            "send messages.csv and/or users.csv as multipart/form-data "
            "(curl -F messages=@messages.csv -F users=@users.csv)",
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise TempoError(400, "invalid_multipart", "the multipart Content-Type has no boundary")
    return boundary


async def _receive(
    body: AsyncIterator[bytes],
    boundary: bytes,
    folder: Path,
    max_bytes: int,
    form: FormFields | None = None,
) -> dict[str, _Part]:
    receiver = _Receiver(folder, max_bytes, form)
    try:
        parser = MultipartParser(boundary, receiver.callbacks())
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise TempoError(400, "invalid_multipart", f"malformed multipart body: {exc}") from None
    finally:
        receiver.close()
    if not receiver.finished:
        raise TempoError(
            400, "invalid_multipart", "the multipart body ended before its closing boundary"
        )
    receiver.check_form()
    if not receiver.parts:
        raise TempoError(
            400, "no_files", "no file: send 'messages' and/or 'users' as multipart/form-data"
        )
    return receiver.parts


def _check(part: _Part, allow_empty: bool = False) -> int:
    """Rows in the file, read by the aggregation's own readers (the contract `tempo
    aggregate` enforces); CsvError if they refuse it."""
    name = UPLOAD_FIELDS[part.field]
    try:
        if part.field == "messages":
            return int(count_messages(part.path, allow_empty=allow_empty)["messages"].sum())
        return read_users(part.path, allow_empty=allow_empty).height
    except CsvError as exc:
        raise exc.renamed(name) from None


async def _replace(part: _Part, target: Location, storage: ObjectStorage | None) -> None:
    if isinstance(target, S3Location):
        if storage is None:
            raise ObjectStorage.not_configured(target.url)
        await storage.put(target, part.path)
    else:
        # The temporary folder is inside the data directory: a rename, never a copy.
        await asyncio.to_thread(os.replace, part.path, target)


def upload_ceiling(max_bytes: int) -> int:
    """The largest request body an upload may be: both files at the cap, plus the form."""
    return len(UPLOAD_FIELDS) * max_bytes + MULTIPART_OVERHEAD


async def store_uploads(
    content_type: str | None,
    content_length: str | None,
    body: AsyncIterator[bytes],
    *,
    plan: PipelinePlan,
    storage: ObjectStorage | None,
    max_bytes: int,
    form: FormFields | None = None,
    allow_empty: bool = False,
) -> list[StoredFile]:
    """Receive, check and store the uploaded raw files; nothing is replaced unless all pass.

    Without `form`, every part must be a file; with it, its text fields may come too."""
    boundary = _boundary(content_type)
    ceiling = upload_ceiling(max_bytes)
    if content_length is not None and content_length.isdigit() and int(content_length) > ceiling:
        raise TempoError(
            413,
            "too_large",
            f"the request body of {int(content_length):,} bytes is larger than two files of "
            f"the upload limit of {max_bytes:,} bytes (MAX_UPLOAD_BYTES)",
            {"max_bytes": max_bytes},
        )
    local_target = plan.messages if isinstance(plan.messages, Path) else None
    if local_target is not None:
        local_target.parent.mkdir(parents=True, exist_ok=True)
    spool = local_target.parent if local_target is not None else None
    with tempfile.TemporaryDirectory(prefix=".upload-", dir=spool) as folder:
        parts = await _receive(body, boundary, Path(folder), max_bytes, form)
        ordered = [parts[field] for field in UPLOAD_FIELDS if field in parts]
        rows = [await asyncio.to_thread(_check, part, allow_empty) for part in ordered]
        stored = []
        for part, count in zip(ordered, rows, strict=True):
            target = plan.messages if part.field == "messages" else plan.users
            await _replace(part, target, storage)
            stored.append(
                StoredFile(UPLOAD_FIELDS[part.field], plan.label(target), part.size, count)
            )
    return stored


async def run_after_upload(
    engine: AsyncEngine,
    plan: PipelinePlan,
    storage: ObjectStorage | None,
    *,
    allow_empty: bool = False,
) -> PipelineRun:
    """The upload's run, succeeded or failed. A missing or refused input is a failed run,
    not an error: the files stay stored. Anything else (the database) is raised."""
    try:
        return await run_pipeline(
            engine, plan, storage=storage, trigger="upload", allow_empty=allow_empty
        )
    except RunFailed as failed:
        if not isinstance(failed.cause, CsvError | SourceError):
            raise failed.cause from None
        return failed.run
