"""The aggregation as a PySpark job: messages + users CSVs → `pipeline_result.csv`, byte for
byte what the Polars engine (tempo.pipeline.aggregate) writes.

One file, importing nothing of Tempo's, so that it runs three ways:

- `tempo aggregate --engine spark …`, which starts a local SparkSession (`local[*]`, or
  `--master`) and calls `aggregate`;
- `spark-submit spark_job.py MESSAGES USERS OUTPUT` on a cluster (`main`);
- a Databricks job's `spark_python_task` (infra/databricks/aggregate_job.json), the same `main`.

Inputs are anything Spark reads: local paths, `file:`, `hdfs:`, `dbfs:`, or `s3a://` (which
needs the hadoop-aws jars on the classpath: PySpark does not bundle them). Counting and
checking run on the executors; the ranking, one row per user, is streamed to the driver in
order and written there as one CSV file, as the contract has it.

Quoted fields may hold line breaks, so every CSV is read with `multiLine`: Spark then reads
each file in one task. A single messages.csv is counted by one core, whatever the cluster;
a directory (or prefix) of part files is read in parallel, one task per file.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

RESULT_FILE = "pipeline_result.csv"
RESULT_COLUMNS = ("rank", "user_id", "name", "messages")
MESSAGE_ID_COLUMN = "message_id"
MESSAGE_AUTHOR_COLUMNS = ("author_id", "user_id")
USER_ID_COLUMNS = ("user_id", "id")
MAX_COLUMNS = 1000
MAX_HEADER_BYTES = 64 * 1024
SHOWN_COLUMNS = 10

# What the Polars engine's `str.strip_chars().cast(Int64, strict=False)` accepts: an optional
# sign and ASCII digits between any Unicode white space ((?U) makes Java's \s Unicode's).
INTEGER_PATTERN = r"(?U)^\s*([+-]?[0-9]+)\s*$"
UNICODE_STRIP = r"(?U)^\s+|\s+$"
# Spark reads an unquoted empty field and a quoted "" alike as null when `nullValue` is the
# empty string; Polars reads the first as null and the second as "". A `nullValue` no CSV
# holds keeps the two apart, as Polars does.
NO_NULL_TEXT = "\ufffe\uffff"
REPLACEMENT = "\ufffd"  # what Spark's decoder reads a byte that is not UTF-8 as
CSV_OPTIONS = {
    "header": "true",
    "multiLine": "true",  # quoted line breaks (CRLF or LF) inside a field
    "escape": '"',  # "" inside quotes, as RFC 4180 has it (Spark's default is a backslash)
    "mode": "FAILFAST",  # a record wider or narrower than the header is an error
    "encoding": "UTF-8",
    "nullValue": NO_NULL_TEXT,
    "inferSchema": "false",  # every column text: the checks are ours
}
# Without this Spark tokenises only the columns a query reads, and misses a record with a
# field too many (Polars' engine turns projection pushdown off for the same reason).
SESSION_CONF = {
    "spark.sql.csv.parser.columnPruning.enabled": "false",
    "spark.sql.ansi.enabled": "true",
}
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    # Two shuffle partitions per core rather than 200: the counts are one row per user.
    "spark.sql.shuffle.partitions": str(2 * (os.cpu_count() or 1)),
}


class InputError(Exception):
    """An input (or the output location) that cannot be used, said in one line."""

    def __init__(self, file: str, message: str, *, column: str | None = None) -> None:
        self.file = file
        self.column = column
        self.reason = message
        where = file if column is None else f"{file}, column {column!r}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Summary:
    messages: int
    users: int
    ranked_users: int
    orphan_messages: int
    orphan_users: int
    seconds: float
    output: str


def local_session(master: str = "local[*]", app_name: str = "tempo-aggregate") -> SparkSession:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**LOCAL_CONF, **SESSION_CONF}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _shown(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(repr(name) for name in names[:SHOWN_COLUMNS])
    return shown if len(names) <= SHOWN_COLUMNS else f"{shown}, … ({len(names):,} columns)"


def header(spark: SparkSession, path: str) -> list[str]:
    """The first line's names, checked as the Polars engine checks them: UTF-8 text, LF or
    CRLF line endings, each name once, at most MAX_COLUMNS of them."""
    first = spark.read.format("text").load(path).limit(1).collect()
    if not first:
        raise InputError(path, "the file is empty; expected a header row")
    line: str = first[0][0].removeprefix("\ufeff").removesuffix("\r")
    if len(line.encode()) > MAX_HEADER_BYTES:  # read whole by Spark's text reader, first
        raise InputError(
            path,
            f"the header row is longer than {MAX_HEADER_BYTES:,} bytes (no line break "
            "found); this is not a messages, users or result file",
        )
    if "\x00" in line[:1024] or line.startswith("\ufffd\ufffd"):
        raise InputError(
            path, "the file is UTF-16 (or binary), not UTF-8 text; save it as UTF-8 CSV"
        )
    if "\r" in line.split('"', 1)[0]:
        raise InputError(
            path,
            "lines end with a bare CR (old Mac line endings); save the file with LF or CRLF "
            "line endings",
        )
    names = next(csv.reader([line]), [])
    if len(names) > MAX_COLUMNS:
        raise InputError(
            path, f"the header has {len(names):,} columns; at most {MAX_COLUMNS:,} are read"
        )
    seen: dict[str, int] = {}
    for number, name in enumerate(names, start=1):
        if name in seen:
            raise InputError(
                path,
                f"duplicate column name {name!r} (columns {seen[name]} and {number}); "
                "each column must be named once",
                column=name,
            )
        seen[name] = number
    return names


def pick_column(path: str, names: list[str], candidates: tuple[str, ...]) -> str:
    for candidate in candidates:
        if candidate in names:
            return candidate
    wanted = " or ".join(repr(c) for c in candidates)
    raise InputError(
        path,
        f"missing column {wanted}; the header has {_shown(names)}",
        column=candidates[0],
    )


def read_csv(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.options(**CSV_OPTIONS).csv(path)


def as_int(column: str) -> Column:
    from pyspark.sql import functions as F

    return F.regexp_extract(F.col(column), INTEGER_PATTERN, 1).try_cast("bigint")


def strip(column: Column) -> Column:
    from pyspark.sql import functions as F

    return F.regexp_replace(column, UNICODE_STRIP, "")


def _refuse_bad_integer(path: str, frame: DataFrame, column: str) -> None:
    """Called once a count has shown a bad id: a second pass finds one to show."""
    bad = frame.filter(as_int(column).isNull()).select(column).first()
    if bad is None:
        return
    value = bad[0]
    if value is None:
        raise InputError(path, "empty value; expected an integer", column=column)
    raise InputError(path, f"not an integer (value {value[:80]!r})", column=column)


def _replaced(frame: DataFrame) -> Column:
    """True for a record holding U+FFFD: Spark's decoder puts one in place of every byte that
    is not UTF-8, where the Polars engine refuses the file. A file that holds U+FFFD itself
    is refused too; that character has no place in these files."""
    from pyspark.sql import functions as F

    fields = [F.coalesce(F.col(f"`{name}`"), F.lit("")) for name in frame.columns]
    return F.concat_ws("", *fields).contains(REPLACEMENT)


def _refuse_replaced(path: str, records: int) -> None:
    if records:
        raise InputError(
            path,
            f"not valid UTF-8 text ({records:,} record{'s' if records > 1 else ''} with bytes "
            "that are not UTF-8, or with U+FFFD); save it as UTF-8 CSV",
        )


def _refuse_empty(path: str, rows: int, allow_empty: bool) -> None:
    if rows == 0 and not allow_empty:
        raise InputError(
            path,
            "no data rows after the header; an empty input is accepted only when asked for "
            '(tempo … --allow-empty, or "allow_empty": true in the request)',
        )


def count_messages(spark: SparkSession, path: str, *, allow_empty: bool = False) -> DataFrame:
    """user_id → messages (a small cached frame), after checking that every author id is an
    integer and that there is at least one message unless `allow_empty`."""
    from pyspark.sql import functions as F

    names = header(spark, path)
    pick_column(path, names, (MESSAGE_ID_COLUMN,))
    author = pick_column(path, names, MESSAGE_AUTHOR_COLUMNS)
    frame = read_csv(spark, path)
    counts = (
        frame.groupBy(as_int(author).alias("user_id"))
        .agg(
            F.count(F.lit(1)).alias("messages"),
            F.count_if(_replaced(frame)).alias("replaced"),
        )
        .cache()
    )
    try:
        totals = counts.agg(
            F.coalesce(F.sum("messages"), F.lit(0)).alias("messages"),
            F.count_if(F.col("user_id").isNull()).alias("bad"),
            F.coalesce(F.sum("replaced"), F.lit(0)).alias("replaced"),
        ).first()
        assert totals is not None  # a global aggregate has one row
        _refuse_replaced(path, int(totals["replaced"]))
        _refuse_empty(path, int(totals["messages"]), allow_empty)
        if totals["bad"]:
            _refuse_bad_integer(path, frame, author)
    except BaseException:
        counts.unpersist()
        raise
    return counts


def read_users(spark: SparkSession, path: str, *, allow_empty: bool = False) -> DataFrame:
    """user_id → name, after checking integer ids, each id once, no NUL in a name, and at
    least one user unless `allow_empty`."""
    from pyspark.sql import functions as F

    names = header(spark, path)
    id_column = pick_column(path, names, USER_ID_COLUMNS)
    if "first_name" in names or "last_name" in names:
        first = pick_column(path, names, ("first_name",))
        last = pick_column(path, names, ("last_name",))
        name = F.concat_ws(" ", strip(F.col(first)), strip(F.col(last)))
    elif "name" in names:
        name = strip(F.col("name"))
    else:
        raise InputError(
            path,
            "missing name columns: expected 'first_name' and 'last_name', or 'name'; "
            f"the header has {_shown(names)}",
            column="name",
        )
    frame = read_csv(spark, path)
    users = frame.select(
        as_int(id_column).alias("user_id"),
        F.coalesce(name, F.lit("")).alias("name"),
        _replaced(frame).alias("replaced"),
    ).cache()
    try:
        checks = users.agg(
            F.count(F.lit(1)).alias("rows"),
            F.count_if("replaced").alias("replaced"),
            F.count_if(F.col("user_id").isNull()).alias("bad"),
            F.count_if(F.col("name").contains("\x00")).alias("nul"),
            F.count_distinct("user_id").alias("distinct"),
        ).first()
        assert checks is not None
        _refuse_replaced(path, int(checks["replaced"]))
        _refuse_empty(path, int(checks["rows"]), allow_empty)
        if checks["bad"]:
            _refuse_bad_integer(path, frame, id_column)
        if checks["nul"]:
            raise InputError(
                path, "contains a NUL character, which PostgreSQL cannot store", column="name"
            )
        if checks["distinct"] != checks["rows"]:
            again = (
                users.groupBy("user_id")
                .count()
                .filter(F.col("count") > 1)
                .orderBy("user_id")
                .first()
            )
            assert again is not None
            raise InputError(
                path,
                f"duplicate user id {again['user_id']}: {again['count']} rows have it",
                column=id_column,
            )
    except BaseException:
        users.unpersist()
        raise
    return users


def csv_field(value: str) -> str:
    """A text field as Polars' `write_csv` writes it: quoted when empty or when it holds a
    comma, a quote or a line break."""
    if value == "" or any(c in value for c in ',"\n\r'):
        return '"' + value.replace('"', '""') + '"'
    return value


@dataclass
class _Tally:
    messages: int = 0
    users: int = 0
    ranked: int = 0
    orphan_messages: int = 0
    orphan_users: int = 0


def ranked_lines(
    spark: SparkSession, counts: DataFrame, users: DataFrame, tally: _Tally
) -> Iterator[str]:
    """The result's lines, header first, in (rank, user_id) order: every user of either
    side, competition ranks (1, 2, 2, 4), unknown authors with an empty name."""
    from pyspark.sql import functions as F

    joined = (
        users.withColumn("known", F.lit(True))
        .join(counts, on="user_id", how="full")
        .select(
            "user_id",
            F.coalesce(F.col("name"), F.lit("")).alias("name"),
            F.coalesce(F.col("messages"), F.lit(0)).alias("messages"),
            F.coalesce(F.col("known"), F.lit(False)).alias("known"),
        )
        .orderBy(F.desc("messages"), F.asc("user_id"))
    )
    yield ",".join(RESULT_COLUMNS) + "\n"
    rank, previous = 0, None
    for position, row in enumerate(joined.toLocalIterator(prefetchPartitions=True), start=1):
        user_id, name, messages, known = row
        if messages != previous:
            rank, previous = position, messages
        tally.ranked += 1
        tally.messages += messages
        if known:
            tally.users += 1
        else:
            tally.orphan_users += 1
            tally.orphan_messages += messages
        yield f"{rank},{user_id},{csv_field(name)},{messages}\n"


def _is_local(location: str) -> bool:
    return "://" not in location and not location.startswith(("file:", "dbfs:"))


def output_file(location: str) -> str:
    """OUTPUT/pipeline_result.csv, or OUTPUT itself when it names a .csv file (an object
    store's key rather than a folder)."""
    if _is_local(location):
        if os.path.exists(location) and not os.path.isdir(location):
            raise InputError(location, "the output path must be a directory")
        return os.path.join(location, RESULT_FILE)
    if location.endswith(".csv"):
        return location
    return location.rstrip("/") + "/" + RESULT_FILE


def _batches(lines: Iterable[str], size: int = 1 << 20) -> Iterator[bytes]:
    buffer = io.StringIO()
    for line in lines:
        buffer.write(line)
        if buffer.tell() >= size:
            yield buffer.getvalue().encode()
            buffer = io.StringIO()
    if buffer.tell():
        yield buffer.getvalue().encode()


def write(spark: SparkSession, target: str, lines: Iterable[str]) -> None:
    """A local file is written beside the target and renamed over it (readers see the old
    file or the new one); anywhere else goes through Hadoop's FileSystem, as Spark writes."""
    if _is_local(target):
        folder = os.path.dirname(target) or "."
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{RESULT_FILE}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in _batches(lines):
                    handle.write(chunk)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return
    jvm: Any = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(target)
    filesystem = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    filesystem.setWriteChecksum(False)  # no .crc file beside it on a local file system
    stream = filesystem.create(hadoop_path, True)
    try:
        for chunk in _batches(lines):
            stream.write(bytearray(chunk))
    finally:
        stream.close()


def aggregate(
    spark: SparkSession,
    messages: str,
    users: str,
    output: str,
    *,
    allow_empty: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Summary:
    """Check and aggregate both inputs and write the result; an InputError names what is
    wrong with which input. `progress` is told each stage's name as it starts."""
    say = progress or (lambda _: None)
    started = time.perf_counter()
    for key, value in SESSION_CONF.items():
        spark.conf.set(key, value)
    target = output_file(output)
    cached: list[DataFrame] = []  # unpersisted whatever happens: a cached plan of the same
    # path would otherwise answer the next run in this session with this run's data
    tally = _Tally()
    try:
        say(f"counting messages in {messages}")
        with spark_errors(messages):
            cached.append(count_messages(spark, messages, allow_empty=allow_empty))
        say(f"reading users from {users}")
        with spark_errors(users):
            cached.append(read_users(spark, users, allow_empty=allow_empty))
        say(f"ranking and writing {target}")
        write(spark, target, ranked_lines(spark, cached[0], cached[1], tally))
    finally:
        for frame in cached:
            frame.unpersist()
    return Summary(
        messages=tally.messages,
        users=tally.users,
        ranked_users=tally.ranked,
        orphan_messages=tally.orphan_messages,
        orphan_users=tally.orphan_users,
        seconds=time.perf_counter() - started,
        output=target,
    )


class spark_errors:  # noqa: N801 - used as a context manager, like contextlib's
    """Spark's errors about an input, as InputErrors naming it; anything else passes."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        if exc is None or isinstance(exc, InputError):
            return
        text = str(exc)
        if "PATH_NOT_FOUND" in text:
            raise InputError(self.path, "file not found") from None
        if "No FileSystem for scheme" in text or "UnsupportedFileSystemException" in text:
            scheme = self.path.split(":", 1)[0]
            raise InputError(
                self.path,
                f"Spark has no file system for {scheme}:// here (s3a:// needs the hadoop-aws "
                "jars: spark-submit --packages org.apache.hadoop:hadoop-aws:<Spark's Hadoop "
                "version>)",
            ) from None
        if "MALFORMED_RECORD" in text or "MALFORMED_CSV_RECORD" in text:
            record = ""
            marker = "Malformed CSV record: "
            if marker in text:
                record = text.split(marker, 1)[1].split(" SQLSTATE", 1)[0].splitlines()[0]
            raise InputError(
                self.path,
                "malformed record: a record has more or fewer fields than the header, or an "
                "unclosed quote" + (f" (record {record[:80]!r})" if record else ""),
            ) from None


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(
        prog="spark_job.py",
        description="Rank users by message count into OUTPUT/pipeline_result.csv (Spark).",
    )
    command.add_argument("messages", help="messages.csv (message_id, and author_id or user_id)")
    command.add_argument("users", help="users.csv (user_id or id, and names)")
    command.add_argument(
        "output", help="Directory (or s3a://…/ prefix) for pipeline_result.csv, or a .csv path"
    )
    command.add_argument(
        "--allow-empty", action="store_true", help="Accept inputs with a header and no rows"
    )
    return command


def summary_line(summary: Summary) -> str:
    rows = summary.messages + summary.users
    return (
        f"read {rows:,} rows ({summary.messages:,} messages, {summary.users:,} users) → "
        f"{summary.ranked_users:,} ranked users, {summary.orphan_messages:,} orphan messages "
        f"from {summary.orphan_users:,} unknown users, in {summary.seconds:.2f} s → "
        f"{summary.output}"
    )


def main(argv: list[str] | None = None) -> int:
    """spark-submit's (and Databricks') entry point: the session is the one they made."""
    from pyspark.sql import SparkSession

    args = parser().parse_args(argv)
    spark = SparkSession.builder.appName("tempo-aggregate").getOrCreate()
    try:
        summary = aggregate(
            spark, args.messages, args.users, args.output, allow_empty=args.allow_empty
        )
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary_line(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
