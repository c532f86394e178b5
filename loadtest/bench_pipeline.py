"""Pipeline benchmark: aggregation against DuckDB and pandas, memory/throughput, COPY feed.

Every figure comes with a baseline measured in the same run, because shared machines are
noisy: `tempo aggregate` against DuckDB and pandas computing the same ranking from the
same files (each its own process, runs alternated, outputs checked byte for byte), the
streaming aggregation against Polars' in-memory engine on the same file, and the COPY feed
against row-by-row INSERTs of the same rows.

    uv run python loadtest/bench_pipeline.py [--messages 10000000] [--users 100000]
        [--versus 1000000,5000000] [--large] [--repeat 3]

Writes a markdown table to stdout and to bench-results/pipeline.md. Generated inputs are
kept in bench-results/ and reused when their size matches.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench-results"
TEMPO = [sys.executable, "-m", "tempo"]

IN_MEMORY_AGGREGATION = """
import sys, polars as pl
m = pl.read_csv(sys.argv[1], infer_schema=False)
u = pl.read_csv(sys.argv[2], infer_schema=False)
counts = m.group_by(pl.col("author_id").cast(pl.Int64).alias("user_id")).agg(pl.len())
name = pl.concat_str("first_name", "last_name", separator=" ")
users = u.select(pl.col("user_id").cast(pl.Int64), name=name)
r = users.join(counts, on="user_id", how="full", coalesce=True)
print(r.height)
"""

# The ranking `tempo aggregate` writes (pipeline_result.csv), as DuckDB SQL: the messages
# per author, every user from either side, competition rank, ordered by rank then user id.
DUCKDB_RANKING = """
import sys, duckdb
messages, users, output = sys.argv[1:4]
duckdb.execute(\"\"\"
COPY (
  WITH counts AS (
    SELECT author_id AS user_id, count(*) AS messages
    FROM read_csv($messages, header = true, columns = {'message_id': 'VARCHAR',
      'author_id': 'BIGINT', 'received_at': 'VARCHAR', 'content': 'VARCHAR'})
    GROUP BY author_id),
  users AS (
    SELECT user_id, concat_ws(' ', trim(first_name), trim(last_name)) AS name
    FROM read_csv($users, header = true, columns = {'user_id': 'BIGINT',
      'first_name': 'VARCHAR', 'last_name': 'VARCHAR'})),
  joined AS (
    SELECT coalesce(u.user_id, c.user_id) AS user_id, coalesce(u.name, '') AS name,
           coalesce(c.messages, 0) AS messages
    FROM users u FULL OUTER JOIN counts c ON u.user_id = c.user_id)
  SELECT rank() OVER (ORDER BY messages DESC) AS rank, user_id, name, messages
  FROM joined ORDER BY rank, user_id
) TO '\"\"\" + output.replace("'", "''") + \"\"\"' (HEADER, DELIMITER ',')
\"\"\", {"messages": messages, "users": users})
"""

# The same ranking in pandas, reading only the author column of the messages. Polars writes
# an empty name as "" (an empty string, not a missing value); pandas would write nothing,
# so the unknown authors' names are written as "" here (the generated names need no quotes:
# the csv module raises if one does).
PANDAS_RANKING = """
import csv, sys, pandas as pd
messages, users, output = sys.argv[1:4]
authors = pd.read_csv(messages, usecols=["author_id"], dtype={"author_id": "int64"})
counts = authors["author_id"].value_counts().rename("messages").rename_axis("user_id")
people = pd.read_csv(users, dtype={"user_id": "int64", "first_name": str, "last_name": str})
first, last = (people[c].fillna("").str.strip() for c in ("first_name", "last_name"))
people["name"] = (first + " " + last).str.strip()
ranked = people[["user_id", "name"]].merge(counts.reset_index(), on="user_id", how="outer")
ranked["messages"] = ranked["messages"].fillna(0).astype("int64")
ranked["rank"] = ranked["messages"].rank(method="min", ascending=False).astype("int64")
ranked = ranked.sort_values(["rank", "user_id"])[["rank", "user_id", "name", "messages"]]
ranked.to_csv(output, index=False, quoting=csv.QUOTE_NONE, na_rep='""')
"""


@dataclass
class Run:
    seconds: float
    # The kernel's high-water mark of the resident set (getrusage ru_maxrss): exact, and the
    # same measure for every process, whatever it is written in.
    peak_rss_mb: float
    peak_anon_mb: float  # resident anonymous memory, sampled: what the process allocated
    cpu_seconds: float
    output: str


def _rss_anon_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def measure(cmd: list[str], env: dict[str, str] | None = None) -> Run:
    """Wall time, CPU time and peak memory of one child process."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        peak_anon = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            peak_anon = max(peak_anon, _rss_anon_kb(proc.pid))
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output}")
    return Run(
        seconds,
        usage.ru_maxrss / 1024,
        peak_anon / 1024,
        usage.ru_utime + usage.ru_stime,
        output.strip(),
    )


def sample(directory: Path, messages: int, users: int) -> Path:
    marker = directory / f".{messages}-{users}"
    if not marker.exists():
        directory.mkdir(parents=True, exist_ok=True)
        print(
            f"generating {messages:,} messages, {users:,} users in {directory} …", file=sys.stderr
        )
        subprocess.run(
            [*TEMPO, "sample", str(directory), "--messages", str(messages), "--users", str(users),
             "--orphan-every", "1000"],
            check=True,
            cwd=ROOT,
        )  # fmt: skip
        marker.touch()
    return directory


def aggregation_rows(messages: int, users: int) -> list[str]:
    """Three input sizes; the in-memory baseline runs on the two smaller ones."""
    rows = []
    sizes = [max(messages // 10, 1), messages, messages * 3]
    for count in sizes:
        data = sample(OUT / f"input-{count}", count, users)
        size_mb = (data / "messages.csv").stat().st_size / 1e6
        streaming = measure(
            [*TEMPO, "aggregate", str(data / "messages.csv"), str(data / "users.csv"), str(data)]
        )
        baseline = "not run (would need the whole file in memory)"
        ratio = ""
        if count != sizes[-1]:
            in_memory = measure(
                [sys.executable, "-c", IN_MEMORY_AGGREGATION, str(data / "messages.csv"),
                 str(data / "users.csv")]
            )  # fmt: skip
            baseline = (
                f"Polars in-memory: {in_memory.seconds:.2f} s, "
                f"peak {in_memory.peak_anon_mb:,.0f} MB"
            )
            ratio = f"×{in_memory.peak_anon_mb / streaming.peak_anon_mb:.1f} less memory"
        rows.append(
            f"| aggregate {count:,} messages ({size_mb:,.0f} MB) | "
            f"{streaming.seconds:.2f} s, {count / streaming.seconds / 1e6:.2f} M rows/s, "
            f"peak {streaming.peak_anon_mb:,.0f} MB | {baseline} | {ratio} |"
        )
    return rows


def _median(runs: list[Run], field: str) -> float:
    return statistics.median(getattr(run, field) for run in runs)


def _best(runs: list[Run], field: str) -> float:
    return min(getattr(run, field) for run in runs)


def versus_rows(sizes: list[int], users: int, repeat: int) -> list[str]:
    """`tempo aggregate` ÷ DuckDB and ÷ pandas on the same files, runs alternated; medians
    (and the best run) of wall time and of peak resident memory."""
    rows = []
    for count in sizes:
        data = sample(OUT / f"input-{count}", count, users)
        inputs = [str(data / "messages.csv"), str(data / "users.csv")]
        outputs = {name: OUT / f"versus-{name}" for name in ("tempo", "duckdb", "pandas")}
        commands = {
            "tempo": [*TEMPO, "aggregate", *inputs, str(outputs["tempo"])],
            "duckdb": [sys.executable, "-c", DUCKDB_RANKING, *inputs,
                       str(outputs["duckdb"] / "pipeline_result.csv")],
            "pandas": [sys.executable, "-c", PANDAS_RANKING, *inputs,
                       str(outputs["pandas"] / "pipeline_result.csv")],
        }  # fmt: skip
        runs: dict[str, list[Run]] = {name: [] for name in commands}
        for folder in outputs.values():
            folder.mkdir(parents=True, exist_ok=True)
        for _ in range(repeat):
            for name, command in commands.items():
                runs[name].append(measure(command))
        results = {
            name: (folder / "pipeline_result.csv").read_bytes() for name, folder in outputs.items()
        }
        if len(set(results.values())) != 1:
            raise SystemExit(f"the three rankings of {count:,} messages differ: {data}")

        size_mb = (data / "messages.csv").stat().st_size / 1e6
        tempo = runs["tempo"]
        for baseline in ("duckdb", "pandas"):
            other = runs[baseline]
            rows.append(
                f"| aggregate {count:,} messages ({size_mb:,.0f} MB), Tempo ÷ {baseline} "
                f"(median of {repeat}, best in brackets) | "
                f"{_median(tempo, 'seconds'):.2f} s ({_best(tempo, 'seconds'):.2f}), "
                f"peak {_median(tempo, 'peak_rss_mb'):,.0f} MiB | "
                f"{_median(other, 'seconds'):.2f} s ({_best(other, 'seconds'):.2f}), "
                f"peak {_median(other, 'peak_rss_mb'):,.0f} MiB | "
                f"wall {_median(tempo, 'seconds') / _median(other, 'seconds'):.2f} "
                f"({_best(tempo, 'seconds') / _best(other, 'seconds'):.2f}), "
                f"peak {_median(tempo, 'peak_rss_mb') / _median(other, 'peak_rss_mb'):.2f}, "
                f"CPU {_median(tempo, 'cpu_seconds') / _median(other, 'cpu_seconds'):.2f} |"
            )
    return rows


def memory_cgroup() -> Path | None:
    """A writable memory cgroup (v2 or v1) of our own, to run a child under a hard cap."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            base, limit = Path("/sys/fs/cgroup") / path.lstrip("/"), "memory.max"
        elif "memory" in controllers.split(","):
            base, limit = Path("/sys/fs/cgroup/memory") / path.lstrip("/"), "memory.limit_in_bytes"
        else:
            continue
        try:
            group = base / "tempo-bench"
            group.mkdir(exist_ok=True)
            (group / limit).write_text("max" if limit == "memory.max" else "-1")
            return group
        except OSError:
            continue
    return None


def capped(group: Path, limit_mb: int, cmd: list[str]) -> str:
    """Run `cmd` with at most `limit_mb` of memory (page cache included); say how it ended."""
    limit_file = group / (
        "memory.max" if (group / "memory.max").exists() else "memory.limit_in_bytes"
    )
    limit_file.write_text(str(limit_mb * 1024 * 1024))
    join = f'echo $$ > {group / "cgroup.procs"} && exec "$@"'
    result = subprocess.run(["sh", "-c", join, "sh", *cmd], cwd=ROOT, capture_output=True)
    if result.returncode == 0:
        return "completed"
    if result.returncode in (-9, 137):
        return "killed by the kernel (out of memory)"
    return f"failed with exit code {result.returncode}"


def capped_rows(messages: int, users: int, limit_mb: int) -> list[str]:
    data = OUT / f"input-{messages * 3}"
    size_mb = (data / "messages.csv").stat().st_size / 1e6
    group = memory_cgroup()
    if group is None:
        return [f"| {limit_mb:,} MB memory cap | not run: no writable memory cgroup here | | |"]
    inputs = [str(data / "messages.csv"), str(data / "users.csv")]
    streaming = capped(group, limit_mb, [*TEMPO, "aggregate", *inputs, str(data)])
    in_memory = capped(group, limit_mb, [sys.executable, "-c", IN_MEMORY_AGGREGATION, *inputs])
    return [
        f"| aggregate {messages * 3:,} messages ({size_mb:,.0f} MB) under a {limit_mb:,} MB "
        f"memory cgroup | {streaming} | Polars in-memory: {in_memory} | |"
    ]


async def insert_vs_copy(url: str, result: Path) -> tuple[float, float, int]:
    """rows/s of COPY and of row-by-row INSERT, each into a fresh copy of the table."""
    import asyncpg
    import polars as pl

    frame = pl.read_csv(result).select("rank", "user_id", "name", "messages")
    rows = frame.rows()
    payload = frame.write_csv(include_header=False).encode()
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    rates = []
    try:
        for method in ("copy", "insert"):
            async with conn.transaction():
                await conn.execute("CREATE TEMP TABLE baseline (LIKE leaderboard INCLUDING ALL)")
                started = time.perf_counter()
                if method == "copy":
                    await conn.copy_to_table(
                        "baseline", source=io.BytesIO(payload), format="csv",
                        columns=["rank", "user_id", "name", "messages"],
                    )  # fmt: skip
                else:
                    await conn.executemany(
                        "INSERT INTO baseline (rank, user_id, name, messages) "
                        "VALUES ($1, $2, $3, $4)",
                        rows,
                    )
                rates.append(len(rows) / (time.perf_counter() - started))
                await conn.execute("DROP TABLE baseline")
    finally:
        await conn.close()
    return rates[0], rates[1], len(rows)


def feed_rows(feed_users: int) -> list[str]:
    from tempo.core.db import create_engine, database_url, migrate
    from tempo.core.settings import Settings

    data = sample(OUT / f"feed-{feed_users}", feed_users * 3, feed_users)
    subprocess.run(
        [*TEMPO, "aggregate", str(data / "messages.csv"), str(data / "users.csv"), str(data)],
        check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = database_url(Settings())

    async def prepare() -> None:
        from sqlalchemy import text

        engine = create_engine(url, pool_size=1)
        await migrate(engine)
        async with engine.begin() as conn:  # start from an empty, unbloated table
            await conn.execute(text("TRUNCATE leaderboard"))
        await engine.dispose()

    asyncio.run(prepare())
    env = os.environ | {"DATABASE_URL": url}
    result = data / "pipeline_result.csv"
    lines = []
    for label in ("into an empty table", "replacing a ranking of the same size"):
        run = measure([*TEMPO, "feed", str(result)], env=env)
        summary = re.sub(r" from \S+", "", run.output.splitlines()[-1])
        lines.append(
            f"| `tempo feed`, {feed_users:,} rows, {label} | `{summary}`; "
            f"{run.seconds:.2f} s and peak {run.peak_anon_mb:,.0f} MB as a process | | |"
        )
    copy_rate, insert_rate, rows = asyncio.run(insert_vs_copy(url, result))
    lines.append(
        f"| COPY of {rows:,} rows into a table like `leaderboard` | {copy_rate:,.0f} rows/s | "
        f"row-by-row INSERT (asyncpg executemany): {insert_rate:,.0f} rows/s | "
        f"×{copy_rate / insert_rate:.1f} |"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--feed-users", type=int, default=1_000_000)
    parser.add_argument(
        "--versus", default="1000000,5000000",
        help="message counts for the comparison with DuckDB and pandas (comma-separated)",
    )  # fmt: skip
    parser.add_argument(
        "--large", action="store_true",
        help="also compare at 30,000,000 messages (2.2 GB; several minutes more)",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3, help="alternated runs of each")
    parser.add_argument(
        "--versus-only", action="store_true",
        help="only the comparison with DuckDB and pandas (no memory cap, no feed)",
    )  # fmt: skip
    parser.add_argument(
        "--memory-cap-mb", type=int, default=1024,
        help="memory cgroup cap for the largest input (smaller than the file)",
    )  # fmt: skip
    args = parser.parse_args()
    sizes = [int(count) for count in args.versus.split(",") if count]
    if args.large:
        sizes.append(30_000_000)

    lines = [
        f"Pipeline benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs",
        "",
        "| what | Tempo | baseline (same run) | ratio |",
        "|---|---|---|---|",
        *versus_rows(sizes, args.users, args.repeat),
    ]
    if not args.versus_only:
        lines += [
            *aggregation_rows(args.messages, args.users),
            *capped_rows(args.messages, args.users, args.memory_cap_mb),
            *feed_rows(args.feed_users),
        ]
    report = "\n".join(lines)
    print(report)
    OUT.mkdir(exist_ok=True)
    (OUT / "pipeline.md").write_text(report + "\n")


if __name__ == "__main__":
    main()
