"""Reading CSV input with Polars and turning every way it can be wrong into a precise error.

Polars says *that* a file is malformed but rarely *where*; when it refuses a file, the
standard library's csv module walks it once more to find the record and line at fault.
An input is a local path or an s3:// object (tempo.core.sources.ObjectFile), which Polars scans
natively and the second pass streams. A local file may be gzip-compressed (recognised by its
first bytes, whatever its name): Polars' lazy scan reads plain text only, so such a file is
decompressed into memory and scanned from there.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from tempo.core.errors import TempoError
from tempo.core.sources import ObjectFile, SourceError, storage_errors

if TYPE_CHECKING:
    import polars as pl

# Polars' streaming CSV reader reads ahead of the parsers in large chunks and, left to its
# defaults, holds about as much of a big file as the parsers are behind: 300 MiB of a 360 MB
# file on two cores. Chunks of 1 MiB, with two of them read ahead, keep the peak near
# 150 MiB and parse no slower (measured in README, Performance). An operator's own values win.
os.environ.setdefault("POLARS_CSV_CHUNK_SIZE", str(1 << 20))
os.environ.setdefault("POLARS_CSV_CHUNK_PREFETCH_LIMIT", "2")

# Where a CSV is read from: a local file, or an object Polars scans by URL.
CsvInput = Path | ObjectFile

ROW = "__row"  # 1-based data row number (the header is not counted)

GZIP_MAGIC = b"\x1f\x8b"
# A compressed file is held in memory whole; this keeps a small file that inflates
# enormously (or a mislabelled archive) from taking the machine's memory with it.
MAX_DECOMPRESSED_BYTES = 1 << 30
# A header longer or wider than this is not one of Tempo's inputs (they have a handful of
# columns). Refusing it up front keeps Polars from building a schema of a million columns
# (tens of seconds) and keeps error messages, which list the header, short.
MAX_HEADER_BYTES = 64 * 1024
MAX_COLUMNS = 1000
SHOWN_COLUMNS = 10  # header names quoted in an error message
SHOWN_MISSING = 4  # missing columns named in an error message; the rest are counted


@dataclass(frozen=True)
class CsvProblem:
    file: str
    message: str
    column: str | None = None
    row: int | None = None
    value: str | None = None
    line: int | None = None  # the physical line, where it differs from what `row` implies


class CsvError(TempoError):
    """A CSV input that cannot be used (422 `invalid_csv`), with the file, column, row and
    line at fault."""

    def __init__(
        self,
        file: str | Path | ObjectFile,
        message: str,
        *,
        column: str | None = None,
        row: int | None = None,
        value: str | None = None,
        line: int | None = None,
    ) -> None:
        self.problem = CsvProblem(str(file), message, column, row, value, line)
        super().__init__(422, "invalid_csv", self._describe(), self._details())

    def _describe(self) -> str:
        p = self.problem
        where = [p.file]
        if p.row is not None:
            where.append(f"row {p.row}")
        elif p.line is not None:
            where.append(f"line {p.line}")
        if p.column is not None:
            where.append(f"column {p.column!r}")
        text = f"{', '.join(where)}: {p.message}"
        if p.value is not None:
            text += f" (value {p.value[:80]!r})"
        return text

    def _details(self) -> dict[str, Any]:
        p = self.problem
        return {
            "file": p.file,
            "row": p.row,
            "line": p.line,
            "column": p.column,
            "value": p.value,
            "reason": p.message,
        }

    def renamed(self, file: str) -> CsvError:
        """The same error, naming the file as the client knows it."""
        p = self.problem
        return CsvError(file, p.message, column=p.column, row=p.row, value=p.value, line=p.line)


def scan_text(path: CsvInput) -> pl.LazyFrame:
    """A lazy scan with every column as text, so type problems are ours to report."""
    import polars as pl

    if isinstance(path, ObjectFile):
        return pl.scan_csv(
            path.url,
            infer_schema=False,
            encoding="utf8",
            row_index_name=ROW,
            row_index_offset=1,
            storage_options=path.storage_options,
        )
    _check_readable(path)
    return pl.scan_csv(
        gunzipped(path) if is_gzip(path) else path,
        infer_schema=False,
        encoding="utf8",
        row_index_name=ROW,
        row_index_offset=1,
    )


def header(path: CsvInput) -> list[str]:
    import polars as pl

    try:
        names = scan_text(path).collect_schema().names()
    except pl.exceptions.NoDataError:
        raise CsvError(path, "the file is empty; expected a header row") from None
    except pl.exceptions.PolarsError as exc:
        raise malformed(path, exc) from None
    return [name for name in names if name != ROW]


def shown_header(names: Sequence[str]) -> str:
    """The header's names for a message: the first few, and how many there are."""
    shown = ", ".join(repr(name) for name in names[:SHOWN_COLUMNS])
    return shown if len(names) <= SHOWN_COLUMNS else f"{shown}, … ({len(names):,} columns)"


def pick_column(path: CsvInput, names: Sequence[str], candidates: Sequence[str]) -> str:
    for candidate in candidates:
        if candidate in names:
            return candidate
    raise _lacking(path, names, " or ".join(repr(c) for c in candidates), candidates[0])


def require_columns(
    path: CsvInput, names: Sequence[str], required: Iterable[str], *, of: str | None = None
) -> None:
    """A CsvError when the header `names` lacks any of `required`: the first few missing
    ones named, the rest counted, then what the header has. `of` says what file was meant."""
    missing = [column for column in required if column not in names]
    if missing:
        named = ", ".join(repr(c) for c in missing[:SHOWN_MISSING])
        if len(missing) > SHOWN_MISSING:
            named += f" and {len(missing) - SHOWN_MISSING} more"
        raise _lacking(path, names, f"{named} of {of}" if of else named, missing[0])


def _lacking(path: CsvInput, names: Sequence[str], wanted: str, column: str) -> CsvError:
    message = f"missing column {wanted}; the header has {shown_header(names)}"
    return CsvError(path, message, column=column, line=1)


_HEADER_END = re.compile(rb'["\r\n]')


def check_header(path: CsvInput) -> None:
    """Refuse, from the file's first bytes, a header Polars would read into something else.

    Polars takes a file with bare CR line endings for one long header line, renames a
    repeated column (`name_duplicated_0`) and builds a schema of any width; each of these
    is a CsvError on line 1 here instead. An empty file is left to `header`.
    """
    if isinstance(path, Path):
        _check_readable(path)
    with open_binary(path) as raw:
        head = raw.read(MAX_HEADER_BYTES + 1)
    head = head.removeprefix(b"\xef\xbb\xbf")
    # Only the header line: a NUL in a later record is that record's error, with its row.
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head.split(b"\n", 1)[0][:1024]:
        # UTF-16 (what some spreadsheets call "Unicode text") decodes to a header of NUL
        # bytes between letters, which would be refused as "missing column" in mojibake.
        raise CsvError(
            path, "the file is UTF-16 (or binary), not UTF-8 text; save it as UTF-8 CSV", line=1
        )
    end, quoted = None, False
    for found in _HEADER_END.finditer(head):
        if found.group() == b'"':
            quoted = not quoted
        elif not quoted:
            end = found.start()
            break
    if end is None:
        if len(head) > MAX_HEADER_BYTES:
            raise CsvError(
                path,
                f"the header row is longer than {MAX_HEADER_BYTES:,} bytes (no line break "
                "found); this is not a messages, users or result file",
                line=1,
            )
        end = len(head)  # a header with no line break after it
    elif head[end : end + 1] == b"\r" and head[end + 1 : end + 2] not in (b"\n", b""):
        raise CsvError(
            path,
            "lines end with a bare CR (old Mac line endings); save the file with LF or CRLF "
            "line endings",
            line=1,
        )
    names = next(csv.reader([head[:end].decode("utf-8", "replace")]), [])
    if len(names) > MAX_COLUMNS:
        raise CsvError(
            path,
            f"the header has {len(names):,} columns; at most {MAX_COLUMNS:,} are read",
            line=1,
        )
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if name in seen:
            raise CsvError(
                path,
                f"duplicate column name {name!r} (columns {seen[name]} and {number}); "
                "each column must be named once",
                column=name,
                line=1,
            )
        seen[name] = number


def refuse_empty(path: CsvInput, rows: int, allow_empty: bool) -> None:
    """A file with a header and no records would empty what it feeds: only when asked."""
    if rows == 0 and not allow_empty:
        raise CsvError(
            path,
            "no data rows after the header; an empty input is accepted only when asked for "
            '(tempo … --allow-empty, or "allow_empty": true in the request)',
            line=2,
        )


def refuse_short_records(path: CsvInput, suspects: int) -> None:
    """Polars fills the fields missing from a short record with nulls, as it does an empty
    last field. When the last column has nulls (`suspects`), the csv module tells the two
    apart: a record with fewer fields than the header is a CsvError with its line."""
    if suspects:
        located = locate_malformed_record(path)
        if located is not None:
            raise located


def strict() -> pl.QueryOptFlags:
    """Without projection pushdown Polars parses every field of every record, so a record
    with too many fields is refused even when the query only needs one column."""
    import polars as pl

    return pl.QueryOptFlags(projection_pushdown=False)


def collect(path: CsvInput, frame: pl.LazyFrame) -> pl.DataFrame:
    """Collect on the streaming engine, translating Polars' parse errors."""
    import polars as pl

    try:
        return frame.collect(engine="streaming", optimizations=strict())
    except pl.exceptions.NoDataError:
        raise CsvError(path, "the file is empty; expected a header row") from None
    except (pl.exceptions.ComputeError, pl.exceptions.ShapeError) as exc:
        raise malformed(path, exc) from None


def as_int(column: str) -> pl.Expr:
    import polars as pl

    return pl.col(column).str.strip_chars().cast(pl.Int64, strict=False)


def require_integers(path: CsvInput, frame: pl.LazyFrame, columns: Iterable[str]) -> None:
    for column in columns:
        found = first_bad_row(frame, RowCheck("not an integer", column, as_int(column).is_null()))
        if found is not None:
            if found.value is None:
                found = replace(found, reason="empty value; expected an integer")
            raise found.error(path)


def read_columns(path: CsvInput, columns: Sequence[str], *, of: str) -> pl.DataFrame:
    """ROW and `columns` of every data row of `path`, as text, for a file that names its
    columns (`of` says which file that is). A missing column, or no data row at all, is a
    CsvError; a blank line, which Polars reads as a record of nulls, is no data row (the
    csv module does not count it either)."""
    import polars as pl

    require_columns(path, header(path), columns, of=of)
    raw = collect(path, scan_text(path).select(ROW, *columns))
    raw = raw.filter(~pl.all_horizontal(pl.col(columns).is_null()))
    if raw.is_empty():
        raise CsvError(path, "no data rows: the file has a header and nothing else")
    return raw


# --- bad rows: what is wrong with a row, found with Polars, reported with its row number ---


@dataclass(frozen=True)
class RowCheck:
    """A reason to reject a data row: `bad` is true for each row it rejects, and `column`
    is the column named as the one at fault."""

    reason: str
    column: str
    bad: pl.Expr


@dataclass(frozen=True)
class RowProblem:
    """One data row that cannot be used: its number (1-based, the header not counted), why,
    and the column at fault with its value (None when it is missing, or must not be shown)."""

    row: int
    reason: str
    column: str
    value: str | None = None

    def describe(self) -> str:
        shown = f" (value {self.value[:80]!r})" if self.value is not None else ""
        return f"row {self.row}, column {self.column!r}: {self.reason}{shown}"

    def error(self, path: CsvInput, message: str | None = None) -> CsvError:
        """This row as the CsvError refusing the file; `message` in place of the reason."""
        return CsvError(
            path, message or self.reason, column=self.column, row=self.row, value=self.value
        )


def first_bad_row(frame: pl.DataFrame | pl.LazyFrame, check: RowCheck) -> RowProblem | None:
    """The first row `check` rejects, with its value as text. A lazy scan is read only as far
    as that row."""
    import polars as pl

    found = (
        frame.lazy()
        .filter(check.bad)
        .select(ROW, pl.col(check.column).cast(pl.String))
        .head(1)
        .collect(engine="streaming")
    )
    if found.is_empty():
        return None
    row, value = found.row(0)
    return RowProblem(int(row), check.reason, check.column, value)


def refuse_bad_rows(
    path: CsvInput, frame: pl.DataFrame | pl.LazyFrame, checks: Iterable[RowCheck]
) -> None:
    """For a file used whole or not at all: the checks in their order, and the first one
    that rejects any row is a CsvError at the first row it rejects. A check may assume
    that the rows passed every check before it."""
    for check in checks:
        found = first_bad_row(frame, check)
        if found is not None:
            raise found.error(path)


@dataclass(frozen=True)
class Rejections:
    """The rows of a frame that its checks reject; each row counts under the first check
    it fails."""

    rejected: pl.Series  # per row: whether it is rejected
    counts: dict[str, int]  # reason → rejected rows, most frequent first
    examples: tuple[RowProblem, ...]  # the first few rows of each reason, by row

    @property
    def first(self) -> RowProblem | None:
        return self.examples[0] if self.examples else None


def reject_rows(frame: pl.DataFrame, checks: Sequence[RowCheck], examples: int) -> Rejections:
    """For a file whose good rows are used and bad rows left out: which rows `checks`
    (in priority order) reject, how many for each reason, and the first `examples` rows
    of each reason. Several checks may share a reason (one per column, say)."""
    import polars as pl

    first_failed = pl.coalesce(
        [pl.when(check.bad).then(pl.lit(i, dtype=pl.UInt32)) for i, check in enumerate(checks)]
    )
    failed = frame.select(ROW, first_failed.alias("check"))
    rejected = failed.filter(pl.col("check").is_not_null())
    counts: dict[str, int] = {}
    for index, count in rejected.group_by("check").len().sort("check").iter_rows():
        reason = checks[index].reason
        counts[reason] = counts.get(reason, 0) + count
    counts = dict(sorted(counts.items(), key=lambda item: -item[1]))

    found: list[RowProblem] = []
    for reason in counts:
        of_reason = [i for i, check in enumerate(checks) if check.reason == reason]
        first_rows = rejected.filter(pl.col("check").is_in(of_reason)).sort(ROW).head(examples)
        for row, index in first_rows.iter_rows():
            column = checks[index].column
            value = frame.filter(pl.col(ROW) == row)[column][0]
            found.append(RowProblem(row, reason, column, value))
    found.sort(key=lambda problem: problem.row)
    return Rejections(failed["check"].is_not_null(), counts, tuple(found))


def refuse_unusable(path: CsvInput, rows: int, usable: int, first: RowProblem | None) -> None:
    """A CsvError when none of the `rows` read is usable, at the first problem found."""
    if usable == 0 and first is not None:
        raise first.error(
            path, f"no usable rows: all {rows:,} rows were rejected, the first one: {first.reason}"
        )


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise CsvError(path, "file not found")
    if path.is_dir():
        raise CsvError(path, "is a directory, not a CSV file")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise CsvError(path, f"cannot read the file: {exc.strerror or exc}") from None


def is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(GZIP_MAGIC)) == GZIP_MAGIC


# The formats Polars recognises by their first bytes and decompresses into memory by itself
# when it reads a file, local or in object storage, whatever its name.
POLARS_DECOMPRESSES = {
    GZIP_MAGIC: ("gzip", "gunzip"),
    b"\x28\xb5\x2f\xfd": ("zstd", "unzstd"),
    b"\x78\x01": ("zlib", "zlib-flate -uncompress"),
    b"\x78\x9c": ("zlib", "zlib-flate -uncompress"),
    b"\x78\xda": ("zlib", "zlib-flate -uncompress"),
}
MAGIC_BYTES = max(len(magic) for magic in POLARS_DECOMPRESSES)


def require_plain(path: CsvInput, label: str) -> None:
    """Refuse a compressed local file where the server reads it (SourceError 415).

    A compressed file is decompressed into memory whole, up to MAX_DECOMPRESSED_BYTES, and
    again on every read: fine for one command, but a server would do it for every request
    that reads the file (the datamart page reads it three times a view) and for as many
    requests at once as arrive, so a small archive could take the machine's memory.
    An object in a bucket is checked with `require_plain_object`.
    """
    if isinstance(path, Path) and path.is_file():
        with path.open("rb") as handle:
            _refuse_compressed(handle.read(MAGIC_BYTES), label)


async def require_plain_object(source: ObjectFile, label: str) -> None:
    """`require_plain` for an object in a bucket: its first bytes, fetched with a range GET.
    Polars would inflate a gzip, zstd or zlib object as it scans it, 1.5 MB becoming
    gigabytes, with no limit of Tempo's in between."""
    import obstore

    if source.size == 0:
        return
    with storage_errors(source.location):
        head = await obstore.get_range_async(
            source.store, source.location.key, start=0, length=min(MAGIC_BYTES, source.size)
        )
    _refuse_compressed(bytes(head), label)


def _refuse_compressed(head: bytes, label: str) -> None:
    for magic, (kind, undo) in POLARS_DECOMPRESSES.items():
        if head.startswith(magic):
            raise SourceError(
                label,
                f"is a {kind}-compressed file; the server reads plain CSV only: decompress "
                f"it ({undo}), or use the tempo command line, which reads it as it is",
                415,
                code="compressed_input",
            )


def gunzipped(path: Path) -> bytes:
    """The decompressed contents of a gzip file, or a CsvError saying what is wrong with it."""
    chunks, size = [], 0
    try:
        with gzip.open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                size += len(chunk)
                if size > MAX_DECOMPRESSED_BYTES:
                    raise CsvError(
                        path,
                        f"decompresses to more than {MAX_DECOMPRESSED_BYTES >> 20} MiB; "
                        "decompress it first",
                    )
                chunks.append(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise CsvError(path, f"not a readable gzip file: {exc}") from None
    return b"".join(chunks)


def malformed(path: CsvInput, exc: Exception) -> CsvError:
    """Locate the record Polars refused; fall back to Polars' own words."""
    located = locate_malformed_record(path)
    if located is not None:
        return located
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return CsvError(path, f"malformed CSV: {first_line}")


@contextmanager
def open_binary(path: CsvInput) -> Iterator[BinaryIO]:
    if isinstance(path, ObjectFile):
        with path.open() as stream:
            yield stream
    elif is_gzip(path):
        with gzip.open(path, "rb") as stream:
            yield cast(BinaryIO, stream)  # a binary stream; typeshed's GzipFile is no IO[bytes]
    else:
        with path.open("rb") as handle:
            yield handle


def locate_malformed_record(path: CsvInput) -> CsvError | None:
    bad_byte = first_invalid_utf8(path)
    if bad_byte is not None:
        offset, line = bad_byte
        return CsvError(path, f"not valid UTF-8 text (byte {offset}, line {line})", line=line)
    row_number = 0
    with (
        open_binary(path) as raw,
        io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as handle,
    ):
        reader = csv.reader(handle, strict=True)
        try:
            head = next(reader)
            for row_number, record in enumerate(reader, start=1):  # noqa: B007 - read after
                if record and len(record) != len(head):
                    return CsvError(
                        path,
                        f"malformed CSV: {len(record)} fields where the header has "
                        f"{len(head)} (record ending on line {reader.line_num})",
                        row=row_number,
                        line=reader.line_num,
                    )
        except StopIteration:
            return CsvError(path, "the file is empty; expected a header row")
        except csv.Error as exc:
            return CsvError(
                path,
                f"malformed CSV near line {reader.line_num}: {exc}; "
                "is a quoted field missing its closing quote?",
                row=row_number + 1,
                line=reader.line_num,
            )
    return None


def first_invalid_utf8(path: CsvInput) -> tuple[int, int] | None:
    """Byte offset and line number of the first byte that is not UTF-8, if any."""
    offset, line, carry = 0, 1, b""
    with open_binary(path) as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            data, carry = carry + chunk, b""
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                truncated = exc.reason == "unexpected end of data" and exc.end == len(data)
                if not truncated:
                    return offset + exc.start, line + data[: exc.start].count(b"\n")
                data, carry = data[: exc.start], data[exc.start :]
            line += data.count(b"\n")
            offset += len(data)
    return (offset, line) if carry else None
