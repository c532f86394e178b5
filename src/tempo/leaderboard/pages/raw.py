"""One page of a raw input (messages.csv or users.csv) as it is stored, every value text.

Polars scans the file lazily: the page is a slice that stops reading after its last row,
and the row count streams through the file without holding it, so a file far larger than
memory pages as easily as the sample. Both read every field of every record they pass, so
a malformed record is reported (file, row, line) wherever it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tempo.csv_input import ROW, CsvError, CsvInput, collect, header, scan_text
from tempo.sources import read_errors

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
            columns = header(source)
            total = int(collect(source, scan_text(source).select(pl.len())).item())
            frame = (
                collect(source, scan_text(source).slice(offset, limit))
                if offset < total
                else pl.DataFrame()
            )
    except CsvError as exc:
        raise exc.renamed(label) from None
    rows = [
        RawRow(int(record[ROW]), [_cell(record[column]) for column in columns])
        for record in frame.iter_rows(named=True)
    ]
    return RawPage(columns, total, rows)
