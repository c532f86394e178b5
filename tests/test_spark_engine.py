"""The Spark engine (tempo.pipeline.spark_job) on Spark's local mode: byte for byte the
Polars engine's pipeline_result.csv, the same kind of errors, and the cluster and
Databricks configuration checked offline."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pyspark  # the `spark` extra, which `make install` (the dev group) brings
import pytest

from tempo.core.csv_input import CsvError
from tempo.pipeline.aggregate import RESULT_FILE, aggregate
from tempo.pipeline.sample import write_messages, write_users
from tempo.pipeline.spark_job import InputError, Summary, parser
from tests.fixtures.files import write
from tests.fixtures.processes import tempo

ROOT = Path(__file__).resolve().parents[1]
JOB = ROOT / "src" / "tempo" / "pipeline" / "spark_job.py"

USERS = "user_id,first_name,last_name\n1,Ada,Lovelace\n2,Alan,Turing\n3,Grace,Hopper\n"


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One local SparkSession for the whole run: starting one takes seconds."""
    from tempo.pipeline.spark_engine import start_session

    session = start_session("local[2]")
    yield session
    session.stop()


def both(spark: object, folder: Path, messages: str | bytes, users: str | bytes) -> bytes:
    """Both engines on the same files; the Spark result's bytes, after checking that they
    are the Polars result's."""
    from tempo.pipeline.spark_job import aggregate as spark_aggregate

    m = write(folder / "messages.csv", messages)
    u = write(folder / "users.csv", users)
    polars = aggregate(m, u, folder / "polars")
    summary = spark_aggregate(spark, str(m), str(u), str(folder / "spark"))  # type: ignore[arg-type]
    expected = (folder / "polars" / RESULT_FILE).read_bytes()
    produced = (folder / "spark" / RESULT_FILE).read_bytes()
    assert produced == expected
    assert sorted(p.name for p in (folder / "spark").iterdir()) == [RESULT_FILE]
    counted = ("messages", "users", "ranked_users", "orphan_messages", "orphan_users")
    assert [getattr(summary, k) for k in counted] == [getattr(polars, k) for k in counted]
    return produced


NASTY = {
    "bom-crlf-quoted-newlines": (
        b"\xef\xbb\xbfmessage_id,author_id,received_at,content\r\n"
        b'1,1,2023-01-01 10:00:00,"multi\r\nline, with ""quotes"""\r\n'
        b'2,2,2023-01-01T10:00:00+02:00,"a\nb"\r\n'
        b"3,1,2023-01-02 10:00:00.123456,plain",
        b"\xef\xbb\xbfuser_id,first_name,last_name\r\n1,Ada,Lovelace\r\n2,Alan,Turing",
    ),
    "orphans-and-users-without-messages": (
        "message_id,author_id\n1,1\n2,99\n3,99\n4,42\n5,-7\n",
        USERS + "4,Nobody,Wrote\n",
    ),
    "ties-share-a-rank-ordered-by-user-id": (
        "message_id,author_id\n1,7\n2,7\n3,7\n4,10\n5,10\n6,2\n7,2\n8,4\n",
        "user_id,name\n10,J\n4,D\n7,G\n2,B\n11,K\n",
    ),
    "padded-signed-and-zero-padded-ids": (
        'message_id,user_id\n1, 1\n2,2 \n3,01\n4,+2\n5,"3"\n6,\u00a03\n',
        "id,name\n 1 , Eve \n2,Mallory\n3,\n",
    ),
    "names-to-quote-and-empty-names": (
        "message_id,author_id\n1,1\n2,2\n3,3\n4,4\n",
        'user_id,first_name,last_name\n1,"Bo, ""the""","Line\r\nbreak"\n2,"",Turing\n'
        "3,,Hopper\n4,  ,  \n5,Zoë,Ünal\n",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", NASTY, ids=list(NASTY))
def test_nasty_inputs_give_the_polars_engines_bytes(
    spark: object, tmp_path: Path, case: str
) -> None:
    messages, users = NASTY[case]
    produced = both(spark, tmp_path, messages, users)
    assert produced.startswith(b"rank,user_id,name,messages\n")


@pytest.mark.slow
def test_a_million_generated_messages_give_the_polars_engines_bytes(
    spark: object, tmp_path: Path
) -> None:
    write_users(tmp_path / "users.csv", 200_000)
    write_messages(tmp_path / "messages.csv", 1_000_000, 200_000, orphan_every=101)
    produced = both(
        spark,
        tmp_path,
        (tmp_path / "messages.csv").read_bytes(),
        (tmp_path / "users.csv").read_bytes(),
    )
    lines = produced.splitlines()
    assert len(lines) > 200_000  # every user, and the orphans' authors
    assert lines[-1].endswith(b",0")  # users without messages are ranked too, last


def spark_error(spark: object, folder: Path, messages: str, users: str = USERS) -> str:
    from tempo.pipeline.spark_job import aggregate as spark_aggregate

    m = write(folder / "messages.csv", messages)
    u = write(folder / "users.csv", users)
    with pytest.raises(InputError) as caught:
        spark_aggregate(spark, str(m), str(u), str(folder / "spark"))  # type: ignore[arg-type]
    assert not (folder / "spark" / RESULT_FILE).exists()
    return str(caught.value)


def polars_error(folder: Path) -> str:
    with pytest.raises(CsvError) as caught:
        aggregate(folder / "messages.csv", folder / "users.csv", folder / "polars")
    return caught.value.message


FAILING = {
    "missing-author-column": ("message_id,writer\n1,1\n", USERS),
    "missing-name-columns": ("message_id,author_id\n1,1\n", "user_id,email\n1,a@b.c\n"),
    "non-integer-author": ("message_id,author_id\n1,1\n2,2\n3,x7\n4,1\n", USERS),
    "decimal-author": ('message_id,author_id,content\n1,1,"a\nb"\n2,1.5,x\n', USERS),
    "empty-author": ("message_id,author_id,content\n1,1,a\n2,,b\n", USERS),
    "too-large-author": ("message_id,author_id\n1,9223372036854775808\n", USERS),
    "non-integer-user-id": ("message_id,author_id\n1,1\n", "user_id,name\n1,A\n2.5,B\n"),
    "duplicate-column": ("message_id,author_id,author_id\n1,1,1\n", USERS),
    "header-only": ("message_id,author_id\n", USERS),
    "empty-file": ("", USERS),
    "header-too-long": ("x" * 70_000 + ",message_id,author_id\n1,1,1\n", USERS),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", FAILING, ids=list(FAILING))
def test_bad_inputs_fail_as_the_polars_engine_says_without_the_row(
    spark: object, tmp_path: Path, case: str
) -> None:
    """The same file, column, reason and value; the Polars engine also names the row or
    line, which Spark (reading in parallel, with no row numbers) does not."""
    said = spark_error(spark, tmp_path, *FAILING[case])
    expected = re.sub(r", (row|line) \d+", "", polars_error(tmp_path))
    assert said == expected


@pytest.mark.slow
def test_failures_polars_words_differently_are_still_named(spark: object, tmp_path: Path) -> None:
    said = spark_error(
        spark, tmp_path, "message_id,author_id\n1,1\n", "user_id,name\n1,A\n2,B\n1,C\n"
    )
    assert said.endswith("users.csv, column 'user_id': duplicate user id 1: 2 rows have it")
    said = spark_error(spark, tmp_path, "message_id,author_id\n1,1\n2,2\n3,1,extra\n")
    assert "messages.csv: malformed record" in said and "'3,1,extra'" in said
    said = spark_error(spark, tmp_path, "message_id,author_id\n1,1\n", "user_id,name\n1,A\x00\n")
    assert said.endswith(
        "users.csv, column 'name': contains a NUL character, which PostgreSQL cannot store"
    )


@pytest.mark.slow
@pytest.mark.parametrize("bad", ["messages.csv", "users.csv"])
def test_bytes_that_are_not_utf8_are_refused_as_by_the_polars_engine(
    spark: object, tmp_path: Path, bad: str
) -> None:
    from tempo.pipeline.spark_job import aggregate as spark_aggregate

    files = {"messages.csv": b"message_id,author_id,content\n1,1,ok\n2,1,ok\n",
             "users.csv": b"user_id,name\n1,A\n"}  # fmt: skip
    files[bad] = files[bad].replace(b"ok" if bad == "messages.csv" else b"A", b"caf\xe9", 1)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(InputError) as caught:  # Spark's decoder would read U+FFFD instead
        spark_aggregate(spark, str(tmp_path / "messages.csv"), str(tmp_path / "users.csv"),  # type: ignore[arg-type]
                        str(tmp_path / "spark"))  # fmt: skip
    said = str(caught.value)
    assert f"{bad}: not valid UTF-8 text (1 record with bytes that are not UTF-8" in said, said
    assert "not valid UTF-8 text" in polars_error(tmp_path)


@pytest.mark.slow
def test_the_cli_is_quiet_and_fails_in_one_line(tmp_path: Path) -> None:
    m = write(tmp_path / "messages.csv", "message_id,author_id\n1,2\n2,2\n3,9\n")
    u = write(tmp_path / "users.csv", USERS)
    done = tempo("aggregate", "--engine", "spark", "--master", "local[1]", str(m), str(u),
                 str(tmp_path / "out"), timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # Spark's and Java's start-up lines went to its log
    assert done.stdout.startswith("read 6 rows (3 messages, 3 users) → 4 ranked users, ")
    assert (tmp_path / "out" / RESULT_FILE).read_text() == (
        'rank,user_id,name,messages\n1,2,Alan Turing,2\n2,9,"",1\n3,1,Ada Lovelace,0\n'
        "3,3,Grace Hopper,0\n"
    )
    bad = write(tmp_path / "bad.csv", "message_id,author_id\n1,x\n")
    failed = tempo("aggregate", "--engine", "spark", "--master", "local[1]", str(bad), str(u),
                   str(tmp_path / "out"), timeout=300)  # fmt: skip
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines() == [
        f"error: {bad}, column 'author_id': not an integer (value 'x')"
    ]


@pytest.mark.slow
def test_spark_submit_runs_the_job_file_alone_and_writes_through_hadoop(tmp_path: Path) -> None:
    """`spark-submit spark_job.py …` as on a cluster: no Tempo package needed, the output
    written through Hadoop's FileSystem (a file: URL here, s3a:// there)."""
    submit = Path(sys.executable).parent / "spark-submit"
    assert submit.is_file(), "PySpark installs spark-submit beside python"
    m = write(tmp_path / "m.csv", "message_id,author_id\n1,3\n2,3\n3,1\n4,8\n")
    u = write(tmp_path / "u.csv", USERS)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(JOB, alone / "spark_job.py")  # away from the source tree: only pyspark
    target = f"file://{tmp_path}/out/result.csv"
    done = subprocess.run(
        [str(submit), "--master", "local[1]", "--conf", "spark.ui.enabled=false",
         "--driver-java-options", "-Dlog4j2.level=error",
         str(alone / "spark_job.py"), str(m), str(u), target],
        capture_output=True, text=True, timeout=300, cwd=alone, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"→ {target}" in done.stdout
    aggregate(m, u, tmp_path / "polars")
    assert (tmp_path / "out" / "result.csv").read_bytes() == (
        tmp_path / "polars" / RESULT_FILE
    ).read_bytes()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["result.csv"]


# --- what cannot run here, checked offline -----------------------------------------------


def test_the_databricks_job_runs_the_job_file_with_arguments_it_takes() -> None:
    job = json.loads((ROOT / "infra" / "databricks" / "aggregate_job.json").read_text())
    assert isinstance(job["name"], str) and job["max_concurrent_runs"] == 1
    clusters = {c["job_cluster_key"]: c["new_cluster"] for c in job["job_clusters"]}
    (task,) = job["tasks"]
    assert task["job_cluster_key"] in clusters
    cluster = clusters[task["job_cluster_key"]]
    # Databricks Runtime 17 is Spark 4, as PySpark here is (Column.try_cast needs 4.0).
    assert int(cluster["spark_version"].split(".")[0]) >= 17 and cluster["num_workers"] >= 1
    python_task = task["spark_python_task"]
    assert python_task["source"] == "GIT" and job["git_source"]["git_branch"]
    assert (ROOT / python_task["python_file"]).resolve() == JOB
    args = parser().parse_args(python_task["parameters"])
    assert all(p.startswith("s3a://") for p in (args.messages, args.users, args.output))
    assert cluster["spark_conf"].items() <= spark_defaults().items()


def spark_defaults() -> dict[str, str]:
    pairs = (
        line.split(None, 1)
        for line in (ROOT / "infra" / "spark" / "spark-defaults.conf").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return {key: value.strip() for key, value in pairs}


def test_the_s3a_settings_name_the_hadoop_aws_of_pysparks_hadoop() -> None:
    """hadoop-aws must match the Hadoop jars PySpark bundles, or S3A fails at class loading."""
    conf = spark_defaults()
    package = conf["spark.jars.packages"]
    group, artifact, version = package.split(":")
    assert (group, artifact) == ("org.apache.hadoop", "hadoop-aws")
    jars = Path(pyspark.__file__).parent / "jars"
    (client,) = jars.glob("hadoop-client-api-*.jar")
    assert client.name == f"hadoop-client-api-{version}.jar"
    with zipfile.ZipFile(client) as jar:  # and S3A itself is indeed not in it
        assert not any("fs/s3a/S3AFileSystem" in name for name in jar.namelist())
    from tempo.pipeline.spark_job import SESSION_CONF

    assert SESSION_CONF.items() <= conf.items()


def test_the_job_file_imports_nothing_of_tempo() -> None:
    """spark-submit and Databricks get this one file: it must stand alone."""
    source = JOB.read_text()
    assert not re.search(r"^\s*(from|import) tempo", source, re.MULTILINE)
    args = parser().parse_args(["m.csv", "u.csv", "out", "--allow-empty"])
    assert args.allow_empty and Summary.__dataclass_fields__.keys() >= {"messages", "output"}


def test_the_job_files_copies_of_the_contract_match_the_polars_engines() -> None:
    """Standing alone, the job file repeats the names and limits the Polars engine takes
    from tempo.pipeline.aggregate and tempo.core.csv_input: they must not drift apart."""
    from tempo.core import csv_input
    from tempo.pipeline import aggregate as polars_engine
    from tempo.pipeline import spark_job

    for name in ("RESULT_FILE", "RESULT_COLUMNS", "MESSAGE_ID_COLUMN",
                 "MESSAGE_AUTHOR_COLUMNS", "USER_ID_COLUMNS"):  # fmt: skip
        assert getattr(spark_job, name) == getattr(polars_engine, name), name
    for name in ("MAX_COLUMNS", "MAX_HEADER_BYTES", "SHOWN_COLUMNS"):
        assert getattr(spark_job, name) == getattr(csv_input, name), name


def test_make_run_leaves_pyspark_out_and_make_test_brings_it() -> None:
    """`make run` syncs without the dev group; `make install` (hence `make test`) with it."""
    from tests.fixtures.processes import find_uv

    def exported(*args: str) -> str:
        return subprocess.run(
            [str(find_uv()), "export", "--locked", "--no-hashes", "--no-emit-project", *args],
            capture_output=True, text=True, check=True, cwd=ROOT, timeout=120,
        ).stdout  # fmt: skip

    assert "pyspark==" not in exported("--no-dev")
    assert "pyspark==" in exported("--group", "dev")
    assert "pyspark==" in exported("--no-dev", "--extra", "spark")
