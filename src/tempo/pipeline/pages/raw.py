"""One page of a raw input (messages.csv or users.csv) as it is stored, every value text.

A local file is read whole once per version (path, inode, size and modification time):
Polars checks every field of every record as it counts them, on its streaming engine, so a
malformed record is reported (file, row, line) wherever it is, and a quote-aware scan notes
the byte offset of every page's first record. Every later page of that version reads its own
bytes only, so paging a 100 MB file costs what paging the sample does, and a burst of page
views parses the file once, not once per view. What is kept is small: the header, the row
count and one offset per page (an error, for a malformed file).

An object in the raw bucket has no such version to key on here; it is counted and sliced
by Polars on every view, which streams it without holding it.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tempo.core.csv_input import ROW, CsvError, CsvInput, collect, header, scan_text
from tempo.core.sources import read_errors
from tempo.site.paging import PAGE_SIZE

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

MAX_CELL = 300  # characters of a value shown; message texts can be long


@dataclass(frozen=True)
class RawRow:
    number: int  # 1-based data row, the header not counted: as in error messages
    values: list[str]


@dataclass(frozen=True)
class RawPage:
    columns: list[str]
    total: int
    rows: list[RawRow]


def _cell(value: str | None) -> str:
    if value is None:
        return ""
    return value if len(value) <= MAX_CELL else value[:MAX_CELL] + "…"


def read_page(source: CsvInput, label: str, offset: int, limit: int) -> RawPage:
    """Rows `offset` to `offset + limit` of `source`, with the file's header and row count.
    Blocking: run it in a thread. CsvError names the file as `label`."""
    try:
        with read_errors(source):
            if isinstance(source, Path):
                index = file_index(source)
                columns, total = index.columns, index.total
                frame = index.page(source, offset, limit)
                if frame is None:
                    frame = _slice(source, offset, limit, total)
            else:
                columns = header(source)
                total = _count(source)
                frame = _slice(source, offset, limit, total)
    except CsvError as exc:
        raise exc.renamed(label) from None
    rows = [
        RawRow(int(record[ROW]), [_cell(record[column]) for column in columns])
        for record in frame.iter_rows(named=True)
    ]
    return RawPage(columns, total, rows)


def _count(source: CsvInput) -> int:
    import polars as pl

    return int(collect(source, scan_text(source).select(pl.len())).item())


def _slice(source: CsvInput, offset: int, limit: int, total: int) -> pl.DataFrame:
    """Polars' own slice: stops reading after its last row."""
    import polars as pl

    if offset >= total:
        return pl.DataFrame()
    return collect(source, scan_text(source).slice(offset, limit))


# --- one parse per file version ---------------------------------------------------------

STRIDE = PAGE_SIZE  # records between two kept offsets: one per page
CHUNK_BYTES = 16 << 20  # read at a time when looking for record ends
KEPT_VERSIONS = 8  # messages and users, with room for a few replaced versions


@dataclass(frozen=True)
class FileIndex:
    """What paging one version of a file needs. `starts[k]` is the byte offset of record
    `k * STRIDE` (0-based, the header not counted), `size` the file's length; `starts` is
    None when the scan for record ends disagreed with Polars' count, and pages are then
    sliced by Polars from the top."""

    columns: list[str]
    total: int
    size: int
    starts: np.ndarray | None

    def page(self, path: Path, offset: int, limit: int) -> pl.DataFrame | None:
        """Rows `offset` to `offset + limit`, read from their own bytes; None when this
        index cannot serve them (then slice the file)."""
        import polars as pl

        if offset >= self.total:
            return pl.DataFrame()
        if self.starts is None or offset % STRIDE or limit > STRIDE:
            return None
        k = offset // STRIDE
        begin = int(self.starts[k])
        end = int(self.starts[k + 1]) if k + 1 < len(self.starts) else self.size
        with path.open("rb") as handle:
            handle.seek(begin)
            data = handle.read(end - begin)
        frame = pl.read_csv(
            io.BytesIO(data),
            has_header=False,
            schema=dict.fromkeys(self.columns, pl.String),
            encoding="utf8",
            row_index_name=ROW,
            row_index_offset=offset + 1,
        ).head(limit)
        wanted = min(limit, self.total - offset)
        return frame if frame.height == wanted else None


@dataclass
class _Entry:
    lock: threading.Lock
    index: FileIndex | None = None
    error: CsvError | None = None


_versions: OrderedDict[tuple[object, ...], _Entry] = OrderedDict()
_versions_lock = threading.Lock()
# How many times a file version was parsed whole, and how many pages were served without
# parsing it again; for tests and the curious.
stats = {"parsed": 0, "reused": 0}


def _version(path: Path) -> tuple[object, ...]:
    st = path.stat()
    return (str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def file_index(path: Path) -> FileIndex:
    """The index of the file's current version: built by the first reader, waited for by
    readers arriving meanwhile, reused by every later one. CsvError for a malformed file,
    as remembered."""
    key = _version(path)
    with _versions_lock:
        entry = _versions.get(key)
        if entry is None:
            entry = _versions[key] = _Entry(threading.Lock())
            while len(_versions) > KEPT_VERSIONS:
                _versions.popitem(last=False)
        else:
            _versions.move_to_end(key)
    with entry.lock:
        if entry.index is None and entry.error is None:
            stats["parsed"] += 1
            try:
                entry.index = _build(path)
            except CsvError as exc:
                entry.error = exc
        else:
            stats["reused"] += 1
    if entry.error is not None:
        raise entry.error
    assert entry.index is not None
    return entry.index


def _build(path: Path) -> FileIndex:
    import numpy as np

    columns = header(path)
    total = _count(path)  # every field of every record checked: errors surface here
    size = path.stat().st_size
    ends = np.concatenate([np.empty(0, np.int64), *_record_ends(path)])
    # The first end is the header's; a record starts after each end, unless the file does.
    starts = ends + 1
    starts = starts[starts < size]
    # Blank lines, CR-only line endings or a quote inside an unquoted field would put the
    # scan's record ends elsewhere than Polars' records: then page by Polars' slice.
    kept = starts[::STRIDE].copy() if len(starts) == total else None
    return FileIndex(columns, total, size, kept)


def _record_ends(path: Path) -> Iterator[np.ndarray]:
    """Byte offsets of the line feeds that end a record: those outside double quotes.

    A doubled quote inside a quoted field counts twice, so parity alone tells whether a
    line feed is inside a quoted field (a CRLF ends on its LF all the same)."""
    import numpy as np

    quotes_so_far = 0
    position = 0
    with path.open("rb") as handle:
        for data in iter(lambda: handle.read(CHUNK_BYTES), b""):
            chunk = np.frombuffer(data, dtype=np.uint8)
            quotes = np.flatnonzero(chunk == ord('"'))
            newlines = np.flatnonzero(chunk == ord("\n"))
            before = np.searchsorted(quotes, newlines) + quotes_so_far
            yield (newlines[before % 2 == 0] + position).astype(np.int64)
            quotes_so_far += len(quotes)
            position += len(data)
