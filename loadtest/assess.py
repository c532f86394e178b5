"""`make assess`: Tempo under Locust, beside nginx serving the same bytes, in one run.

Prepares a scratch database (a ranking of 1,000 users, the demo catalog), starts Tempo
(`tempo serve`, production settings) and nginx (the same /leaderboard bytes as a static
file), then runs loadtest/locustfile.py headless and distributed (`--processes`) through its
rate steps, in three configurations:

- `leaderboard` (GET /leaderboard?limit=100 only) against nginx, and against Tempo;
- `realistic` (the whole mix, a rare feed included) against Tempo;

REPEATS times each, interleaved and rotated, so that the machine's drift hits all three
alike. Each step is cut from per-second records (its first WARMUP seconds left out, while
the new users start); the CPU used by Locust's and by the server's process groups is read
from /proc over the same windows. Writes OUT (loadtest/reports/latest/): report.md,
steps.csv (one row per run and step), latency.csv (the latency histogram per step), the
Locust CSVs of every run and two plots.

    make assess                    # or, with every option (--help lists them):
    uv run python -m loadtest.assess [--step-seconds 12] [--repeats 3] [--processes 2]
                                     [--server uvicorn|granian] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import importlib.metadata
import json
import math
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import httpx
from loadtest import targets

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
CONFIGS = [("leaderboard", "nginx"), ("leaderboard", "tempo"), ("realistic", "tempo")]
SERIES_LABELS = {
    ("leaderboard", "nginx"): "nginx, leaderboard only",
    ("leaderboard", "tempo"): "Tempo, leaderboard only",
    ("realistic", "tempo"): "Tempo, realistic mix",
}
LOCAL_POSTGRES = ("127.0.0.1", 5432)
TOKEN = "assess-token-" + "0123456789abcdef" * 2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RATIO_GOAL = 0.9
# Keep each process at this share of a core at most when sizing for a rate: a saturated
# Locust process reports its own queueing as latency, a saturated worker queues requests.
CORE_BUDGET = 0.75

# Two-sided 95 % critical values of Student's t by degrees of freedom (scipy is not a
# dependency); between rows the smaller df is used, which only widens the interval.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
       9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042, 60: 2.000,
       120: 1.980}  # fmt: skip


def t95(df: int) -> float:
    if df < 1:
        raise ValueError("a confidence interval needs at least two values")
    return T95[max(key for key in T95 if key <= df)] if df <= 120 else 1.960


@dataclass(frozen=True)
class Estimate:
    """The mean of repeated runs and the half-width of its 95 % confidence interval
    (None with a single run)."""

    mean: float
    half: float | None
    n: int

    def show(self, digits: int = 0, scale: float = 1.0) -> str:
        mean = f"{self.mean * scale:,.{digits}f}"
        return mean if self.half is None else f"{mean} ± {self.half * scale:,.{digits}f}"

    def ms(self) -> str:
        """A latency: tenths of a millisecond only where they matter."""
        return self.show(1 if self.mean < 100 else 0)


def estimate(values: Sequence[float]) -> Estimate:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Estimate(mean, None, len(values))
    half = t95(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return Estimate(mean, half, len(values))


@dataclass(frozen=True)
class StepRow:
    """One step of one run: what Locust achieved, and the CPU both sides used for it."""

    config: str
    target: str
    repeat: int
    rate: int  # the step's target, requests/s
    users: int
    seconds: int  # measured window, warm-up left out
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    locust_cores: float  # CPU seconds per second of Locust's process group
    server_cores: float
    machine_cores: float  # every CPU of the machine: the rest is other load (noise)

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def us_per_request(self, cores: float) -> float:
        return cores / self.rps * 1e6 if self.rps else math.nan


def write_rows(path: Path, rows: Iterable[StepRow]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, [f.name for f in fields(StepRow)])
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)


def read_rows(path: Path) -> list[StepRow]:
    convert: dict[str, Any] = {"int": int, "float": float, "str": str}
    types = {f.name: convert[str(f.type)] for f in fields(StepRow)}
    with path.open(newline="") as handle:
        return [
            StepRow(**{name: types[name](value) for name, value in row.items()})
            for row in csv.DictReader(handle)
        ]


Key = tuple[str, str, int]  # config, target, rate


def summarize(rows: Iterable[StepRow]) -> dict[Key, dict[str, Estimate]]:
    """Mean ± 95 % CI across repeats of every metric, per configuration, target and step."""
    groups: dict[Key, list[StepRow]] = {}
    for row in rows:
        groups.setdefault((row.config, row.target, row.rate), []).append(row)
    metrics: dict[str, Callable[[StepRow], float]] = {
        "rps": lambda r: r.rps,
        "error_rate": lambda r: r.error_rate,
        "p50_ms": lambda r: r.p50_ms,
        "p95_ms": lambda r: r.p95_ms,
        "p99_ms": lambda r: r.p99_ms,
        "max_ms": lambda r: r.max_ms,
        "locust_cores": lambda r: r.locust_cores,
        "server_cores": lambda r: r.server_cores,
        "other_cores": lambda r: r.machine_cores - r.locust_cores - r.server_cores,
        "locust_us": lambda r: r.us_per_request(r.locust_cores),
        "server_us": lambda r: r.us_per_request(r.server_cores),
    }
    return {
        key: {name: estimate([get(r) for r in group]) for name, get in metrics.items()}
        | {"users": Estimate(group[0].users, None, len(group))}
        for key, group in sorted(groups.items())
    }


def ratios(
    rows: Iterable[StepRow], over: tuple[str, str], under: tuple[str, str]
) -> dict[int, Estimate]:
    """Achieved rps of `over` ÷ that of `under`, per step, paired by repeat: the two runs
    of a repeat ran back to back, so their ratio cancels most of the machine's drift."""
    by_run = {(r.config, r.target, r.rate, r.repeat): r.rps for r in rows}
    result = {}
    for rate in sorted({r.rate for r in rows}):
        pairs = [
            (rps, by_run[(*under, rate, repeat)])
            for (config, target, step, repeat), rps in by_run.items()
            if (config, target) == over and step == rate and (*under, rate, repeat) in by_run
        ]
        if pairs:
            result[rate] = estimate([a / b for a, b in pairs])
    return result


def percentile(histogram: Counter[float], fraction: float) -> float:
    """The smallest recorded latency with at least `fraction` of the requests at or below."""
    total = sum(histogram.values())
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= fraction * total:
            return value
    return math.nan


# --- Processes and their CPU time ------------------------------------------------------


def listening_group(port: int) -> int:
    """The process group of whatever listens on 127.0.0.1:`port` (servers and workers)."""
    wanted = f"0100007F:{port:04X}"
    inodes = {
        fields_[9]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if (fields_ := line.split())[1] == wanted and fields_[3] == "0A"  # 0A: LISTEN
    }
    for pid in _pids():
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return os.getpgid(pid)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def group_cpu_seconds(groups: Iterable[int]) -> dict[int, float]:
    """User + system CPU seconds of the live processes of each process group."""
    totals = dict.fromkeys(groups, 0.0)
    for pid in _pids():
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            after = stat[stat.rindex(")") + 2 :].split()  # the name may hold spaces
            group = int(after[2])
            if group in totals:
                totals[group] += (int(after[11]) + int(after[12])) / CLOCK_TICKS
    return totals


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine spent on anything but idling."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLOCK_TICKS  # idle, iowait


@dataclass(frozen=True)
class Sample:
    at: float
    locust: float
    server: float
    machine: float


class CpuSampler:
    """Samples the CPU time of two process groups and of the machine every `interval`."""

    def __init__(self, locust_group: int, server_group: int, interval: float = 0.2) -> None:
        self.groups = (locust_group, server_group)
        self.interval = interval
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            locust, server = self.groups
            cpu = group_cpu_seconds(self.groups)
            machine = machine_busy_seconds()
            self.samples.append(Sample(time.time(), cpu[locust], cpu[server], machine))
            self._stop.wait(self.interval)

    def cores(self, start: float, end: float) -> tuple[float, float, float]:
        """Cores used by Locust, the server and the machine between the first sample at or
        after `start` and the last one at or before `end` (Locust's workers exit after)."""
        inside = [s for s in self.samples if start <= s.at <= end]
        if len(inside) < 2:
            return math.nan, math.nan, math.nan
        first, last = inside[0], inside[-1]
        span = last.at - first.at
        return (
            (last.locust - first.locust) / span,
            (last.server - first.server) / span,
            (last.machine - first.machine) / span,
        )


# --- One Locust run ---------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    steps: list[int]
    step_seconds: float
    warmup: float
    repeats: int
    processes: int
    workers: int
    server: targets.Server
    user_rps: float
    out: Path
    work: Path


def run_locust(
    options: Options, config: str, target: str, repeat: int, url: str, server_group: int
) -> tuple[list[StepRow], dict[int, Counter[float]]]:
    label = f"{config}-{target}-{repeat + 1}"
    records = options.work / "records" / label
    shutil.rmtree(records, ignore_errors=True)
    records.mkdir(parents=True)
    (options.out / "locust").mkdir(parents=True, exist_ok=True)
    env = os.environ | {
        "LOADTEST_MIX": config,
        "LOADTEST_STEPS": ",".join(map(str, options.steps)),
        "LOADTEST_STEP_SECONDS": str(options.step_seconds),
        "LOADTEST_USER_RPS": str(options.user_rps),
        "LOADTEST_RECORD_DIR": str(records),
        "LOADTEST_API_TOKEN": TOKEN,
    }
    argv = [
        str(BIN / "locust"), "-f", str(HERE / "locustfile.py"), "--headless",
        "--processes", str(options.processes), "--host", url,
        "--csv", str(options.out / "locust" / label), "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    limit = len(options.steps) * options.step_seconds + 120
    with (options.work / f"locust-{label}.log").open("w") as log:
        proc = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            with CpuSampler(proc.pid, server_group) as sampler:
                proc.wait(timeout=limit)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # only left over after a timeout
            proc.wait()
    return cut_steps(options, config, target, repeat, records, sampler)


def cut_steps(
    options: Options, config: str, target: str, repeat: int, records: Path, sampler: CpuSampler
) -> tuple[list[StepRow], dict[int, Counter[float]]]:
    timeline = json.loads((records / "steps.json").read_text())
    per_second: dict[int, tuple[int, int, Counter[float]]] = {}
    for path in records.glob("requests-*.json"):
        for second, entry in json.loads(path.read_text()).items():
            requests, failures, seen = per_second.get(int(second), (0, 0, Counter()))
            seen.update({float(ms): n for ms, n in entry["ms"].items()})
            per_second[int(second)] = (
                requests + entry["requests"],
                failures + entry["failures"],
                seen,
            )
    if not per_second or timeline["end"] is None:
        raise RuntimeError(f"Locust did not finish its steps: see {options.work}/locust-*.log")
    steps = timeline["steps"]
    ends = [step["start"] for step in steps[1:]] + [timeline["end"]]
    rows, histograms = [], {}
    for step, end in zip(steps, ends, strict=True):
        # Whole seconds inside the step, after its warm-up.
        first, last = math.ceil(step["start"] + options.warmup), math.floor(end)
        window = [per_second[s] for s in range(first, last) if s in per_second]
        requests = sum(w[0] for w in window)
        histogram: Counter[float] = Counter()
        for w in window:
            histogram.update(w[2])
        locust, server, machine = sampler.cores(first, last)
        seconds = last - first
        rows.append(
            StepRow(
                config,
                target,
                repeat,
                step["rate"],
                step["users"],
                seconds,
                requests,
                sum(w[1] for w in window),
                requests / seconds if seconds > 0 else math.nan,
                percentile(histogram, 0.50),
                percentile(histogram, 0.95),
                percentile(histogram, 0.99),
                max(histogram, default=math.nan),
                locust,
                server,
                machine,
            )  # fmt: skip
        )
        histograms[step["rate"]] = histogram
    return rows, histograms


# --- The database, the data and the servers ----------------------------------------------


def server_url() -> str:
    """DATABASE_URL; else the PostgreSQL on 127.0.0.1:5432 if one listens; else the
    embedded one (pgserver, under ./.tempo/)."""
    from tempo.core.db import database_url, normalize_url
    from tempo.core.settings import Settings

    settings = Settings()
    if settings.database_url is None:
        with contextlib.suppress(OSError), socket.create_connection(LOCAL_POSTGRES, timeout=1):
            return normalize_url("postgresql://postgres@{}:{}/postgres".format(*LOCAL_POSTGRES))
    return database_url(settings)


@contextlib.contextmanager
def scratch_database() -> Iterator[tuple[str, str]]:
    """A database of our own on `server_url()`, dropped afterwards; yields its URL and the
    server's version."""
    import asyncpg
    from sqlalchemy.engine import make_url

    from tempo.core.db import asyncpg_dsn

    server = server_url()
    name = f"tempo_assess_{os.getpid()}"

    async def admin(sql: str) -> str:
        conn = await asyncpg.connect(asyncpg_dsn(server))
        try:
            await conn.execute(sql)
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    version = asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False), version
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def tempo_cli(*args: str) -> None:
    subprocess.run([str(BIN / "tempo"), *args], check=True, cwd=ROOT, capture_output=True)


def prepare_data(url: str, work: Path) -> Path:
    """Schema, demo catalog and a ranking of 1,000 users. The ranking's file stays in the
    data directory: the realistic mix feeds it again (POST /feed), rarely."""
    from tempo.catalog.demo import DEMO_TRACKS

    data = work / "data"
    shutil.rmtree(data, ignore_errors=True)
    tempo_cli("migrate", "--database-url", url)
    tempo_cli("catalog", "load", str(DEMO_TRACKS), "--database-url", url)
    tempo_cli("sample", str(work / "input"), "--messages", "50000", "--users", "1000")
    inputs = [str(work / "input" / "messages.csv"), str(work / "input" / "users.csv")]
    tempo_cli("aggregate", *inputs, str(data))
    tempo_cli("feed", str(data / "pipeline_result.csv"), "--database-url", url)
    return data


# --- The report ---------------------------------------------------------------------------


def versions(postgres: str) -> dict[str, str]:
    found = {"Python": platform.python_version(), "PostgreSQL": postgres}
    for package in ("locust", "geventhttpclient", "fastapi", "starlette", "uvicorn",
                    "uvloop", "httptools", "granian"):  # fmt: skip
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[package] = importlib.metadata.version(package)
    nginx = subprocess.run(
        [shutil.which("nginx") or "/usr/sbin/nginx", "-v"], capture_output=True, text=True
    )
    found["nginx"] = nginx.stderr.strip().rpartition("/")[2]
    return found


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    usable = len(os.sched_getaffinity(0))
    return (
        f"{os.cpu_count()} CPUs ({usable} usable by this process), {model}, {platform.platform()}"
    )


def tables(rows: list[StepRow]) -> str:
    summary = summarize(rows)
    lines = []
    for config, target in CONFIGS:
        keys = [k for k in summary if k[:2] == (config, target)]
        if not keys:
            continue
        lines += [
            f"### {SERIES_LABELS[(config, target)]}",
            "",
            "| target rps | users | achieved rps | errors | p50 ms | p95 ms | p99 ms | max ms |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for key in keys:
            s = summary[key]
            lines.append(
                f"| {key[2]:,} | {s['users'].mean:,.0f} | {s['rps'].show()} | "
                f"{s['error_rate'].show(2, 100)} % | {s['p50_ms'].ms()} | {s['p95_ms'].ms()} | "
                f"{s['p99_ms'].ms()} | {s['max_ms'].ms()} |"
            )
        lines.append("")
    lines += [
        "### CPU per request",
        "",
        "CPU seconds of each process group (Locust's master and workers; the server's "
        "master and workers; PostgreSQL not included) over the step's window, ÷ requests.",
        "",
        "| series | target rps | Locust cores | Locust µs/request | server cores | "
        "server µs/request | other load, cores |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (config, target, rate), s in summary.items():
        lines.append(
            f"| {SERIES_LABELS[(config, target)]} | {rate:,} | {s['locust_cores'].show(2)} | "
            f"{s['locust_us'].show()} | {s['server_cores'].show(2)} | {s['server_us'].show()} | "
            f"{s['other_cores'].show(2)} |"
        )
    return "\n".join(lines)


def comparison(rows: list[StepRow]) -> str:
    summary = summarize(rows)
    ratio = ratios(rows, ("leaderboard", "tempo"), ("leaderboard", "nginx"))
    lines = [
        f"| target rps | nginx rps | Tempo rps | Tempo ÷ nginx (95 % CI) | ≥ {RATIO_GOAL} |",
        "|---:|---:|---:|---:|:---:|",
    ]
    for rate, r in ratio.items():
        nginx = summary[("leaderboard", "nginx", rate)]["rps"]
        tempo = summary[("leaderboard", "tempo", rate)]["rps"]
        verdict = "yes" if r.mean >= RATIO_GOAL else "**no**"
        lines.append(f"| {rate:,} | {nginx.show()} | {tempo.show()} | {r.show(3)} | {verdict} |")
    return "\n".join(lines)


def sizing(rows: list[StepRow], goal: int = 10_000) -> str:
    """Cores, Locust processes and server workers for `goal` rps, from the CPU per request
    measured at each series' highest step (where fixed costs weigh least)."""
    summary = summarize(rows)
    lines = [
        f"| series | Locust µs/request | server µs/request | at {goal:,} rps: Locust cores "
        f"→ processes | server cores → workers |",
        "|---|---:|---:|---:|---:|",
    ]
    for config, target in CONFIGS:
        keys = [k for k in summary if k[:2] == (config, target)]
        if not keys:
            continue
        s = summary[max(keys, key=lambda k: k[2])]
        locust = s["locust_us"].mean * goal / 1e6
        server = s["server_us"].mean * goal / 1e6
        lines.append(
            f"| {SERIES_LABELS[(config, target)]} | {s['locust_us'].mean:,.0f} | "
            f"{s['server_us'].mean:,.0f} | {locust:.2f} → {math.ceil(locust / CORE_BUDGET)} | "
            f"{server:.2f} → {math.ceil(server / CORE_BUDGET)} |"
        )
    return "\n".join(lines)


def write_histograms(path: Path, histograms: dict[Key, Counter[float]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["config", "target", "rate", "ms", "requests"])
        for (config, target, rate), histogram in sorted(histograms.items()):
            writer.writerows([config, target, rate, ms, histogram[ms]] for ms in sorted(histogram))


def plot(rows: list[StepRow], histograms: dict[Key, Counter[float]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    summary = summarize(rows)
    colors = {key: f"C{i}" for i, key in enumerate(CONFIGS)}
    figure, axes = plt.subplots(figsize=(9, 5.5))
    for series in CONFIGS:
        keys = [k for k in summary if k[:2] == series]
        if not keys:
            continue
        x = [summary[k]["rps"].mean for k in keys]
        for metric, style in (("p50_ms", "-"), ("p95_ms", "--"), ("p99_ms", ":")):
            y = [summary[k][metric] for k in keys]
            axes.errorbar(
                x, [e.mean for e in y], yerr=[e.half or 0 for e in y], color=colors[series],
                linestyle=style, marker="o", markersize=4, capsize=3,
                label=f"{SERIES_LABELS[series]}, {metric[:3]}",
            )  # fmt: skip
    axes.set(
        xscale="log", yscale="log", xlabel="achieved requests/s (mean of repeats)",
        ylabel="latency, ms (mean ± 95 % CI)", title="Latency against throughput",
    )  # fmt: skip
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, ncol=3, loc="upper left")
    figure.tight_layout()
    figure.savefig(out / "latency_vs_throughput.png", dpi=100)
    plt.close(figure)

    rates = sorted({k[2] for k in histograms})
    columns = 2 if len(rates) > 1 else 1
    figure, grid = plt.subplots(
        math.ceil(len(rates) / columns), columns, figsize=(9, 6.5), squeeze=False, sharex=True
    )
    for cell, rate in zip(grid.flat, rates, strict=False):
        for series in CONFIGS:
            histogram = histograms.get((*series, rate))
            if not histogram:
                continue
            values = sorted(histogram)
            total = sum(histogram.values())
            cumulative = 0
            fractions = []
            for value in values:
                cumulative += histogram[value]
                fractions.append(cumulative / total)
            cell.step(values, fractions, where="post", color=colors[series],
                      label=SERIES_LABELS[series])  # fmt: skip
        cell.set(xscale="log", title=f"target {rate:,} rps", ylim=(0, 1.01))
        cell.grid(True, which="both", alpha=0.3)
    for cell in grid[-1]:
        cell.set_xlabel("latency, ms")
    for cell in grid[:, 0]:
        cell.set_ylabel("share of requests ≤ x")
    for cell in grid.flat[len(rates) :]:
        cell.set_visible(False)
    grid.flat[0].legend(fontsize=7, loc="lower right")
    figure.suptitle("Latency distribution per step (all repeats)")
    figure.tight_layout()
    figure.savefig(out / "latency_cdf.png", dpi=100)
    plt.close(figure)


def report(
    options: Options, rows: list[StepRow], facts: dict[str, str], found: dict[str, str]
) -> str:
    version_list = ", ".join(f"{name} {version}" for name, version in found.items())
    return f"""# Load test: Tempo beside nginx

{facts["date"]}, {facts["minutes"]} minutes. Command: `{facts["command"]}`

- Machine: {facts["machine"]}. Load average {facts["load_before"]} before,
  {facts["load_after"]} after. **Shared and noisy**: Locust, the server under test,
  PostgreSQL and other tenants all share these cores, so every figure is the mean of
  {options.repeats} repeats with its 95 % confidence interval (Student's t), and Tempo is
  compared with nginx run by the same Locust configuration in the same run.
- Versions: {version_list}.
- Servers: Tempo `tempo serve --server {options.server} --workers {options.workers}`
  (production settings, responses cached per worker); nginx {options.workers} workers,
  serving the bytes of Tempo's `GET /leaderboard?limit=100` as a static file. The ranking
  has 1,000 users; the catalog is the demo one (151 tracks).
- Locust: `--processes {options.processes}`, FastHttpUser, {options.user_rps:g} requests/s
  per user (`constant_throughput`), steps of {options.step_seconds:g} s at
  {", ".join(f"{s:,}" for s in options.steps)} requests/s; each step's first
  {options.warmup:g} s (users starting) are left out. Configurations: **leaderboard only**
  (`GET /leaderboard?limit=100`, against nginx and Tempo) and the **realistic mix** (55 %
  first page, 15 % other pages, 15 % revalidations with `If-None-Match`, 10 % catalog
  searches, 5 % `POST /schedule`, 1 in 10,000 an authenticated `POST /feed`), interleaved.

## Tempo ÷ nginx, same Locust configuration (leaderboard only)

Achieved requests/s, paired by repeat.

{comparison(rows)}

## Every series

{tables(rows)}

## Sizing for 10,000 requests/s

From the CPU per request at each series' highest step, at most {CORE_BUDGET:.0%} of a
core per process:

{sizing(rows)}

## Plots

![latency against throughput](latency_vs_throughput.png)

![latency distribution per step](latency_cdf.png)

Files: `steps.csv` (every run and step), `latency.csv` (latency histograms per step, two
significant digits), `locust/` (Locust's own CSVs per run; its totals span all steps).
"""


# --- Main -------------------------------------------------------------------------------


def parse(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="100,1000,5000,10000", help="target rates, rps")
    parser.add_argument("--step-seconds", type=float, default=12)
    parser.add_argument("--warmup", type=float, default=3, help="seconds left out per step")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2, help="Locust processes")
    parser.add_argument("--workers", type=int, default=2, help="server workers (both)")
    parser.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn")
    parser.add_argument("--user-rps", type=float, default=10, help="requests/s per user")
    parser.add_argument("--out", type=Path, default=HERE / "reports" / "latest")
    parser.add_argument("--work", type=Path, default=ROOT / "bench-results" / "assess")
    args = parser.parse_args(argv)
    if args.warmup >= args.step_seconds - 2:
        parser.error("--warmup must leave at least 2 s of each step")
    steps = [int(s) for s in args.steps.split(",")]
    return Options(
        steps, args.step_seconds, args.warmup, args.repeats, args.processes, args.workers,
        args.server, args.user_rps, args.out.resolve(), args.work.resolve(),
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    options = parse(argv)
    # A plain exit on SIGTERM, so that the servers stop and the scratch database goes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    started = time.monotonic()
    facts = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "command": shlex.join(["python", "-m", "loadtest.assess", *sys.argv[1:]]),
        "machine": machine(),
        "load_before": " ".join(f"{v:.2f}" for v in os.getloadavg()),
    }
    options.work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(options.out / "locust", ignore_errors=True)
    options.out.mkdir(parents=True, exist_ok=True)
    rows: list[StepRow] = []
    histograms: dict[Key, Counter[float]] = {}
    with scratch_database() as (url, postgres), contextlib.ExitStack() as stack:
        print(f"preparing the database and data in {options.work} …", flush=True)
        data = prepare_data(url, options.work)
        logs = options.work / "logs"
        tempo = targets.tempo(
            options.server, options.workers, url, DATA_DIR=str(data), API_TOKEN=TOKEN
        )
        urls = {"tempo": stack.enter_context(targets.running(tempo, logs))}
        body = options.work / "leaderboard.json"
        body.write_bytes(httpx.get(urls["tempo"] + "/leaderboard?limit=100").content)
        nginx = targets.nginx(options.workers, body, options.work / "nginx")
        urls["nginx"] = stack.enter_context(targets.running(nginx, logs))
        groups = {name: listening_group(int(u.rsplit(":", 1)[1])) for name, u in urls.items()}
        total = options.repeats * len(CONFIGS)
        done = 0
        for repeat in range(options.repeats):
            # Rotated each repeat, so that no configuration always runs first or last.
            order = CONFIGS[repeat % len(CONFIGS) :] + CONFIGS[: repeat % len(CONFIGS)]
            for config, target in order:
                done += 1
                print(f"run {done}/{total}: {config} → {target}, repeat {repeat + 1}", flush=True)
                steps, run_histograms = run_locust(
                    options, config, target, repeat, urls[target], groups[target]
                )
                for row in steps:
                    print(
                        f"  {row.rate:>6,} rps target: {row.rps:8,.0f} rps achieved, "
                        f"{row.error_rate:.2%} errors, p50 {row.p50_ms:.1f} ms, "
                        f"p99 {row.p99_ms:.1f} ms, Locust {row.locust_cores:.2f} cores, "
                        f"server {row.server_cores:.2f} cores",
                        flush=True,
                    )
                rows += steps
                for rate, histogram in run_histograms.items():
                    histograms.setdefault((config, target, rate), Counter()).update(histogram)
        found = versions(postgres)
    facts["load_after"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    facts["minutes"] = f"{(time.monotonic() - started) / 60:.1f}"
    write_rows(options.out / "steps.csv", rows)
    write_histograms(options.out / "latency.csv", histograms)
    plot(rows, histograms, options.out)
    (options.out / "report.md").write_text(report(options, rows, facts, found))
    print(f"\n{comparison(rows)}\n\nreport: {options.out / 'report.md'}")


if __name__ == "__main__":
    main()
