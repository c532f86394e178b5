"""Prometheus metrics, cheap on the hot path and summed over every worker of `tempo serve`.

A request adds to plain Python numbers of its own process (a dict of rows: one bucket
count per latency bound, the sum of seconds): no lock, no prometheus-client call, no file.
Every FLUSH_SECONDS, and before each scrape, those numbers are added in bulk to
prometheus-client's metrics. Under `tempo serve` those live in prometheus-client's
multiprocess files (PROMETHEUS_MULTIPROC_DIR, a fresh folder per serve), so a scrape,
answered by any one worker, reads every worker's numbers; another worker's are at most
FLUSH_SECONDS old. Without that folder (a single process: tests, `uvicorn --factory`) the
metrics live in this process only.

Labels are bounded: a route is its path template ("/runs/{run_id}"), never the requested
path, and a path no route matches is UNMATCHED; an unknown HTTP method is "OTHER".
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import re
import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Scope

from tempo.core.db import JobBusy

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tempo.core.cache import ResponseCache

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
FLUSH_SECONDS = 1.0
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Request latency, in seconds: a cached hit takes some 20 µs, a feed seconds.
REQUEST_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip
JOB_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
FIRST_BOUND = REQUEST_BUCKETS[0]
_INF = len(REQUEST_BUCKETS)  # a row's +Inf bucket; the sum follows it
_ZEROS = (0.0,) * (_INF + 2)
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db$")


class Metrics:
    """One process's metrics. `observe` is the hot path; the rest runs now and then."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        # prometheus-client picks its file-backed values at import time, from the same
        # variable: both must agree, so it is read here rather than passed in by a caller.
        self.multiprocess_dir = multiprocess_dir
        self.registry = None if multiprocess_dir else CollectorRegistry()
        # (route, method, status) → [count per latency bucket …, +Inf count, seconds] since
        # the last flush; the dict and its rows stay (the request layer holds the dict).
        self.requests: dict[tuple[str, str, int], list[float]] = {}
        self._cache: ResponseCache | None = None
        self._cache_flushed: dict[str, dict[str, int]] = {}
        self._engine: AsyncEngine | None = None
        registry = self.registry
        self.http_requests = Counter(
            "tempo_http_requests", "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"], registry=registry,
        )  # fmt: skip
        self.http_duration = Histogram(
            "tempo_http_request_duration_seconds",
            "Time from a request's arrival in the application to its answer, by route template",
            ["route", "method"], buckets=REQUEST_BUCKETS, registry=registry,
        )  # fmt: skip
        self.cache_hits = Counter(
            "tempo_cache_hits", "Requests answered from the response cache, by topic",
            ["topic"], registry=registry,
        )  # fmt: skip
        self.cache_misses = Counter(
            "tempo_cache_misses", "Cacheable requests answered by the application, by topic",
            ["topic"], registry=registry,
        )  # fmt: skip
        self.cache_invalidations = Counter(
            "tempo_cache_invalidations",
            "Times a topic of the response cache was dropped (a write, a NOTIFY, a reconnect)",
            ["topic"], registry=registry,
        )  # fmt: skip
        self.jobs = Counter(
            "tempo_jobs", "Feeds and pipeline runs started through the API, by outcome",
            ["job", "outcome"], registry=registry,
        )  # fmt: skip
        self.job_rows = Counter(
            "tempo_job_rows", "Rows loaded into the leaderboard by successful jobs",
            ["job"], registry=registry,
        )  # fmt: skip
        self.job_duration = Histogram(
            "tempo_job_duration_seconds", "How long feeds and pipeline runs took, by outcome",
            ["job", "outcome"], buckets=JOB_BUCKETS, registry=registry,
        )  # fmt: skip
        self.workers = Gauge(
            "tempo_workers", "Worker processes serving", registry=registry,
            multiprocess_mode="livesum",
        )  # fmt: skip
        self.pool_in_use = Gauge(
            "tempo_db_pool_connections_in_use", "Database connections checked out of the pools",
            registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.pool_size = Gauge(
            "tempo_db_pool_connections", "Connections open in the database pools",
            registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.listeners = Gauge(
            "tempo_cache_listeners_connected",
            "Workers whose NOTIFY listener is connected (below tempo_workers: stale caches)",
            registry=registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.workers.set(1)

    @classmethod
    def from_environment(cls) -> Metrics:
        return cls(os.environ.get(MULTIPROC_ENV) or None)

    def bind(self, engine: AsyncEngine, cache: ResponseCache) -> None:
        self._engine = engine
        self._cache = cache

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request: plain additions to this worker's row, no lock."""
        row = self.requests.get((route, method, status)) or self.row(route, method, status)
        row[0 if seconds <= FIRST_BOUND else bisect_left(REQUEST_BUCKETS, seconds)] += 1
        row[-1] += seconds

    def row(self, route: str, method: str, status: int) -> list[float]:
        """The row that counts these requests, made on the first one."""
        key = (route, method if method in METHODS else "OTHER", status)
        row = self.requests.get(key)
        if row is None:
            row = self.requests[key] = [0.0] * (_INF + 2)
        return row

    def job(self, job: str, outcome: str, seconds: float, rows: int = 0) -> None:
        self.jobs.labels(job, outcome).inc()
        self.job_duration.labels(job, outcome).observe(seconds)
        if rows:
            self.job_rows.labels(job).inc(rows)

    def flush(self) -> None:
        """Add what this process counted since the last flush to prometheus-client's
        metrics, and set the gauges."""
        totals: dict[tuple[str, str], list[float]] = {}
        for (route, method, status), row in list(self.requests.items()):
            count = sum(row[:-1])
            if not count:
                continue
            self.http_requests.labels(route, method, str(status)).inc(count)
            total = totals.setdefault((route, method), [0.0] * len(row))
            for index, value in enumerate(row):
                total[index] += value
            row[:] = _ZEROS
        for (route, method), total in totals.items():
            _add_to_histogram(self.http_duration.labels(route, method), total)
        if self._cache is not None:
            for name, counter in (
                ("hits", self.cache_hits),
                ("misses", self.cache_misses),
                ("invalidations", self.cache_invalidations),
            ):
                now = dict(getattr(self._cache, name))
                before = self._cache_flushed.get(name, {})
                for topic, count in now.items():
                    if count > before.get(topic, 0):
                        counter.labels(topic).inc(count - before.get(topic, 0))
                    else:
                        counter.labels(topic)  # a series at 0 from the start
                self._cache_flushed[name] = now
            self.listeners.set(1 if self._cache.connected else 0)
        if self._engine is not None:
            pool: Any = self._engine.pool
            self.pool_in_use.set(pool.checkedout())
            self.pool_size.set(pool.checkedout() + pool.checkedin())

    async def flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            self.flush()

    def render(self) -> bytes:
        """The Prometheus text exposition of every worker's metrics."""
        self.flush()
        if self.registry is not None:
            return bytes(generate_latest(self.registry))
        assert self.multiprocess_dir is not None
        forget_dead_workers(self.multiprocess_dir)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(registry))


@contextlib.contextmanager
def timed_job(metrics: Metrics | None, job: str) -> Iterator[list[int]]:
    """Record the job run in the block (nothing without `metrics`): "succeeded" unless it
    raises, "busy" if another job held its lock, else "failed". The block appends the rows
    it loaded to the list given."""
    rows: list[int] = []
    started = time.perf_counter()
    try:
        yield rows
    except BaseException as exc:
        if metrics is not None:
            cause = getattr(exc, "cause", exc)  # a recorded run's failure wraps its cause
            outcome = "busy" if isinstance(cause, JobBusy) else "failed"
            metrics.job(job, outcome, time.perf_counter() - started)
        raise
    if metrics is not None:
        metrics.job(job, "succeeded", time.perf_counter() - started, sum(rows))


def _add_to_histogram(child: Histogram, row: Sequence[float]) -> None:
    """Add bucket counts (not cumulative, +Inf last) and a sum at once: what `observe`
    would have done one value at a time. prometheus-client keeps a histogram as these
    per-bucket values (`_buckets`, `_sum`), in memory or in its multiprocess files."""
    buckets: list[Any] = child._buckets  # noqa: SLF001 - see above
    for index, count in enumerate(row[:-1]):
        if count:
            buckets[index].inc(count)
    child._sum.inc(row[-1])  # noqa: SLF001


def forget_dead_workers(folder: str) -> None:
    """A worker that exited (a crash, a restart) leaves its files behind: its counters
    still count, but its gauges (a live sum) must go, which mark_process_dead does."""
    for path in glob.glob(os.path.join(folder, "gauge_live*.db")):
        found = _LIVE_GAUGE_FILE.search(path)
        if found is None:
            continue
        pid = int(found.group(1))
        if not _alive(pid):
            mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class RouteTemplates:
    """The path template of the route that answered (or would answer) a request: FastAPI
    leaves its route in the scope; a request answered before routing (a refused token, a
    404, a static file) is matched here against the app's routes, flattened once."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._routes = routes
        self._flat: list[tuple[BaseRoute, str]] | None = None

    def __call__(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None:
            return str(route.path)
        if self._flat is None:
            self._flat = list(_flatten(self._routes))
        partial = None
        for candidate, template in self._flat:
            match, _ = candidate.matches(scope)
            if match is Match.FULL:
                return template
            if match is Match.PARTIAL and partial is None:
                partial = template  # the path matches, not the method: a 405
        return partial or UNMATCHED


def _flatten(routes: Sequence[Any]) -> Iterator[tuple[BaseRoute, str]]:
    for route in routes:
        # FastAPI keeps an included router as one entry, its routes (with the include's
        # prefix applied) behind `effective_candidates`.
        nested = getattr(route, "effective_candidates", None)
        if callable(nested):
            yield from _flatten(nested())
            continue
        path = getattr(route, "path_format", None) or getattr(route, "path", None)
        if isinstance(path, str):
            yield route, f"{path}/{{path}}" if isinstance(route, Mount) else path
