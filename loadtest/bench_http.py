"""The hot path's figures, as ratios measured in one run (`make bench`, about five minutes).

Every server below runs at once on its own port, with the same worker count, and wrk
visits them in turn, round after round, so that a noisy neighbour hurts all of them alike:

- GET /leaderboard?limit=100 from Tempo (production settings, its response cache) against a
  bare ASGI app returning the same bytes on the same server: the share of the server's
  ceiling Tempo keeps;
- the same against Flask + gunicorn + an SQL query per request (the old way), and against
  nginx serving the bytes as a file (what the machine can do at all);
- Tempo in its production defaults (log level INFO, the access log sampled at 10 %, lines
  written to a file) against the same with no access line, and at LOG_LEVEL=WARNING: what
  logging costs; and against the same with METRICS=false: what the Prometheus metrics cost;
- POST /schedule with a typical day (loadtest/typical_day.json).

Each figure comes with the server CPU time per request (all its processes), which a busy
machine disturbs far less than requests per second. Results go to stdout and to
bench-results/http.md.

Then each route of the realistic mix (loadtest/locustfile.py) runs on one Tempo alone on
the bench database, with the CPU of its PostgreSQL backends (found in pg_stat_activity,
read from /proc) measured beside Tempo's, and a POST /feed of 200,000 rows; those figures
also go to bench-results/http.json, which `make capacity` (loadtest/capacity.py) reads.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from loadtest import targets  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-results"
TEMPO = str(Path(sys.executable).parent / "tempo")
WRK_POST = ROOT / "loadtest" / "wrk" / "post_json.lua"
WRK_UNIQUE = ROOT / "loadtest" / "wrk" / "unique_query.lua"
TYPICAL_DAY = ROOT / "loadtest" / "typical_day.json"


@dataclass
class Run:
    rps: float
    errors: int
    cpu_us: float  # server CPU per request
    requests: int = 0


def wrk(
    url: str,
    seconds: float,
    connections: int,
    post: Path | None = None,
    *,
    script: Path | None = None,
    headers: dict[str, str] | None = None,
) -> Run:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url]
    env = os.environ.copy()
    if post is not None:
        argv[1:1] = ["-s", str(WRK_POST)]
        env["BODY"] = str(post)
    elif script is not None:
        argv[1:1] = ["-s", str(script)]
    for name, value in (headers or {}).items():
        argv[1:1] = ["-H", f"{name}: {value}"]
    base = url.split("/", 3)
    server = "/".join(base[:3])
    before = targets.cpu_seconds(server)
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout
    used = targets.cpu_seconds(server) - before
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(bad.group(1)) if bad else 0
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return Run(rps, errors, used / max(requests, 1) * 1e6, requests)


@contextmanager
def scratch_database(base: str | None = None, prefix: str = "tempo_bench_http") -> Iterator[str]:
    """A database of its own on `base`'s server (by default DATABASE_URL's, else the
    embedded one), dropped afterwards; yields its URL."""
    if base is None:
        base = os.environ.get("DATABASE_URL")
    if base is None:
        from tempo.core.db import database_url
        from tempo.core.settings import Settings

        base = database_url(Settings(environment="development"))
    base = base.replace("postgresql+asyncpg://", "postgresql://", 1)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        # The embedded server's URL names its socket folder in the query: keep the rest.
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def prepare(url: str, work: Path, users: int) -> None:
    env = os.environ | {"DATABASE_URL": url}

    def tempo(*args: str) -> None:
        subprocess.run([TEMPO, *args], env=env, check=True, stdout=subprocess.DEVNULL)

    tempo("migrate")
    tempo("sample", str(work), "--messages", str(users * 20), "--users", str(users))
    tempo("aggregate", str(work / "messages.csv"), str(work / "users.csv"), str(work))
    tempo("feed", str(work / "pipeline_result.csv"))


def versions() -> str:
    from importlib.metadata import version

    names = ["fastapi", "starlette", "uvicorn", "granian", "pydantic", "flask", "gunicorn"]
    parts = [f"Python {platform.python_version()}"] + [f"{n} {version(n)}" for n in names]
    for tool in ("wrk", "nginx"):
        found = shutil.which(tool) or (f"/usr/sbin/{tool}" if tool == "nginx" else None)
        if found:
            probe = subprocess.run([found, "-v"], capture_output=True, text=True)
            text = (probe.stdout + probe.stderr).strip().splitlines()[0]
            parts.append(text.replace("nginx version: ", ""))
    return ", ".join(parts)


def median_range(values: list[float], fmt: str = ",.0f") -> str:
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=2, help="per wrk run")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--servers", default="uvicorn,granian")  # the default first
    parser.add_argument("--users", type=int, default=1000, help="ranking size")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: sudo apt-get install wrk  (make bench installs it as root)")
    servers: list[targets.Server] = args.servers.split(",")
    started = time.monotonic()
    load_before = os.getloadavg()
    work = OUT / "http"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    logs = work / "logs"
    path = "/leaderboard?limit=100"

    with scratch_database() as url, ExitStack() as stack:
        prepare(url, work / "data", args.users)
        # The bytes every baseline serves: Tempo's own answer.
        first = targets.tempo(servers[0], 1, url)
        with targets.running(first, logs) as base:
            body = httpx.get(base + path).content
        (work / "leaderboard.json").write_bytes(body)
        w = args.workers
        get_targets: dict[str, targets.Target] = {}
        for server in servers:
            get_targets[f"bare ASGI app, {server}"] = targets.bare(
                server, w, work / "leaderboard.json"
            )
            get_targets[f"Tempo, {server}"] = targets.tempo(server, w, url)
        # What the production access log costs, on the default server, and Tempo logging
        # only warnings (no access line at all, as before the production defaults were
        # benchmarked).
        get_targets[f"Tempo, {servers[0]}, no access log"] = targets.tempo(
            servers[0], w, url, ACCESS_LOG_SAMPLE_RATE="0"
        )
        get_targets[f"Tempo, {servers[0]}, LOG_LEVEL=WARNING"] = targets.tempo(
            servers[0], w, url, LOG_LEVEL="WARNING"
        )
        get_targets[f"Tempo, {servers[0]}, METRICS=false"] = targets.tempo(
            servers[0], w, url, METRICS="false"
        )
        get_targets["Flask + gunicorn + SQL per request"] = targets.flask(w, url)
        nginx_found = shutil.which("nginx") or Path("/usr/sbin/nginx").exists()
        if nginx_found:
            get_targets["nginx, static file"] = targets.nginx(
                w, work / "leaderboard.json", work / "nginx"
            )
        # POST only: FastAPI validating the same body and doing nothing else.
        ceilings = {f"FastAPI, body only, {s}": targets.fastapi_body(s, w) for s in servers}
        urls = {
            name: stack.enter_context(targets.running(t, logs))
            for name, t in (get_targets | ceilings).items()
        }
        print(
            f"{len(urls)} servers up; {args.rounds} rounds of {args.seconds:g} s per target",
            flush=True,
        )

        gets: dict[str, list[Run]] = {name: [] for name in get_targets}
        posts: dict[str, list[Run]] = {
            name: [] for s in servers for name in (f"Tempo, {s}", f"FastAPI, body only, {s}")
        }
        for name in get_targets:  # warm up: caches filled, connections made, code paths loaded
            wrk(urls[name] + path, 1, args.connections)
        for name in posts:
            wrk(urls[name] + "/schedule", 1, 16, post=TYPICAL_DAY)
        for round_ in range(1, args.rounds + 1):
            for name in get_targets:
                base = urls[name]
                gets[name].append(progress(round_, "GET", name, wrk(base + path, args.seconds,
                                                                   args.connections)))  # fmt: skip
            for name in posts:
                run = wrk(urls[name] + "/schedule", args.seconds, 16, post=TYPICAL_DAY)
                posts[name].append(progress(round_, "POST", name, run))
        stack.close()  # the others stop: the database's backends are then the next one's only
        capacity = capacity_runs(args, url, work, logs, servers[0], load_before)

    report = render(args, gets, posts, servers, len(body), time.monotonic() - started)
    report += render_capacity(capacity)
    (OUT / "http.md").write_text(report)
    (OUT / "http.json").write_text(json.dumps(capacity, indent=2) + "\n")
    print("\n" + report)


def progress(round_: int, method: str, name: str, run: Run) -> Run:
    print(f"round {round_}  {method:<4} {name:<38} {run.rps:>9,.0f} rps  "
          f"{run.cpu_us:6.1f} µs CPU/request  errors {run.errors}", flush=True)  # fmt: skip
    return run


def ratios(a: list[Run], b: list[Run]) -> list[float]:
    """Per-round ratios: each round's pair ran back to back, under the same noise."""
    return [x.rps / y.rps for x, y in zip(a, b, strict=True)]


def cpu_ratios(a: list[Run], b: list[Run]) -> list[float]:
    """Per-round ratios of server CPU per request (a ÷ b): what `a` costs beyond `b`."""
    return [x.cpu_us / y.cpu_us for x, y in zip(a, b, strict=True)]


def render(
    args: argparse.Namespace,
    gets: dict[str, list[Run]],
    posts: dict[str, list[Run]],
    servers: list[str],
    body_bytes: int,
    seconds: float,
) -> str:
    lines = [
        "# Hot path: requests per second, as ratios measured in one run",
        "",
        f"{os.cpu_count()} cores; wrk -t2 -c{args.connections}, {args.rounds} rounds × "
        f"{args.seconds:g} s per target, {args.workers} workers per server, on the same machine "
        f"as wrk; GET /leaderboard?limit=100 ({body_bytes:,} bytes). Median (min–max) over the "
        f"rounds. {versions()}. Took {seconds:.0f} s.",
        "",
        "| server | requests/s | server CPU µs/request | errors |",
        "|---|---|---|---|",
    ]
    for name, runs in [*gets.items(), *((f"POST /schedule, {k}", v) for k, v in posts.items())]:
        cpu = median_range([r.cpu_us for r in runs], ".1f")
        lines.append(
            f"| {name} | {median_range([r.rps for r in runs])} | {cpu} | "
            f"{sum(r.errors for r in runs)} |"
        )
    lines += ["", "| ratio (per round, then median and range) | value | target |", "|---|---|---|"]
    flask = gets["Flask + gunicorn + SQL per request"]
    for server in servers:
        tempo = gets[f"Tempo, {server}"]
        bare = gets[f"bare ASGI app, {server}"]
        cpu = median_range(cpu_ratios(tempo, bare), ".2f")
        lines.append(
            f"| server CPU per request, Tempo ÷ bare ASGI app, {server} | {cpu} | ≤ 1.15 |"
        )
    for server in servers:
        cpu = median_range(
            cpu_ratios(posts[f"Tempo, {server}"], posts[f"FastAPI, body only, {server}"]), ".2f"
        )
        lines.append(
            f"| server CPU per request, POST /schedule, Tempo ÷ FastAPI validating the body "
            f"only, {server} | {cpu} | ≤ 1.30 |"
        )
    for server in servers:
        tempo = gets[f"Tempo, {server}"]
        bare = gets[f"bare ASGI app, {server}"]
        lines += [
            f"| Tempo / bare ASGI app, {server} | {median_range(ratios(tempo, bare), '.2f')} "
            f"| ≥ 0.70 |",
            f"| Tempo ({server}) / Flask + SQL | {median_range(ratios(tempo, flask), '.1f')} "
            f"| ≥ 30 |",
        ]
    quiet = gets[f"Tempo, {servers[0]}, no access log"]
    logged = median_range(ratios(gets[f"Tempo, {servers[0]}"], quiet), ".2f")
    lines.append(f"| Tempo with its access log / without, {servers[0]} | {logged} | ≥ 0.90 |")
    warning_only = gets[f"Tempo, {servers[0]}, LOG_LEVEL=WARNING"]
    warning = median_range(ratios(gets[f"Tempo, {servers[0]}"], warning_only), ".2f")
    lines.append(f"| Tempo at LOG_LEVEL=INFO / at WARNING, {servers[0]} | {warning} | |")
    unmetered = gets[f"Tempo, {servers[0]}, METRICS=false"]
    metered = median_range(cpu_ratios(gets[f"Tempo, {servers[0]}"], unmetered), ".3f")
    lines.append(
        f"| server CPU per request, Tempo ÷ Tempo with METRICS=false, {servers[0]} | {metered} "
        f"| ≤ 1.05 |"
    )
    if "nginx, static file" in gets:
        nginx = gets["nginx, static file"]
        for server in servers:
            share = median_range(ratios(gets[f"Tempo, {server}"], nginx), ".2f")
            lines.append(f"| Tempo ({server}) / nginx | {share} | |")
    for server in servers:
        tempo_posts = posts[f"Tempo, {server}"]
        post = [r.rps for r in tempo_posts]
        lines.append(f"| POST /schedule, {server}: requests/s | {median_range(post)} | ≥ 5,000 |")
        share = median_range(ratios(tempo_posts, posts[f"FastAPI, body only, {server}"]), ".2f")
        lines.append(
            f"| POST /schedule ({server}) / FastAPI validating the body only | {share} | |"
        )
    return "\n".join(lines) + "\n"


# --- the figures `make capacity` (loadtest/capacity.py) reads: bench-results/http.json -------
# Each route of the realistic mix (loadtest/locustfile.py) on one Tempo, alone on the bench
# database, with the CPU of its PostgreSQL backends beside its own; then POST /feed.
CAPACITY_ROUTES: dict[str, tuple[str, str, int]] = {  # name → method, path, connections
    "leaderboard_cached": ("GET", "/leaderboard?limit=100", 64),
    "leaderboard_revalidate": ("GET", "/leaderboard?limit=100", 64),  # If-None-Match: 304
    "leaderboard_miss": ("GET", "/leaderboard?limit=100", 16),  # a query string of its own
    "tracks_cached": ("GET", "/tracks?q=love", 64),
    "tracks_miss": ("GET", "/tracks?q=love", 8),  # the catalog search's concurrency limit
    "schedule": ("POST", "/schedule", 16),
}
FEED_ROWS = 200_000
FEEDS = {"pipeline_result.csv": 10, "capacity_feed.csv": 3}  # data_path → feeds


def backend_cpu(dsn: str) -> dict[int, float] | None:
    """CPU seconds so far of every PostgreSQL backend connected to `dsn`'s database but
    this one asking; None when the server's processes are not on this machine."""

    async def pids() -> list[int]:
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()
        return [row["pid"] for row in rows]

    found: dict[int, float] = {}
    for pid in asyncio.run(pids()):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found or None


def db_seconds(before: dict[int, float] | None, after: dict[int, float] | None) -> float | None:
    """The backends' CPU between two readings (a backend that came in between counts whole;
    one that left is lost, which a pool at its size does not do)."""
    if before is None or after is None:
        return None
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def capacity_runs(
    args: argparse.Namespace, dsn: str, work: Path, logs: Path, server: targets.Server,
    load_before: tuple[float, float, float],
) -> dict[str, object]:  # fmt: skip
    from tempo.catalog.demo import DEMO_TRACKS

    data = work / "data"
    env = os.environ | {"DATABASE_URL": dsn}
    run_cli = [TEMPO, "catalog", "load", str(DEMO_TRACKS)]
    subprocess.run(run_cli, env=env, check=True, stdout=subprocess.DEVNULL)
    feed_in = work / "feed"
    subprocess.run([TEMPO, "sample", str(feed_in), "--messages", str(FEED_ROWS * 3), "--users",
                    str(FEED_ROWS)], env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    subprocess.run([TEMPO, "aggregate", str(feed_in / "messages.csv"), str(feed_in / "users.csv"),
                    str(feed_in)], env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    shutil.copy(feed_in / "pipeline_result.csv", data / "capacity_feed.csv")
    token = "capacity-token-" + "x" * 24
    target = targets.tempo(server, args.workers, dsn, DATA_DIR=str(data), API_TOKEN=token)
    target = dataclasses.replace(target, name=target.name + "-capacity")  # a log of its own
    runs: dict[str, list[tuple[Run, float | None]]] = {name: [] for name in CAPACITY_ROUTES}
    with targets.running(target, logs) as base:
        etag = httpx.get(base + "/leaderboard?limit=100").headers["etag"]

        def one(name: str, seconds: float) -> tuple[Run, float | None]:
            method, path, connections = CAPACITY_ROUTES[name]
            before = backend_cpu(dsn)
            if method == "POST":
                run = wrk(base + path, seconds, connections, post=TYPICAL_DAY)
            else:
                script = WRK_UNIQUE if name.endswith("_miss") else None
                headers = {"If-None-Match": etag} if "revalidate" in name else None
                run = wrk(base + path, seconds, connections, script=script, headers=headers)
            used = db_seconds(before, backend_cpu(dsn))
            return run, None if used is None else used / max(run.requests, 1) * 1e6

        for name in CAPACITY_ROUTES:  # warm up
            one(name, 1)
        for round_ in range(1, args.rounds + 1):
            for name in CAPACITY_ROUTES:
                run, db_us = one(name, args.seconds)
                runs[name].append((progress(round_, CAPACITY_ROUTES[name][0], name, run), db_us))
        # The ranking the bench serves (the file the mix's POST /feed sends), then a large one.
        feeds = {f: feed_batch(base, dsn, token, f, n) for f, n in FEEDS.items()}
        max_connections = int(asyncio.run(_show(dsn, "max_connections")))
    routes = {}
    for name, measured in runs.items():
        method, path, connections = CAPACITY_ROUTES[name]
        db = [d for _, d in measured if d is not None]
        routes[name] = {
            "method": method, "path": path, "wrk_connections": connections,
            "cpu_us_app": statistics.median(r.cpu_us for r, _ in measured),
            "cpu_us_db": statistics.median(db) if db else None,
            "rps": statistics.median(r.rps for r, _ in measured),
            "errors": sum(r.errors for r, _ in measured),
            "requests": sum(r.requests for r, _ in measured),
            "rounds": [{"cpu_us_app": r.cpu_us, "cpu_us_db": d, "rps": r.rps} for r, d in measured],
        }  # fmt: skip
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()  # fmt: skip
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit + ("-dirty" if dirty else ""),
        "server": server,
        "workers": args.workers,
        "cores": os.cpu_count(),
        "machine": {
            "platform": platform.platform(),
            "cpu": _cpu_model(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "seconds_per_run": args.seconds,
        "rounds": args.rounds,
        "routes": routes,
        "feeds": [{"file": name} | dataclasses.asdict(feed) for name, feed in feeds.items()],
        "db": {"max_connections": max_connections, "host": make_url(dsn).host},
    }


@dataclass
class Feed:
    rows: int
    feeds: int
    seconds: float  # median wall time of one
    cpu_s_app: float  # mean CPU of one: the batch's over its count (the clock ticks by 10 ms)
    cpu_s_db: float | None


def feed_batch(base: str, dsn: str, token: str, data_path: str, count: int) -> Feed:
    """`count` POST /feed of `data_path`, one after the other: Tempo's and its backends' CPU
    over the batch, per feed."""
    app_before, db_before = targets.cpu_seconds(base), backend_cpu(dsn)
    walls, rows = [], 0
    for _ in range(count):
        began = time.monotonic()
        response = httpx.post(base + "/feed", json={"data_path": data_path}, timeout=300,
                              headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        response.raise_for_status()
        walls.append(time.monotonic() - began)
        rows = response.json()["rows"]
    used = (targets.cpu_seconds(base) - app_before) / count
    db = db_seconds(db_before, backend_cpu(dsn))
    print(f"feed  {count} × {rows:,} rows, {statistics.median(walls):.2f} s each", flush=True)
    return Feed(rows, count, statistics.median(walls), used, None if db is None else db / count)


async def _show(dsn: str, setting: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval(f"SHOW {setting}"))
    finally:
        await conn.close()


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


def render_capacity(capacity: dict[str, object]) -> str:
    routes: dict[str, dict[str, object]] = capacity["routes"]  # type: ignore[assignment]
    feeds: list[dict[str, float]] = capacity["feeds"]  # type: ignore[assignment]
    lines = [
        "",
        f"## Per route, for `make capacity` (bench-results/http.json; {capacity['server']}, "
        f"{capacity['workers']} workers, alone on the database)",
        "",
        "| route | requests/s | Tempo CPU µs/request | PostgreSQL CPU µs/request | errors |",
        "|---|---|---|---|---|",
    ]
    for name, r in routes.items():
        db = "n/a" if r["cpu_us_db"] is None else f"{r['cpu_us_db']:.1f}"
        lines.append(f"| {name}: {r['method']} {r['path']} | {r['rps']:,.0f} | "
                     f"{r['cpu_us_app']:.1f} | {db} | {r['errors']} |")  # fmt: skip
    for feed in feeds:
        db_s = "n/a" if feed["cpu_s_db"] is None else f"{feed['cpu_s_db']:.3f}"
        lines.append(
            f"| POST /feed, {feed['rows']:,} rows (mean of {feed['feeds']}) | "
            f"{feed['rows'] / feed['seconds']:,.0f} rows/s | {feed['cpu_s_app']:.3f} s | "
            f"{db_s} s | |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
