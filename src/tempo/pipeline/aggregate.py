"""Aggregation: raw messages + users CSVs → the ranked `pipeline_result.csv`.

Messages are only ever scanned and grouped on the streaming engine, so their size is not
bounded by memory; what is held in memory is one row per distinct user.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tempo.core.csv_input import (
    ROW,
    CsvError,
    CsvInput,
    as_int,
    check_header,
    collect,
    header,
    is_gzip,
    pick_column,
    refuse_empty,
    refuse_short_records,
    require_integers,
    scan_text,
    shown_header,
    strict,
)
from tempo.core.sources import S3Location, read_errors

if TYPE_CHECKING:
    import polars as pl

RESULT_FILE = "pipeline_result.csv"
RESULT_COLUMNS = ("rank", "user_id", "name", "messages")
MESSAGE_ID_COLUMN = "message_id"
MESSAGE_AUTHOR_COLUMNS = ("author_id", "user_id")
USER_ID_COLUMNS = ("user_id", "id")

# Told the name of each stage as it starts (a CLI shows it); the stages report no fraction
# done, since a streaming aggregation tells nothing until it has finished.
Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True)
class AggregateSummary:
    messages: int
    users: int
    ranked_users: int
    orphan_messages: int
    orphan_users: int
    seconds: float
    output: Path | S3Location

    @property
    def rows_read(self) -> int:
        return self.messages + self.users

    def line(self) -> str:
        return (
            f"read {self.rows_read:,} rows ({self.messages:,} messages, {self.users:,} users) → "
            f"{self.ranked_users:,} ranked users, {self.orphan_messages:,} orphan messages "
            f"from {self.orphan_users:,} unknown users, in {self.seconds:.2f} s → {self.output}"
        )


def competition_rank(messages: pl.Expr) -> pl.Expr:
    """1 = most messages; ties share a rank and the next rank skips (1, 2, 2, 4)."""
    import polars as pl

    return messages.rank(method="min", descending=True).cast(pl.Int64)


def count_messages(path: CsvInput, *, allow_empty: bool = False) -> pl.DataFrame:
    """user_id → messages, validated: a `message_id` column, every author id an integer,
    every record as wide as the header, and at least one message unless `allow_empty`."""
    check_header(path)
    names = header(path)
    pick_column(path, names, (MESSAGE_ID_COLUMN,))
    author = pick_column(path, names, MESSAGE_AUTHOR_COLUMNS)
    per_author = _count_typed(path, names, author)
    if per_author is None:
        return _count_checked(path, names, author, allow_empty=allow_empty)
    refuse_short_records(path, int(per_author["last_null"].sum()))
    refuse_empty(path, int(per_author["messages"].sum()), allow_empty)
    return per_author.select("user_id", "messages").sort("user_id")


def _count_typed(path: CsvInput, names: list[str], author: str) -> pl.DataFrame | None:
    """The common case in one pass grouped by integer: the CSV reader parses the author ids
    itself, with no row numbers and no column of ids as text. None when any id is not
    plainly an integer, or anything else is wrong; `_count_checked` then says where.

    Every id the reader parses is the integer `as_int` makes of it; what the reader refuses
    (a trailing space, a decimal point, an id too large) or leaves empty goes the checked way."""
    import polars as pl

    if isinstance(path, Path) and is_gzip(path):
        return None  # decompressed once, by the checked pass, rather than twice
    scan = pl.scan_csv(
        path if isinstance(path, Path) else path.url,
        infer_schema=False,
        schema_overrides={author: pl.Int64},
        encoding="utf8",
        storage_options=None if isinstance(path, Path) else path.storage_options,
    )
    try:
        per_author = (
            scan.group_by(pl.col(author).alias("user_id"))
            .agg(
                pl.len().cast(pl.Int64).alias("messages"),
                pl.col(names[-1]).null_count().alias("last_null"),
            )
            .collect(engine="streaming", optimizations=strict())
        )
    except pl.exceptions.PolarsError:
        return None
    return None if per_author["user_id"].null_count() else per_author


def _count_checked(
    path: CsvInput, names: list[str], author: str, *, allow_empty: bool
) -> pl.DataFrame:
    """Author ids read as text and cast, so that the row of a bad one can be named."""
    import polars as pl

    scan = scan_text(path)
    per_raw_id = collect(
        path,
        scan.group_by(pl.col(author).alias("raw")).agg(
            pl.len().alias("messages"), pl.col(names[-1]).null_count().alias("last_null")
        ),
    )
    refuse_short_records(path, int(per_raw_id["last_null"].sum()))
    refuse_empty(path, int(per_raw_id["messages"].sum()), allow_empty)
    typed = per_raw_id.with_columns(as_int("raw").alias("user_id"))
    if typed["user_id"].null_count():
        # Only now pay for a second pass, to name the row at fault.
        require_integers(path, scan, [author])
    return typed.group_by("user_id").agg(pl.col("messages").sum().cast(pl.Int64)).sort("user_id")


def read_users(path: CsvInput, *, allow_empty: bool = False) -> pl.DataFrame:
    """user_id → name, validated: integer ids, each id once, every record as wide as the
    header, and at least one user unless `allow_empty`."""
    import polars as pl

    check_header(path)
    names = header(path)
    id_column = pick_column(path, names, USER_ID_COLUMNS)
    if "first_name" in names or "last_name" in names:
        first = pick_column(path, names, ("first_name",))
        last = pick_column(path, names, ("last_name",))
        name = pl.concat_str(
            [pl.col(first).str.strip_chars(), pl.col(last).str.strip_chars()],
            separator=" ",
            ignore_nulls=True,
        )
    elif "name" in names:
        name = pl.col("name").str.strip_chars()
    else:
        raise CsvError(
            path,
            "missing name columns: expected 'first_name' and 'last_name', or 'name'; "
            f"the header has {shown_header(names)}",
            column="name",
            line=1,
        )

    scan = scan_text(path)
    users = collect(
        path,
        scan.select(
            pl.col(ROW),
            as_int(id_column).alias("user_id"),
            pl.col(id_column).alias("raw"),
            name.alias("name"),
            pl.col(names[-1]).is_null().alias("last_null"),
        ),
    )
    refuse_short_records(path, int(users["last_null"].sum()))
    refuse_empty(path, users.height, allow_empty)
    bad = users.filter(pl.col("user_id").is_null())
    if not bad.is_empty():
        row, raw = bad.select(ROW, "raw").row(0)
        message = "empty value; expected an integer" if raw is None else "not an integer"
        raise CsvError(path, message, column=id_column, row=row, value=raw)
    nul = users.filter(pl.col("name").str.contains("\x00", literal=True))
    if not nul.is_empty():
        raise CsvError(
            path, "contains a NUL character, which PostgreSQL cannot store",
            column="name", row=nul[ROW][0],
        )  # fmt: skip
    duplicates = users.filter(pl.col("user_id").is_duplicated()).sort(ROW)
    if not duplicates.is_empty():
        first_row, user_id = duplicates.select(ROW, "user_id").row(0)
        again = duplicates.filter(pl.col("user_id") == user_id)[ROW][1]
        raise CsvError(
            path,
            f"duplicate user id {user_id}: rows {first_row} and {again}",
            column=id_column,
            row=again,
            value=str(user_id),
        )
    return users.select("user_id", pl.col("name").fill_null(""))


def rank(counts: pl.DataFrame, users: pl.DataFrame) -> pl.DataFrame:
    """Every user from either side; unknown authors keep their id with an empty name."""
    import polars as pl

    joined = users.join(counts, on="user_id", how="full", coalesce=True)
    return (
        joined.with_columns(
            pl.col("name").fill_null(""),
            pl.col("messages").fill_null(0).cast(pl.Int64),
        )
        .with_columns(competition_rank(pl.col("messages")).alias("rank"))
        .select(RESULT_COLUMNS)
        .sort("rank", "user_id")
    )


def write_atomically(frame: pl.DataFrame, target: Path) -> None:
    """Readers of `target` see the old file or the complete new one, never a partial write."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            frame.write_csv(handle)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class Ranking:
    """An aggregation's result, before it is written anywhere."""

    result: pl.DataFrame
    messages: int
    users: int
    orphan_messages: int
    orphan_users: int

    def csv_bytes(self) -> bytes:
        return self.result.write_csv().encode()

    def summary(self, output: Path | S3Location, seconds: float) -> AggregateSummary:
        return AggregateSummary(
            messages=self.messages,
            users=self.users,
            ranked_users=self.result.height,
            orphan_messages=self.orphan_messages,
            orphan_users=self.orphan_users,
            seconds=seconds,
            output=output,
        )


def rank_inputs(
    messages_path: CsvInput,
    users_path: CsvInput,
    progress: Progress | None = None,
    *,
    allow_empty: bool = False,
) -> Ranking:
    """Validate and aggregate both inputs (local files or s3:// objects)."""
    say = progress or _quiet
    say(f"counting messages in {messages_path}")
    counts = count_messages(messages_path, allow_empty=allow_empty)
    say(f"reading users from {users_path}")
    users = read_users(users_path, allow_empty=allow_empty)
    say("ranking")
    return combine(counts, users)


def combine(counts: pl.DataFrame, users: pl.DataFrame) -> Ranking:
    """The ranking of `count_messages` and `read_users` results."""
    result = rank(counts, users)
    orphans = counts.join(users, on="user_id", how="anti")
    return Ranking(
        result=result,
        messages=int(counts["messages"].sum()),
        users=users.height,
        orphan_messages=int(orphans["messages"].sum()),
        orphan_users=orphans.height,
    )


def aggregate(
    messages_path: CsvInput,
    users_path: CsvInput,
    output_dir: Path,
    *,
    progress: Progress | None = None,
    allow_empty: bool = False,
) -> AggregateSummary:
    started = time.perf_counter()
    if output_dir.exists() and not output_dir.is_dir():
        raise CsvError(output_dir, "the output path must be a directory")
    ranking = rank_inputs(messages_path, users_path, progress, allow_empty=allow_empty)
    output = output_dir / RESULT_FILE
    (progress or _quiet)(f"writing {output}")
    write_atomically(ranking.result, output)
    return ranking.summary(output, time.perf_counter() - started)


async def read_inputs(
    messages: CsvInput,
    users: CsvInput,
    *,
    labels: tuple[str, str] | None = None,
    progress: Progress | None = None,
    allow_empty: bool = False,
) -> Ranking:
    """Read, check and rank both inputs off the event loop; errors name each input by its
    label (what the client called it), storage failures become SourceErrors."""
    say = progress or _quiet
    frames: list[pl.DataFrame] = []
    steps = (
        (messages, count_messages, "counting messages in"),
        (users, read_users, "reading users from"),
    )
    for index, (source, reader, stage) in enumerate(steps):
        say(f"{stage} {labels[index] if labels else source}")
        with read_errors(source):
            try:
                frames.append(await asyncio.to_thread(reader, source, allow_empty=allow_empty))
            except CsvError as exc:
                raise (exc.renamed(labels[index]) if labels else exc) from None
    say("ranking")
    return combine(*frames)
