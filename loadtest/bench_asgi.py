"""Tempo's own share of a request, measured inside one process: its ASGI application called
directly, without a server or a socket, in CPU time (`time.process_time`), beside a baseline
called the same way in the same process, the two taking turns.

- a cached `GET /leaderboard?limit=100` (the answer put in the response cache by hand: no
  database), with the production access log (10 %, INFO) going to stderr, with the
  Prometheus metrics on (the default) and off (METRICS=false);
- `POST /schedule` with the typical day (songs given in full: no database), beside the
  FastAPI app that only validates the same body (`baselines/fastapi_body.py`).

    uv run python loadtest/bench_asgi.py 2>/dev/null      # the access lines go to stderr

The server adds its own, equal for Tempo and the baselines (`make bench` has it all).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Scope

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from loadtest.baselines.fastapi_body import app as fastapi_body  # noqa: E402

from tempo.app import create_app  # noqa: E402
from tempo.core.cache import CachedResponse  # noqa: E402
from tempo.core.settings import Settings  # noqa: E402

TYPICAL_DAY = (Path(__file__).resolve().parent / "typical_day.json").read_bytes()
BOARD = b'{"leaderboard": []}' + b" " * 7000  # the size of the benchmarks' page
BOARD_HEADERS = [
    (b"content-length", str(len(BOARD)).encode()),
    (b"content-type", b"application/json"),
    (b"etag", b'"0123456789abcdef0123456789abcdef"'),
    (b"cache-control", b"no-cache"),
]


def scope(app: ASGIApp, method: str, path: str, query: bytes, body: bytes) -> Scope:
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), (b"accept", b"*/*")]
    if body:
        headers += [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())]  # fmt: skip
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": query, "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
            "app": app}  # fmt: skip


def caller(
    app: ASGIApp, method: str, path: str, query: bytes = b"", body: bytes = b""
) -> Callable[[], Awaitable[None]]:
    statuses: list[int] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def call() -> None:
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> Message:
            return messages.pop() if messages else {"type": "http.disconnect"}

        await app(scope(app, method, path, query, body), receive, send)
        if statuses.pop() != 200:
            raise RuntimeError(f"{method} {path} was not answered 200")

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=500, help="per round and case")
    args = parser.parse_args()
    settings = Settings(
        environment="production", log_level="INFO",
        database_url="postgresql://unused@127.0.0.1/unused",  # never connected to here
        api_token=SecretStr("bench-token-" + "x" * 32),
    )  # fmt: skip
    tempo = create_app(settings)
    without_metrics = create_app(settings.model_copy(update={"metrics": False}))
    for app in (tempo, without_metrics):
        app.response_cache.listening.set()  # as after the first LISTEN
        app.response_cache.put(
            "leaderboard", b"limit=100", CachedResponse(200, BOARD_HEADERS, BOARD, None), 0
        )
    cases = {
        "cached GET /leaderboard?limit=100, Tempo": caller(
            tempo, "GET", "/leaderboard", b"limit=100"
        ),
        "cached GET /leaderboard?limit=100, Tempo with METRICS=false": caller(
            without_metrics, "GET", "/leaderboard", b"limit=100"
        ),
        "POST /schedule, Tempo": caller(tempo, "POST", "/schedule", body=TYPICAL_DAY),
        "POST /schedule, FastAPI validating the body only": caller(
            fastapi_body, "POST", "/schedule", body=TYPICAL_DAY
        ),
    }
    cpu: dict[str, list[float]] = {name: [] for name in cases}

    async def run() -> None:
        for call in cases.values():  # warm up
            for _ in range(50):
                await call()
        for _ in range(args.rounds):
            for name, call in cases.items():
                started = time.process_time()
                for _ in range(args.calls):
                    await call()
                cpu[name].append((time.process_time() - started) / args.calls * 1e6)

    asyncio.run(run())
    out = sys.__stdout__ or sys.stdout
    print("| case | CPU µs per request: min | median |\n|---|---|---|", file=out)
    for name, values in cpu.items():
        print(f"| {name} | {min(values):.1f} | {statistics.median(values):.1f} |", file=out)
    on, off = (
        cpu["cached GET /leaderboard?limit=100, Tempo"],
        cpu["cached GET /leaderboard?limit=100, Tempo with METRICS=false"],
    )
    costs = [a / b - 1 for a, b in zip(on, off, strict=True)]
    spread = f"{statistics.median(costs):+.1%} ({min(costs):+.1%} to {max(costs):+.1%})"
    print(f"\nmetrics' cost on a cached hit, per round: median {spread}", file=out)
    post, ceiling = (
        cpu["POST /schedule, Tempo"],
        cpu["POST /schedule, FastAPI validating the body only"],
    )
    ratios = [a / b for a, b in zip(post, ceiling, strict=True)]
    spread = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"
    print(f"\nPOST /schedule, Tempo ÷ FastAPI body only, per round: median {spread}", file=out)


if __name__ == "__main__":
    main()
