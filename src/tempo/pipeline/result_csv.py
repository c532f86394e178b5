"""Reading and checking a `pipeline_result.csv` before it may replace the served ranking."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tempo.core.csv_input import (
    ROW,
    CsvInput,
    RowCheck,
    as_int,
    check_header,
    collect,
    header,
    refuse_bad_rows,
    refuse_empty,
    refuse_short_records,
    require_columns,
    require_integers,
    scan_text,
)
from tempo.pipeline.aggregate import RESULT_COLUMNS, RESULT_FILE, competition_rank

if TYPE_CHECKING:
    import polars as pl

INTEGER_COLUMNS = ("rank", "user_id", "messages")


def read_result(path: CsvInput, *, allow_empty: bool = False) -> pl.DataFrame:
    """The validated ranking, typed and sorted by (rank, user_id), or a CsvError saying where.

    A file with a header and no rows would empty the leaderboard: refused unless
    `allow_empty`."""
    import polars as pl

    check_header(path)
    names = header(path)
    require_columns(path, names, RESULT_COLUMNS, of=f"{RESULT_FILE} ({','.join(RESULT_COLUMNS)})")
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

    refuse_bad_rows(
        path,
        typed,
        [
            RowCheck("must not be negative", "messages", pl.col("messages") < 0),
            RowCheck(
                "contains a NUL character, which PostgreSQL cannot store",
                "name",
                pl.col("name").str.contains("\x00", literal=True),
            ),
            RowCheck("duplicate user id", "user_id", ~pl.col("user_id").is_first_distinct()),
            RowCheck(
                "does not match the competition ranking of 'messages' (1 = most messages, ties "
                "share a rank)",
                "rank",
                pl.col("rank") != competition_rank(pl.col("messages")),
            ),
        ],
    )
    return typed.select("rank", "user_id", pl.col("name").fill_null(""), "messages").sort(
        "rank", "user_id"
    )
