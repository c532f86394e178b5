"""`tempo aggregate --engine spark`: the PySpark job (tempo.pipeline.spark_job) on a local
SparkSession, its errors as Tempo's, and Spark's own chatter kept off the terminal.

PySpark is optional (the `spark` extra); nothing here imports it until the engine runs.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tempo.core.csv_input import CsvError
from tempo.core.errors import TempoError
from tempo.pipeline.aggregate import Progress

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from tempo.pipeline.spark_job import Summary

DEFAULT_MASTER = "local[*]"


class SparkUnavailable(TempoError):
    def __init__(self, message: str) -> None:
        super().__init__(503, "spark_unavailable", message)


@contextmanager
def _stderr_to(log: Path) -> Iterator[None]:
    """File descriptor 2 points at `log` inside the block. The JVM that PySpark starts
    inherits it, so its start-up lines (and log4j's, and Java's warnings) land in the log
    for good, while Python's own stderr comes back after the block."""
    saved = os.dup(2)
    try:
        with log.open("ab") as handle:
            os.dup2(handle.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def spark_log() -> Path:
    return Path(tempfile.gettempdir()) / f"tempo-spark-{os.getuid()}.log"


def start_session(master: str = DEFAULT_MASTER) -> SparkSession:
    """A local SparkSession with the job's settings, or a SparkUnavailable saying why not."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SparkUnavailable(
            "the Spark engine needs PySpark, which `make run` does not install: "
            "uv sync --extra spark (or pip install 'tempo[spark]'), and Java 17 or newer"
        ) from None
    from tempo.pipeline.spark_job import local_session

    # PySpark warns about the installed pandas, which the job does not use.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"pyspark(\..*)?")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    log = spark_log()
    try:
        with _stderr_to(log):
            return local_session(master)
    except Exception as exc:  # Java missing, a bad --master, a port refused, …
        raise SparkUnavailable(
            f"Spark did not start ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
            f"it needs Java 17 or newer (java on PATH, or JAVA_HOME); Spark's log: {log}"
        ) from None


def aggregate_on_spark(
    messages: str,
    users: str,
    output: str,
    *,
    master: str = DEFAULT_MASTER,
    progress: Progress | None = None,
    allow_empty: bool = False,
) -> Summary:
    """The same checks and the same pipeline_result.csv as the Polars engine, computed by
    Spark; a bad input is a CsvError (Spark does not number rows, so it names none)."""
    from tempo.pipeline.spark_job import InputError, aggregate

    if progress is not None:
        progress(f"starting Spark ({master})")
    spark = start_session(master)
    try:
        summary = aggregate(
            spark, messages, users, output, allow_empty=allow_empty, progress=progress
        )
    except InputError as exc:
        raise CsvError(exc.file, exc.reason, column=exc.column) from None
    finally:
        spark.stop()
    return summary
