"""Bursts on expensive routes: does the cached GET /leaderboard keep answering?

    uv run --group dev python loadtest/burst.py [--routes datamart,schedule,chart,tracks,images]
        [--workers 2] [--seconds 10] [--connections 200] [--messages 1000000] [--source DIR]

Starts `tempo serve` (uvicorn, production settings) on a database of its own on
DATABASE_URL's server, loaded with the real catalog (samples/spotify_songs.csv.gz), a
messages.csv of `--messages` rows in DATA_DIR for the datamart and the ranking made of it.
Then, for each route, `--connections` clients (httpx, in a process of their own) send
requests back to back for `--seconds`, while this process asks for GET /leaderboard (a
cache hit) every 20 ms on one connection of its own, and samples every worker's RSS. After
the burst it measures how long the server takes to be idle again (its processes under 5 %
of a core for 200 ms). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gzip
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtest import targets  # noqa: E402
from loadtest.bench_http import scratch_database  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPOTIFY = ROOT / "samples" / "spotify_songs.csv.gz"
ROUTES = ("datamart", "schedule", "chart", "tracks", "images")
LOOKUPS = 148
PROBE_EVERY = 0.02
IDLE_CPU = 0.05  # of one core
IDLE_WINDOW = 0.2


def catalog_texts(count: int) -> list[str]:
    """`count` distinct "title - artist" texts from the songs file, as a planner user types."""
    import csv

    texts: list[str] = []
    with gzip.open(SPOTIFY, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            text = f"{row['track_name']} - {row['track_artist']}"
            if row["track_name"] and text not in texts:
                texts.append(text)
            if len(texts) == count:
                return texts
    return texts


def request_for(route: str, pages: int, texts: list[str]) -> tuple[str, str, Any]:
    """(method, path, JSON body) of one request of the burst; each differs, as a crowd's do."""
    if route == "datamart":
        return "GET", f"/datamart?table=messages&page={random.randint(1, pages)}", None
    if route == "schedule":
        music = [{"text": t} for t in random.sample(texts, len(texts))]
        return "POST", "/schedule", {"day_start": "00:00", "day_end": "23:59", "music": music}
    if route == "chart":
        kind = random.choice(["svg", "png"])
        return (
            "GET",
            f"/analytics/spotify/popularity-histogram/chart.{kind}?bins={random.randint(1, 100)}",
            None,
        )
    if route == "images":
        return "POST", "/images/classify", random.choice(_images())
    words = ["love", "remix", "the", "night", "feat", "dance", "you", "girl", "baby", "rock"]
    q = random.choice(words)
    return "GET", f"/tracks?q={q}&offset={random.randint(0, 900)}&limit=100", None


@functools.cache
def _images() -> list[bytes]:
    """The README's sample digits enlarged to 1024×1024 PNGs (a million pixels to decode
    each), slightly different each so that no two requests are the same bytes."""
    from PIL import Image

    made = []
    for name, shade in (("digit-3.png", 0), ("digit-7.png", 0), ("digit-3.png", 8)):
        picture = Image.open(ROOT / "samples" / name).convert("L")
        picture = picture.point(lambda p, s=shade: min(255, p + s))
        buffer = io.BytesIO()
        picture.resize((1024, 1024), Image.Resampling.BILINEAR).save(buffer, "PNG")
        made.append(buffer.getvalue())
    return made


async def generate(url: str, route: str, seconds: float, connections: int, pages: int) -> None:
    """The burst: `connections` clients, each sending its next request as soon as the last
    one is answered; prints the status counts as JSON."""
    texts = catalog_texts(LOOKUPS) if route == "schedule" else []
    statuses: Counter[str] = Counter()
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=seconds + 60) as client:

        async def one_client() -> None:
            while time.monotonic() < deadline:
                method, path, body = request_for(route, pages, texts)
                try:
                    if isinstance(body, bytes):  # an image
                        response = await client.request(
                            method, path, content=body, headers={"Content-Type": "image/png"}
                        )
                    else:
                        response = await client.request(method, path, json=body)
                    status = str(response.status_code)
                    if response.status_code >= 400:  # which refusal: busy, or another
                        with contextlib.suppress(ValueError, KeyError, TypeError):
                            status += " " + response.json()["error"]["code"]
                    statuses[status] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1

        tasks = [asyncio.create_task(one_client()) for _ in range(connections)]
        # At the deadline the clients hang up, answered or not, as a crowd that leaves does.
        await asyncio.wait(tasks, timeout=seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(statuses))


def group_pids(url: str) -> list[int]:
    group = targets._GROUPS[url]
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError):
            if int(stat.read_text().rpartition(")")[2].split()[2]) == group:
                pids.append(int(stat.parent.name))
    return pids


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def probe_and_sample(
    url: str, server: str, stop: asyncio.Event
) -> tuple[list[float], int, float]:
    """Leaderboard latencies (ms), failed probes, and the largest RSS of one process (MB)."""
    latencies: list[float] = []
    failures, peak = 0, 0.0
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                response = await client.get(url)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - started) * 1000)
            failures += not ok
            peak = max([peak, *(rss_mb(pid) for pid in group_pids(server))])
            await asyncio.sleep(PROBE_EVERY)
    return latencies, failures, peak


def time_to_idle(server: str, limit: float = 120.0) -> float:
    """Seconds until the server's processes use under IDLE_CPU of a core for IDLE_WINDOW."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = targets.cpu_seconds(server)
        time.sleep(IDLE_WINDOW)
        if (targets.cpu_seconds(server) - before) / IDLE_WINDOW < IDLE_CPU:
            return time.monotonic() - started - IDLE_WINDOW
    return limit


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def burst(server: str, route: str, args: argparse.Namespace, pages: int) -> dict[str, Any]:
    for _ in range(20):  # the leaderboard page is cached from here on
        httpx.get(server + "/leaderboard?limit=100", timeout=10)
    generator = subprocess.Popen(
        [sys.executable, __file__, "--generate", server, "--routes", route,
         "--seconds", str(args.seconds), "--connections", str(args.connections),
         "--pages", str(pages)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip

    async def during() -> tuple[list[float], int, float]:
        stop = asyncio.Event()
        probe = asyncio.create_task(probe_and_sample("/leaderboard?limit=100", server, stop))
        await asyncio.to_thread(generator.wait)
        stop.set()
        return await probe

    latencies, failures, peak = asyncio.run(during())
    idle = time_to_idle(server)
    out = generator.stdout.read() if generator.stdout else "{}"
    return {
        "route": route,
        "statuses": json.loads(out.strip().splitlines()[-1]),
        "p50": statistics.median(latencies),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies),
        "probes": len(latencies),
        "failed": failures,
        "rss": peak,
        "idle": idle,
    }


def prepare(url: str, work: Path, messages: int) -> int:
    """Catalog, raw files and a fed ranking; the number of datamart pages."""
    env = os.environ | {"DATABASE_URL": url}

    def tempo(*args: str) -> None:
        subprocess.run([targets.BIN / "tempo", *args], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    tempo("migrate")
    tempo("catalog", "load", str(SPOTIFY))
    tempo("sample", str(work), "--messages", str(messages), "--users", str(max(messages // 50, 10)))
    tempo("aggregate", str(work / "messages.csv"), str(work / "users.csv"), str(work))
    tempo("feed", str(work / "pipeline_result.csv"))
    return max(1, messages // 25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routes", default=",".join(ROUTES))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument(
        "--source",
        type=Path,
        help="serve Tempo's code from this src/ folder instead (an earlier commit's, from "
        "`git archive`), with this checkout's packages",
    )
    parser.add_argument("--generate", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--pages", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        asyncio.run(
            generate(args.generate, args.routes, args.seconds, args.connections, args.pages)
        )
        return
    routes = [r for r in args.routes.split(",") if r]
    unknown = set(routes) - set(ROUTES)
    if unknown:
        parser.error(f"unknown routes {sorted(unknown)}; known: {', '.join(ROUTES)}")
    with scratch_database() as url, tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        pages = prepare(url, work, args.messages)
        size = (work / "messages.csv").stat().st_size
        print(f"messages.csv: {args.messages:,} rows, {size / 1e6:.0f} MB; "
              f"{args.workers} workers", file=sys.stderr)  # fmt: skip
        extra = {"PYTHONPATH": str(args.source.resolve())} if args.source else {}
        target = targets.tempo("uvicorn", args.workers, url, DATA_DIR=str(work), **extra)
        rows = []
        with targets.running(target, work / "logs") as server:
            for route in routes:
                rows.append(burst(server, route, args, pages))
                print(json.dumps(rows[-1]), file=sys.stderr)
    print(f"| route ({args.connections} connections, {args.seconds:g} s) | answers "
          "| cached `/leaderboard` p50 / p99 / max | peak RSS of a process "
          "| idle after |")  # fmt: skip
    print("|---|---|---|---|---|")
    for row in rows:
        answers = ", ".join(f"{n:,} × {s}" for s, n in sorted(row["statuses"].items()))
        failed = f", {row['failed']} failed" if row["failed"] else ""
        print(f"| {row['route']} | {answers} | {row['p50']:.0f} / {row['p99']:.0f} / "
              f"{row['max']:.0f} ms ({row['probes']} probes{failed}) | {row['rss']:,.0f} MB "
              f"| {row['idle']:.1f} s |")  # fmt: skip


if __name__ == "__main__":
    main()
