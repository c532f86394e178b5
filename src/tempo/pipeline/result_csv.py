"""Reading and checking a `pipeline_result.csv` before it may replace the served ranking."""

from __future__ import annotations

import polars as pl

from tempo.core.csv_input import (
    ROW,
    CsvError,
    CsvInput,
    as_int,
    check_header,
    collect,
    header,
    refuse_empty,
    refuse_short_records,
    require_integers,
    scan_text,
    shown_header,
)
from tempo.pipeline.aggregate import RESULT_COLUMNS, competition_rank

INTEGER_COLUMNS = ("rank", "user_id", "messages")


def read_result(path: CsvInput, *, allow_empty: bool = False) -> pl.DataFrame:
    """The validated ranking, typed and sorted by (rank, user_id), or a CsvError saying where.

    A file with a header and no rows would empty the leaderboard: refused unless
    `allow_empty`."""
    check_header(path)
    names = header(path)
    missing = [c for c in RESULT_COLUMNS if c not in names]
    if missing:
        raise CsvError(
            path,
            f"missing column {', '.join(repr(c) for c in missing)}; expected the header "
            f"{','.join(RESULT_COLUMNS)} but found {shown_header(names)}",
            column=missing[0],
            line=1,
        )
    scan = scan_text(path).select(
        ROW, *RESULT_COLUMNS, pl.col(names[-1]).is_null().alias("last_null")
    )
    raw = collect(path, scan)
    refuse_short_records(path, int(raw["last_null"].sum()))
    refuse_empty(path, raw.height, allow_empty)
    typed = raw.with_columns(*(as_int(c) for c in INTEGER_COLUMNS))
    for column in INTEGER_COLUMNS:
        if typed[column].null_count():
            require_integers(path, raw.lazy(), [column])

    _first_violation(path, typed, pl.col("messages") < 0, "messages", "must not be negative")
    _first_violation(
        path, typed, pl.col("name").str.contains("\x00", literal=True), "name",
        "contains a NUL character, which PostgreSQL cannot store",
    )  # fmt: skip
    _first_violation(
        path, typed, ~pl.col("user_id").is_first_distinct(), "user_id", "duplicate user id"
    )
    expected = competition_rank(pl.col("messages"))
    _first_violation(
        path,
        typed,
        pl.col("rank") != expected,
        "rank",
        "does not match the competition ranking of 'messages' (1 = most messages, ties share "
        "a rank)",
    )
    return typed.select("rank", "user_id", pl.col("name").fill_null(""), "messages").sort(
        "rank", "user_id"
    )


def _first_violation(
    path: CsvInput, frame: pl.DataFrame, condition: pl.Expr, column: str, message: str
) -> None:
    bad = frame.filter(condition).sort(ROW)
    if not bad.is_empty():
        row, value = bad.select(ROW, column).row(0)
        raise CsvError(path, message, column=column, row=row, value=str(value))
