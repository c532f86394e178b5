"""Polars vs Spark (local mode) on the same generated inputs: wall and CPU time per run.

    uv run --group dev python loadtest/bench_spark.py --sizes 1000000 5000000 --repeat 3

One worker process per engine (Polars; Spark local[1]; Spark local[2]) is started once and
kept, so Spark's start-up (reported on its own) is paid once; the runs then alternate
between the workers, size by size, so that a change in the machine's load hits every engine
alike. CPU time is the worker's own plus, for Spark, its JVM's (from /proc). Spark is also
timed on the same messages split into part files (`spark-parts`), the layout in which it
reads in parallel: one multiLine CSV file is one task. Every run's output is compared with
the Polars engine's, byte for byte. Prints a Markdown table of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

CLOCK = os.sysconf("SC_CLK_TCK")


def jvm_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK  # utime + stime


def worker(engine: str) -> None:
    """Run jobs read from stdin (JSON lines), answer each with a JSON line."""
    from tempo.pipeline.aggregate import aggregate

    answers = os.fdopen(os.dup(1), "w")  # the JVM inherits fd 1: keep its output off the pipe
    os.dup2(2, 1)
    spark = None
    started = time.perf_counter()
    if engine != "polars":
        from tempo.pipeline.spark_engine import start_session

        spark = start_session(engine)
    print(json.dumps({"startup": time.perf_counter() - started}), file=answers, flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        wall, cpu = time.perf_counter(), time.process_time()
        jvm = spark.sparkContext._gateway.proc.pid if spark is not None else None  # type: ignore[attr-defined]
        jvm_before = jvm_cpu(jvm) if jvm else 0.0
        if spark is None:
            aggregate(Path(job["messages"]), Path(job["users"]), Path(job["output"]))
        else:
            from tempo.pipeline.spark_job import aggregate as spark_aggregate

            spark_aggregate(spark, job["messages"], job["users"], job["output"])
        answer = {
            "wall": time.perf_counter() - wall,
            "cpu": time.process_time() - cpu + ((jvm_cpu(jvm) - jvm_before) if jvm else 0.0),
        }
        print(json.dumps(answer), file=answers, flush=True)


def make_inputs(folder: Path, messages: int, users: int, parts: int) -> None:
    import polars as pl

    from tempo.pipeline.sample import write_messages, write_users

    if (folder / "parts").is_dir():
        return
    folder.mkdir(parents=True, exist_ok=True)
    write_users(folder / "users.csv", users)
    write_messages(folder / "messages.csv", messages, users, orphan_every=1000)
    (folder / "parts").mkdir()
    scan = pl.scan_csv(folder / "messages.csv", infer_schema=False)
    step = -(-messages // parts)
    for index in range(parts):
        scan.slice(index * step, step).sink_csv(folder / "parts" / f"part-{index:03}.csv")


def main() -> None:
    command = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    command.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    command.add_argument("--users", type=int, default=100_000)
    command.add_argument("--repeat", type=int, default=3)
    command.add_argument("--parts", type=int, default=4, help="Part files for spark-parts")
    command.add_argument("--workdir", type=Path, default=Path("/tmp/tempo-bench-spark"))
    command.add_argument("--worker", help=argparse.SUPPRESS)
    args = command.parse_args()
    if args.worker:
        worker(args.worker)
        return

    engines = {"polars": "polars", "spark local[1]": "local[1]", "spark local[2]": "local[2]"}
    load = os.getloadavg()
    workers = {
        name: subprocess.Popen(
            [sys.executable, __file__, "--worker", engine],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for name, engine in engines.items()
    }
    startup = {name: json.loads(w.stdout.readline())["startup"] for name, w in workers.items()}  # type: ignore[union-attr]
    runs: dict[tuple[int, str], list[dict[str, float]]] = {}
    for size in args.sizes:
        folder = args.workdir / f"{size}"
        make_inputs(folder, size, args.users, args.parts)
        configs = [(name, folder / "messages.csv") for name in engines]
        configs.append(("spark-parts local[2]", folder / "parts"))
        expected = None
        # The first round on the first size warms the JVMs up (JIT) and is not counted.
        for round in range(args.repeat + (size == args.sizes[0])):
            for name, messages in configs:
                output = args.workdir / "out" / name.replace(" ", "_")
                shutil.rmtree(output, ignore_errors=True)
                process = workers[name.replace("spark-parts", "spark")]
                job = {"messages": str(messages), "users": str(folder / "users.csv"),
                       "output": str(output)}  # fmt: skip
                process.stdin.write(json.dumps(job) + "\n")  # type: ignore[union-attr]
                process.stdin.flush()  # type: ignore[union-attr]
                answer = json.loads(process.stdout.readline())  # type: ignore[union-attr]
                if round or size != args.sizes[0]:
                    runs.setdefault((size, name), []).append(answer)
                produced = (output / "pipeline_result.csv").read_bytes()
                expected = expected or produced
                assert produced == expected, f"{name} differs from polars at {size:,}"
                print(f"{size:>10,} {name:<22} {answer}", file=sys.stderr)
    for process in workers.values():
        process.stdin.close()  # type: ignore[union-attr]
        process.wait()

    print(f"\nload average before: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; after: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; {os.cpu_count()} cores")  # fmt: skip
    print("start-up (s): " + ", ".join(f"{k} {v:.1f}" for k, v in startup.items()))
    print("\n| messages | engine | wall s (median) | CPU s (median) | runs |")
    print("|---:|---|---:|---:|---:|")
    for (size, name), measured in runs.items():
        wall = statistics.median(r["wall"] for r in measured)
        cpu = statistics.median(r["cpu"] for r in measured)
        print(f"| {size:,} | {name} | {wall:.2f} | {cpu:.2f} | {len(measured)} |")


if __name__ == "__main__":
    main()
