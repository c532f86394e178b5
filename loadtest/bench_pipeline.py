"""Pipeline benchmark: aggregation memory/throughput and COPY feed throughput.

Every figure comes with a baseline measured in the same run, because shared machines are
noisy: the streaming aggregation against Polars' in-memory engine on the same file, and
the COPY feed against row-by-row INSERTs of the same rows.

    uv run python loadtest/bench_pipeline.py [--messages 10000000] [--users 100000]

Writes a markdown table to stdout and to bench-results/pipeline.md. Generated inputs are
kept in bench-results/ and reused when their size matches.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import re
import subprocess
import sys
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


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float  # resident set, including pages of the memory-mapped input file
    peak_anon_mb: float  # resident anonymous memory: what the process really allocated
    output: str


def _status_kb(pid: int) -> dict[str, int]:
    try:
        with open(f"/proc/{pid}/status") as status:
            return {
                key: int(rest.split()[0])
                for key, _, rest in (line.partition(":") for line in status)
                if key in ("VmRSS", "RssAnon")
            }
    except (FileNotFoundError, ProcessLookupError):
        return {}


def measure(cmd: list[str], env: dict[str, str] | None = None) -> Run:
    """Wall time and peak memory of one child process, sampled every 10 ms."""
    started = time.perf_counter()
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT, text=True
    ) as proc:
        peak = {"VmRSS": 0, "RssAnon": 0}
        while proc.poll() is None:
            for key, kb in _status_kb(proc.pid).items():
                peak[key] = max(peak[key], kb)
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        output = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output}")
    return Run(seconds, peak["VmRSS"] / 1024, peak["RssAnon"] / 1024, output.strip())


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
        "--memory-cap-mb", type=int, default=1024,
        help="memory cgroup cap for the largest input (smaller than the file)",
    )  # fmt: skip
    args = parser.parse_args()

    lines = [
        f"Pipeline benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs",
        "",
        "| what | Tempo | baseline (same run) | ratio |",
        "|---|---|---|---|",
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
