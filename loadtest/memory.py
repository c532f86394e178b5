"""Memory per process of a served Tempo, and how long `tempo --help` takes: this tree
against a git ref, measured in one run (`make bench` runs it after the HTTP benchmark).

For each side, round after round (the sides alternate, so both see the same machine):

- `tempo serve` (uvicorn, WORKERS workers, production settings) on a scratch database, then
  a few requests to the API and the pages; the resident memory (RSS) of the supervisor and
  of each worker; each worker's again after the analytics answers (Polars on the Delta
  table), after the analytics page (which has matplotlib imported for its charts), and
  after a chart;
- one worker's first chart request against its second one (the first pays the import of
  matplotlib, NumPy and the rest), on a server of its own with one worker that answered
  the API and the analytics answers but did not show the page;
- `tempo --help`, best and median of HELP_RUNS runs (a fresh interpreter each).

The ref's source runs on this tree's .venv (PYTHONPATH), so only Tempo's code differs.
Usage: python loadtest/memory.py [--ref main] [--rounds 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from loadtest import targets  # noqa: E402
from loadtest.bench_http import OUT, TEMPO, TYPICAL_DAY, scratch_database  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
# What a worker serves before it is measured: the API (JSON, the cached leaderboard, the
# planner) and the server-rendered pages, each several times so that every worker gets some;
# then the analytics answers (Polars SQL on the Delta table), then a chart (matplotlib).
GETS = ["/healthz", "/readyz", "/leaderboard?limit=100", "/tracks?limit=10", "/",
        "/board", "/datamart", "/upload", "/docs", "/openapi.json"]  # fmt: skip
ANALYTICS = ["/analytics/majors/largest?limit=5", "/analytics/majors/by-category"]
PAGE = ["/analytics"]  # the analytics page: the answers, and matplotlib imported meanwhile
CHART = "/analytics/majors/largest/chart.svg?"  # + limit=N: a different chart each
LAUNCH = 'import sys; from tempo.cli import main; sys.argv[0] = "tempo"; main()'


@dataclass
class Side:
    name: str
    src: Path
    supervisor: list[float] = field(default_factory=list)
    workers: list[float] = field(default_factory=list)  # each worker of each round
    workers_after_analytics: list[float] = field(default_factory=list)
    workers_after_page: list[float] = field(default_factory=list)
    workers_after_chart: list[float] = field(default_factory=list)
    first_chart: list[float] = field(default_factory=list)
    next_chart: list[float] = field(default_factory=list)
    first_chart_cpu: list[float] = field(default_factory=list)
    next_chart_cpu: list[float] = field(default_factory=list)
    help_s: list[float] = field(default_factory=list)
    help_cpu_s: list[float] = field(default_factory=list)


def rss(process: psutil.Process) -> float:
    return float(process.memory_info().rss) / MB


def processes(leader: int) -> tuple[psutil.Process, list[psutil.Process]]:
    """The supervisor (`tempo serve` itself) and its uvicorn workers (not the resource
    tracker multiprocessing may start beside them)."""
    supervisor = psutil.Process(leader)
    workers = [
        child
        for child in supervisor.children()
        if "resource_tracker" not in " ".join(child.cmdline())
    ]
    return supervisor, workers


def visit(client: httpx.Client, base: str, paths: list[str]) -> None:
    for path in paths:
        client.get(base + path).raise_for_status()
    if paths is GETS:
        day = TYPICAL_DAY.read_bytes()
        headers = {"content-type": "application/json"}
        client.post(base + "/schedule", content=day, headers=headers).raise_for_status()


def spread_over_workers(base: str, workers: int, paths: list[str]) -> None:
    """`paths` on fresh connections, several times, so that the kernel hands some to every
    worker."""
    for _ in range(4 * workers):
        with httpx.Client(timeout=60) as client:
            visit(client, base, paths)


@contextmanager
def serving(side: Side, url: str, workers: int, logs: Path, delta: Path) -> Iterator[str]:
    target = targets.tempo("uvicorn", workers, url, DELTA_DIR=str(delta))
    target = replace(target, env=target.env | {"PYTHONPATH": str(side.src)}, ready_path="/healthz")
    with targets.running(target, logs) as base:
        yield base


def measure_serve(side: Side, url: str, workers: int, logs: Path, delta: Path) -> None:
    with serving(side, url, workers, logs, delta) as base:
        leader = targets._GROUPS[base]
        spread_over_workers(base, workers, GETS)
        supervisor, found = processes(leader)
        if len(found) != workers:
            raise RuntimeError(f"{side.name}: {len(found)} workers, not {workers}")
        side.supervisor.append(rss(supervisor))
        side.workers.extend(rss(w) for w in found)
        spread_over_workers(base, workers, ANALYTICS)
        side.workers_after_analytics.extend(rss(w) for w in found)
        spread_over_workers(base, workers, PAGE)
        time.sleep(2)  # the page's import of matplotlib runs in a thread of its own
        side.workers_after_page.extend(rss(w) for w in found)
        spread_over_workers(base, workers, [CHART + "limit=10"])
        side.workers_after_chart.extend(rss(w) for w in found)


def measure_chart(side: Side, url: str, logs: Path, delta: Path) -> None:
    """A worker's first chart and its next one (another chart, not a cached image): wall
    time, and the CPU time the server spent on it."""
    with serving(side, url, 1, logs, delta) as base, httpx.Client(timeout=60) as client:
        visit(client, base, GETS)
        visit(client, base, ANALYTICS)
        attempts = [
            (CHART + "limit=11", side.first_chart, side.first_chart_cpu),
            (CHART + "limit=12", side.next_chart, side.next_chart_cpu),
        ]
        for attempt, wall, cpu in attempts:
            cpu_before = targets.cpu_seconds(base)
            started = time.perf_counter()
            client.get(base + attempt).raise_for_status()
            wall.append(time.perf_counter() - started)
            cpu.append(targets.cpu_seconds(base) - cpu_before)


def time_help(sides: list[Side], runs: int) -> None:
    """`tempo --help` in a fresh interpreter, the sides taking turns: wall time, and the CPU
    time of the child (user + system), which a busy machine disturbs less."""
    for _ in range(runs):
        for side in sides:
            env = os.environ | {"PYTHONPATH": str(side.src)}
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", LAUNCH, "--help"], env=env, check=True,
                           stdout=subprocess.DEVNULL)  # fmt: skip
            side.help_s.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            side.help_cpu_s.append(
                after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            )


def prepare(url: str, delta: Path) -> None:
    env = os.environ | {"DATABASE_URL": url}
    for args in (["migrate"], ["etl", "majors", "--delta-dir", str(delta)]):
        subprocess.run([TEMPO, *args], env=env, check=True, stdout=subprocess.DEVNULL)


def spread(values: list[float], fmt: str = ".0f") -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def render(args: argparse.Namespace, sides: list[Side]) -> str:
    lines = [
        f"# Memory per process and `tempo --help`: this tree against {args.ref}",
        "",
        f"`python loadtest/memory.py --ref {args.ref} --rounds {args.rounds} "
        f"--workers {args.workers}`: uvicorn, {args.workers} workers, production settings; "
        "RSS in MB, median (min–max) over the rounds (and the workers).",
        "",
        f"| | {' | '.join(s.name for s in sides)} |",
        f"|---|{'---|' * len(sides)}",
        f"| supervisor | {' | '.join(spread(s.supervisor) for s in sides)} |",
        f"| worker, API + pages | {' | '.join(spread(s.workers) for s in sides)} |",
        f"| worker, after the analytics answers | "
        f"{' | '.join(spread(s.workers_after_analytics) for s in sides)} |",
        f"| worker, after the analytics page | "
        f"{' | '.join(spread(s.workers_after_page) for s in sides)} |",
        f"| worker, after a chart | {' | '.join(spread(s.workers_after_chart) for s in sides)} |",
        f"| first chart of a worker, ms | "
        f"{' | '.join(spread([t * 1000 for t in s.first_chart]) for s in sides)} |",
        f"| next chart, ms | "
        f"{' | '.join(spread([t * 1000 for t in s.next_chart]) for s in sides)} |",
        f"| first chart, server CPU ms | "
        f"{' | '.join(spread([t * 1000 for t in s.first_chart_cpu]) for s in sides)} |",
        f"| next chart, server CPU ms | "
        f"{' | '.join(spread([t * 1000 for t in s.next_chart_cpu]) for s in sides)} |",
        f"| `tempo --help`, wall s, best; median of {len(sides[0].help_s)} | "
        + " | ".join(f"{min(s.help_s):.2f}; {statistics.median(s.help_s):.2f}" for s in sides)
        + " |",
        "| `tempo --help`, CPU s, best; median | "
        + " | ".join(
            f"{min(s.help_cpu_s):.2f}; {statistics.median(s.help_cpu_s):.2f}" for s in sides
        )
        + " |",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", default="main", help="the git ref to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--help-runs", type=int, default=12)
    args = parser.parse_args()
    work = OUT / "memory"
    logs, delta = work / "logs", work / "delta"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as old, scratch_database(prefix="tempo_bench_mem") as url:
        archive = subprocess.run(["git", "archive", args.ref, "src"], cwd=ROOT,
                                 capture_output=True, check=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", old], input=archive, check=True)
        sides = [Side(args.ref, Path(old) / "src"), Side("this tree", ROOT / "src")]
        prepare(url, delta)
        for round_ in range(1, args.rounds + 1):
            for side in sides:
                measure_serve(side, url, args.workers, logs, delta)
                measure_chart(side, url, logs, delta)
                print(f"round {round_}, {side.name}: supervisor {side.supervisor[-1]:.0f} MB, "
                      f"workers {', '.join(f'{w:.0f}' for w in side.workers[-args.workers:])} "
                      f"MB", flush=True)  # fmt: skip
            time_help(sides, max(1, args.help_runs // args.rounds))
    report = render(args, sides)
    (OUT / "memory.md").write_text(report)
    print("\n" + report)


if __name__ == "__main__":
    main()
