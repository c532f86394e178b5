"""Several `tempo serve` instances on one PostgreSQL, shown (README: "Several instances").

Starts two instances (A and B, 2 workers each) on a scratch database and measures:

1. **Feeds.** FEEDS feeds through A's `POST /feed`. Each keep-alive HTTP connection
   belongs to one worker process, so CONNECTIONS connections per instance are opened,
   each mapped to the worker serving it (the worker's socket whose remote port is the
   connection's local port), until every worker of both instances has one. Every
   connection polls `GET /leaderboard` with its last ETag; per feed, each worker's delay is
   the time from the feed's answer to the first new ranking on its connections (0 when it
   came before the answer), and the feed's figure is the largest over the workers.
2. **A lost listener.** B's cache listeners are ended with `pg_terminate_backend`: the
   time until each worker listens again, then a feed through A, served by B as usual.
   Then a change while B cannot hear it: B's workers are held (SIGSTOP, well under a
   second), their listeners ended, a feed committed through A, and the workers let go;
   they never got that NOTIFY, so serving the new ranking is the reconnect's doing (it
   drops the cache). Timed from the moment they run again.
3. **Locust, distributed.** A master and two worker processes (`--master` /
   `--worker`, as compose.yaml's `loadtest` profile runs them), the users spread over
   both instances (LOADTEST_HOSTS); no failure allowed, and each instance's own access
   log must count its share of the requests.

    python -m loadtest.instances [--feeds 20] [--connections 12] [--locust-seconds 20]
    make instances

The database: DATABASE_URL's server, else the PostgreSQL on 127.0.0.1:5432, else the
embedded one (as `make assess`). tests/test_instances.py runs the same measurement.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import psutil
from sqlalchemy.engine import make_url

from tempo.core.cache import LISTENER_NAME
from tempo.core.db import asyncpg_dsn

HERE = Path(__file__).resolve().parent
LOCUST = Path(sys.executable).parent / "locust"
PAGE = "/leaderboard?limit=10"
POLL_SECONDS = 0.05  # each connection asks again this long after an answer
NEW_BOARD_SECONDS = 1.0  # every worker of every instance serves a feed within this
HEAL_SECONDS = 1.0  # a listener ended by the server listens again within this
HOLD_SECONDS = 3.0  # at most this long held: uvicorn's supervisor restarts a worker after 5
WAIT_SECONDS = 10.0  # beyond this, something is broken: stop waiting and say what


class Broken(RuntimeError):
    """The measurement could not be made as designed (a worker unreachable, a feed lost)."""


@dataclass(frozen=True)
class Instance:
    name: str
    base: str
    supervisor: int  # `tempo serve`'s process: its workers are its children

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    def workers(self) -> set[int]:
        """The supervisor's children that listen on the instance's port."""
        found = set()
        for child in psutil.Process(self.supervisor).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if any(c.status == psutil.CONN_LISTEN and c.laddr.port == self.port
                       for c in child.net_connections("tcp")):  # fmt: skip
                    found.add(child.pid)
        return found

    def owner(self, client_port: int) -> int | None:
        """The worker serving the client connection from local port `client_port`."""
        for pid in self.workers():
            with contextlib.suppress(psutil.Error):
                for c in psutil.Process(pid).net_connections("tcp"):
                    if c.laddr.port == self.port and c.raddr and c.raddr.port == client_port:
                        return pid
        return None


Worker = tuple[str, int]  # (instance name, process id)


@dataclass
class Connection:
    """One keep-alive connection to an instance, and the rankings it was served."""

    instance: Instance
    client: httpx.AsyncClient
    etag: str | None = None
    port: int | None = None  # its local port: a re-dialled connection gets a new one
    worker: int | None = None
    changes: list[tuple[float, str, Worker]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def ask(self) -> None:
        headers = {"If-None-Match": self.etag} if self.etag else {}
        try:
            response = await self.client.get(PAGE, headers=headers)
        except httpx.HTTPError as error:
            self.errors.append(f"{self.instance.name}: {error!r}")
            return
        now = time.monotonic()
        port = int(response.extensions["network_stream"].get_extra_info("client_addr")[1])
        if port != self.port:
            self.worker = self.instance.owner(port)
            self.port = None if self.worker is None else port  # unmapped: again next time
        if response.status_code == 200:
            self.etag = response.headers["etag"]
            if self.worker is not None:
                self.changes.append((now, self.etag, (self.instance.name, self.worker)))
        elif response.status_code != 304:
            self.errors.append(f"{self.instance.name}: {response.status_code}")


class Watch:
    """Connections to every instance until each worker has one, each asking for the
    ranking every POLL_SECONDS."""

    def __init__(self, instances: Sequence[Instance], per_instance: int, most: int = 64) -> None:
        self.instances = list(instances)
        self.per_instance = per_instance
        self.most = most
        self.connections: list[Connection] = []
        self.workers: set[Worker] = set()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Watch:
        try:
            await self._cover()
        except BaseException:
            await self.__aexit__()
            raise
        self._tasks = [asyncio.create_task(self._poll(c)) for c in self.connections]
        return self

    async def _cover(self) -> None:
        self.workers = {(i.name, pid) for i in self.instances for pid in i.workers()}
        while self.covered() != self.workers:
            if len(self.connections) >= self.most * len(self.instances):
                raise Broken(f"{len(self.connections)} connections reached only "
                             f"{sorted(self.covered())} of {sorted(self.workers)}")  # fmt: skip
            batch = [self._open(i) for i in self.instances for _ in range(self.per_instance)]
            self.connections += batch
            # Together, so that the workers accept them while all are free to.
            await asyncio.gather(*(c.ask() for c in batch))

    async def __aexit__(self, *_: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for connection in self.connections:
            await connection.client.aclose()

    def _open(self, instance: Instance) -> Connection:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        client = httpx.AsyncClient(base_url=instance.base, limits=limits, timeout=WAIT_SECONDS)
        return Connection(instance, client)

    def covered(self) -> set[Worker]:
        return {(c.instance.name, c.worker) for c in self.connections if c.worker is not None}

    async def _poll(self, connection: Connection) -> None:
        while True:
            await connection.ask()
            await asyncio.sleep(POLL_SECONDS)

    def errors(self) -> list[str]:
        return [e for c in self.connections for e in c.errors]

    async def agreed(self) -> set[str | None]:
        """Wait until every connection was served the same ranking; its ETag."""
        deadline = time.monotonic() + WAIT_SECONDS
        while len(etags := {c.etag for c in self.connections}) != 1:
            if time.monotonic() > deadline:
                raise Broken(f"the connections never agreed on one ranking: {etags}")
            await asyncio.sleep(0.01)
        return etags

    async def seen(self, old: set[str | None], since: float, origin: float) -> dict[Worker, float]:
        """Per worker, seconds from `origin` until each of its connections was served a
        ranking not in `old` after `since` (0 if before `origin`)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            firsts = [
                next(((t, w) for t, etag, w in c.changes if t >= since and etag not in old), None)
                for c in self.connections
            ]
            if all(firsts):
                break
            if time.monotonic() > deadline:
                pairs = zip(self.connections, firsts, strict=True)
                late = {(c.instance.name, c.worker) for c, f in pairs if f is None}
                raise Broken(f"no new ranking after {WAIT_SECONDS:.0f} s from {sorted(late)}")
            await asyncio.sleep(0.01)
        delays: dict[Worker, float] = {}
        for first in firsts:
            assert first is not None
            moment, worker = first
            delays[worker] = max(delays.get(worker, 0.0), moment - origin, 0.0)
        if set(delays) != self.workers:  # a connection re-dialled into another worker
            raise Broken(f"answered by {sorted(delays)}, not all of {sorted(self.workers)}")
        return delays


async def post_feed(via: Instance, token: str, data_path: str) -> None:
    async with httpx.AsyncClient(base_url=via.base, timeout=WAIT_SECONDS) as client:
        response = await client.post(
            "/feed", json={"data_path": data_path}, headers={"Authorization": f"Bearer {token}"}
        )
    if response.status_code >= 300:
        raise Broken(f"POST /feed on {via.name}: {response.status_code} {response.text[:300]}")


async def feed(watch: Watch, via: Instance, token: str, data_path: str) -> dict[Worker, float]:
    """One feed through `via`; per worker, seconds from its answer to the new ranking."""
    old = await watch.agreed()
    started = time.monotonic()
    await post_feed(via, token, data_path)
    return await watch.seen(old, started, time.monotonic())


class Listeners:
    """The cache listeners' backends on the database. Which instance holds which is told
    by holding it (`theirs`), not by the client's address: an embedded PostgreSQL is
    reached over a Unix socket, which has no port to match."""

    def __init__(self, admin: asyncpg.Connection, database: str) -> None:
        self.admin = admin
        self.database = database

    async def current(self) -> dict[int, float | None]:
        """Backend pid → when its LISTEN began (the server's clock, epoch seconds; None
        once it has pinged since), for every listener that has LISTENed."""
        rows = await self.admin.fetch(
            "SELECT pid, CASE WHEN query LIKE 'LISTEN%'"
            " THEN extract(epoch FROM query_start)::float8 END AS listened"
            " FROM pg_stat_activity WHERE datname = $1 AND application_name = $2"
            " AND (query LIKE 'LISTEN%' OR query = 'SELECT 1')",  # its pings come after
            self.database, LISTENER_NAME,
        )  # fmt: skip
        return {row["pid"]: row["listened"] for row in rows}

    async def until(self, count: int, seconds: float = WAIT_SECONDS) -> dict[int, float | None]:
        """Wait until `count` listeners listen; them."""
        deadline = time.monotonic() + seconds
        while len(found := await self.current()) != count:
            if time.monotonic() > deadline:
                raise Broken(f"{len(found)} listeners after {seconds:.0f} s, not {count}")
            await asyncio.sleep(0.005)
        return found

    async def end(self, backends: Iterable[int]) -> float:
        """End these backends; when (the server's clock, epoch seconds), once all are gone."""
        pids = list(backends)
        ended = await self.admin.fetchval(
            "SELECT extract(epoch FROM clock_timestamp())::float8"
            " FROM (SELECT count(pg_terminate_backend(pid)) FROM unnest($1::int[]) pid) t",
            pids,
        )  # fmt: skip
        deadline = time.monotonic() + WAIT_SECONDS
        query = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])"
        while await self.admin.fetchval(query, pids):
            if time.monotonic() > deadline:
                raise Broken(f"the listener backends {pids} did not end")
            await asyncio.sleep(0.005)
        return float(ended)

    async def theirs(self, instances: Sequence[Instance], victim: Instance) -> set[int]:
        """`victim`'s listeners: with its workers held, every listener is ended; those back
        while it is held are the others'."""
        total = sum(len(i.workers()) for i in instances)
        await self.until(total)
        with held(victim):
            await self.end(await self.current())
            others = await self.until(total - len(victim.workers()), HOLD_SECONDS)
        return set(await self.until(total)) - set(others)


@contextlib.contextmanager
def held(instance: Instance) -> Iterator[None]:
    """The instance's workers stopped (SIGSTOP) for at most HOLD_SECONDS."""
    processes = [psutil.Process(pid) for pid in instance.workers()]
    started = time.monotonic()
    for process in processes:
        process.suspend()
    try:
        yield
    finally:
        for process in processes:
            process.resume()
    if time.monotonic() - started > HOLD_SECONDS:
        raise Broken(f"{instance.name}'s workers held for over {HOLD_SECONDS} s")


async def heal(listeners: Listeners, theirs: set[int]) -> tuple[set[int], list[float]]:
    """End these listeners (one instance's); their successors, and the seconds from the
    end to each one's LISTEN (both on the database server's clock)."""
    before = await listeners.current()
    ended = await listeners.end(theirs)
    now = await listeners.until(len(before))
    if not set(before) - theirs <= set(now):
        raise Broken("other listeners than those ended were replaced")
    # A ping already ran (5 s on): no LISTEN time left, only an upper bound.
    return set(now) - set(before), [
        (time.time() if listened is None else listened) - ended
        for pid, listened in now.items() if pid not in before
    ]  # fmt: skip


async def change_while_deaf(
    watch: Watch, listeners: Listeners, theirs: set[int], victim: Instance, via: Instance,
    token: str, data_path: str,
) -> dict[Worker, float]:  # fmt: skip
    """A feed committed while `victim`'s workers have no listener; per worker, seconds
    from the moment they run again to the new ranking."""
    old = await watch.agreed()
    started = time.monotonic()
    with held(victim):
        await listeners.end(theirs)
        await post_feed(via, token, data_path)
    return await watch.seen(old, started, time.monotonic())


@dataclass
class Results:
    feeds: list[dict[Worker, float]]  # per feed, every worker's delay
    healed: list[float]  # B's listeners: listening again after pg_terminate_backend
    after_heal: dict[Worker, float]  # the feed right after that
    while_deaf: dict[Worker, float]  # the feed B's workers never heard of
    errors: list[str]

    def worst(self) -> list[float]:
        """Per feed, the largest delay over every worker of every instance."""
        return [max(delays.values()) for delays in self.feeds]


async def measure(
    instances: Sequence[Instance], database_url: str, token: str, data_path: str,
    feeds: int, per_instance: int, progress: Callable[[str], None] = lambda _: None,
) -> Results:  # fmt: skip
    """Feeds through the first instance, then the listener checks on the second."""
    first, second = instances[0], instances[1]
    admin = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        listeners = Listeners(admin, str(make_url(database_url).database))
        async with Watch(instances, per_instance) as watch:
            progress(f"{len(watch.connections)} connections cover the workers "
                     f"{sorted(watch.workers)}")  # fmt: skip
            measured = []
            for number in range(1, feeds + 1):
                measured.append(await feed(watch, first, token, data_path))
                progress(f"feed {number}/{feeds}: every worker within "
                         f"{max(measured[-1].values()) * 1000:.0f} ms")  # fmt: skip
            theirs, healed = await heal(listeners, await listeners.theirs(instances, second))
            after_heal = await feed(watch, first, token, data_path)
            deaf = await change_while_deaf(
                watch, listeners, theirs, second, first, token, data_path
            )
            errors = watch.errors()
    finally:
        await admin.close()
    return Results(measured, healed, after_heal, deaf, errors)


# --- Locust, distributed -------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def locust_distributed(
    bases: Sequence[str], folder: Path, seconds: float, rate: int, mix: str = "leaderboard"
) -> dict[str, str]:
    """A Locust master and two workers, the users spread over `bases`, one step of `rate`
    requests/s for `seconds`; the master's aggregated statistics."""
    folder.mkdir(parents=True, exist_ok=True)
    port = str(free_port())  # the master's, never Locust's default 5557: runs may overlap
    env = os.environ | {
        "LOADTEST_HOSTS": ",".join(bases), "LOADTEST_MIX": mix, "LOADTEST_STEPS": str(rate),
        "LOADTEST_STEP_SECONDS": str(seconds),
    }  # fmt: skip
    common = [str(LOCUST), "-f", str(HERE / "locustfile.py"), "--loglevel", "WARNING"]
    master = [*common, "--master", "--headless", "--expect-workers", "2", "--host", bases[0],
              "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
              "--csv", str(folder / "run"), "--only-summary"]  # fmt: skip
    worker = [*common, "--worker", "--master-host", "127.0.0.1", "--master-port", port]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for number, argv in enumerate([master, worker, worker]):
            with (folder / f"locust-{number}.log").open("wb") as log:
                processes.append(subprocess.Popen(
                    argv, env=env, cwd=folder, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT,
                ))  # fmt: skip
        limit = seconds + 60
        for process in processes:
            process.wait(timeout=limit)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    if processes[0].returncode != 0:
        raise Broken(f"the Locust master exited with {processes[0].returncode}: see {folder}")
    with (folder / "run_stats.csv").open(newline="") as handle:
        return next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")


def access_lines(log: Path, path: str = "/leaderboard") -> int:
    """Access-log lines for `path` in a Tempo log (JSON lines)."""
    count = 0
    with log.open(errors="replace") as handle:
        for line in handle:
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                count += entry.get("event") == "request" and entry.get("path") == path
    return count


# --- The report ----------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def distribution(values: Sequence[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"min {min(ms):.0f} ms, median {statistics.median(ms):.0f} ms, "
            f"p95 {percentile(ms, 0.95):.0f} ms, max {max(ms):.0f} ms")  # fmt: skip


def summary(results: Results) -> str:
    healed = max(results.healed) * 1000
    return "\n".join([
        f"feeds through A, every worker of A and B serving the new ranking ({len(results.feeds)}"
        f" feeds, the slowest worker each): {distribution(results.worst())}",
        f"B's listeners ended (pg_terminate_backend): listening again within {healed:.0f} ms;"
        f" the next feed served by every worker within "
        f"{max(results.after_heal.values()) * 1000:.0f} ms",
        f"a feed committed while B's workers had no listener: every worker serves it "
        f"{max(results.while_deaf.values()) * 1000:.0f} ms after they run again",
    ])  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    from loadtest import targets
    from loadtest.assess import TOKEN, prepare_data, scratch_database

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=12, help="per instance, at first")
    parser.add_argument("--workers", type=int, default=2, help="per instance")
    parser.add_argument("--locust-seconds", type=float, default=20)
    parser.add_argument("--locust-rate", type=int, default=1000, help="requests/s, both")
    parser.add_argument("--work", type=Path, default=HERE.parent / "bench-results" / "instances")
    options = parser.parse_args(argv)
    options.work.mkdir(parents=True, exist_ok=True)
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"{os.cpu_count()} cores, load {load} (1, 5, 15 min) before the run", flush=True)
    with scratch_database() as (url, _), contextlib.ExitStack() as stack:
        print(f"preparing the database and data in {options.work} …", flush=True)
        data = prepare_data(url, options.work)
        logs = options.work / "logs"
        instances = []
        for name in ("A", "B"):
            # Every request gets an access line: each instance's share of Locust's is counted.
            target = targets.tempo("uvicorn", options.workers, url, DATA_DIR=str(data),
                                   API_TOKEN=TOKEN, ACCESS_LOG_SAMPLE_RATE="1")  # fmt: skip
            target = dataclasses.replace(target, name=f"tempo-{name}")
            base = stack.enter_context(targets.running(target, logs))
            instances.append(Instance(name, base, targets.leader(base)))
            print(f"instance {name}: {base}, {options.workers} workers", flush=True)
        results = asyncio.run(measure(
            instances, url, TOKEN, "pipeline_result.csv", options.feeds, options.connections,
            progress=lambda line: print(line, flush=True),
        ))  # fmt: skip
        per_feed = ", ".join(f"{v * 1000:.0f}" for v in results.worst())
        print(f"per feed, ms: {per_feed}\n{summary(results)}", flush=True)
        if results.errors:
            print(f"errors while polling: {results.errors}", flush=True)
        before = [access_lines(logs / f"tempo-{i.name}.log") for i in instances]
        stats = locust_distributed([i.base for i in instances], options.work / "locust",
                                   options.locust_seconds, options.locust_rate)  # fmt: skip
        shares = [access_lines(logs / f"tempo-{i.name}.log") - b
                  for i, b in zip(instances, before, strict=True)]  # fmt: skip
        print(f"Locust, a master and 2 workers, {options.locust_rate} requests/s for "
              f"{options.locust_seconds:.0f} s over A and B: {stats['Request Count']} requests, "
              f"{stats['Failure Count']} failures, {float(stats['Requests/s']):.0f} requests/s; "
              f"served by A {shares[0]}, by B {shares[1]}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
