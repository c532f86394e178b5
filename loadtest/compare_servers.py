"""`make compare-servers`: Tempo on uvicorn and on granian under the same Locust load.

Both servers run at once (production settings, the same worker count, one scratch
database); Locust (leaderboard only, `--processes`) visits them in turn, round after round,
at a rate both can sustain, so the figure that differs is the server CPU per request,
read from /proc for each server's process group. That is what decides how many cores a
rate needs. wrk's few saturated connections (`make bench`) favour a different server than
Locust's many slower ones, which look more like real clients.

    make compare-servers   # or: uv run python -m loadtest.compare_servers --rate 2500
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from loadtest import targets
from loadtest.assess import prepare_data, scratch_database

HERE = Path(__file__).resolve().parent
LOCUST = str(Path(sys.executable).parent / "locust")
SERVERS: list[targets.Server] = ["uvicorn", "granian"]


def locust_requests(url: str, rate: int, seconds: int, processes: int) -> int:
    """Run Locust at `rate` for `seconds`; the number of requests it completed."""
    env = os.environ | {
        "LOADTEST_MIX": "leaderboard",
        "LOADTEST_STEPS": str(rate),
        "LOADTEST_STEP_SECONDS": str(seconds),
    }
    argv = [LOCUST, "-f", str(HERE / "locustfile.py"), "--headless", "--only-summary",
            "--processes", str(processes), "--host", url]  # fmt: skip
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    total = next(ln for ln in (out.stdout + out.stderr).splitlines() if "Aggregated" in ln)
    return int(total.split()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=2500, help="requests/s, below saturation")
    parser.add_argument("--seconds", type=int, default=20, help="per Locust run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--processes", type=int, default=2, help="Locust processes")
    args = parser.parse_args()

    cpu_us: dict[str, list[float]] = {server: [] for server in SERVERS}
    with tempfile.TemporaryDirectory() as tmp, scratch_database() as (url, _), ExitStack() as stack:
        work = Path(tmp)
        prepare_data(url, work)
        urls = {
            server: stack.enter_context(
                targets.running(targets.tempo(server, args.workers, url), work / "logs")
            )
            for server in SERVERS
        }
        for round_ in range(1, args.rounds + 1):
            for server, base in urls.items():
                before = targets.cpu_seconds(base)
                requests = locust_requests(base, args.rate, args.seconds, args.processes)
                used = targets.cpu_seconds(base) - before
                cpu_us[server].append(used / max(requests, 1) * 1e6)
                print(f"round {round_}  {server:<8} {requests:>8,} requests  "
                      f"{cpu_us[server][-1]:6.0f} µs server CPU/request", flush=True)  # fmt: skip

    print(f"\nLocust, leaderboard only, {args.rate:,} rps, {args.workers} workers each; "
          "server CPU µs/request, median (min–max):")  # fmt: skip
    for server, values in cpu_us.items():
        print(f"  {server:<8} {statistics.median(values):6.0f} "
              f"({min(values):.0f}–{max(values):.0f})")  # fmt: skip


if __name__ == "__main__":
    main()
