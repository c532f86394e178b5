"""Locust load test of Tempo: a realistic mix of clients, stepped through target rates.

Each user sends at most LOADTEST_USER_RPS requests a second (`constant_throughput`), and
`StepShape` sets the number of users so that users × that rate is the step's target:
100, 1,000, 5,000 and then 10,000 requests/s, LOADTEST_STEP_SECONDS each. One Locust
process (FastHttpUser) sends about 5,000 requests/s at most, so run it distributed:

    locust -f loadtest/locustfile.py --headless --processes 2 --host http://127.0.0.1:8000
    make loadtest     # the same with the Makefile's defaults (LOADTEST_URL, PROCESSES, …)
    make assess       # starts Tempo and nginx itself, and writes a report (assess.py)

or with the web UI, as compose.yaml's `loadtest` profile runs it (a master and N workers):

    docker compose --profile loadtest up --build --scale locust-worker=4   # UI on :8089

The shape ends the test after the last step; `--run-time` cuts it shorter. Settings, as
environment variables (the compose profile uses the defaults):

    LOADTEST_MIX           realistic (default) or leaderboard: GET /leaderboard?limit=100
                           only, the configuration compared with nginx serving those bytes
    LOADTEST_STEPS         target rates in requests/s, comma-separated (100,1000,5000,10000)
    LOADTEST_STEP_SECONDS  seconds per step (30)
    LOADTEST_USER_RPS      requests/s per user (10)
    LOADTEST_HOSTS         base URLs of several Tempo instances, comma-separated: each
                           process hands its users to them in turn (default: --host only)
    LOADTEST_API_TOKEN     Tempo's API_TOKEN; without it the mix sends no POST /feed
    LOADTEST_FEED_PATH     the feed's data_path, in Tempo's DATA_DIR (pipeline_result.csv)
    LOADTEST_FEED_EVERY    one feed per this many requests of the mix (10000)
    LOADTEST_RECORD_DIR    when set, every process writes its requests per second and their
                           latency histogram there, and the master the steps' start times
                           (JSON, read by assess.py to cut the run into steps)

Only the standard library and Locust are imported: the Locust image runs this file as is.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from locust import FastHttpUser, LoadTestShape, TaskSet, User, constant_throughput, events, task
from locust.contrib.fasthttp import FastResponse

HERE = Path(__file__).resolve().parent

MIX = os.environ.get("LOADTEST_MIX", "realistic")
STEPS = [int(rate) for rate in os.environ.get("LOADTEST_STEPS", "100,1000,5000,10000").split(",")]
STEP_SECONDS = float(os.environ.get("LOADTEST_STEP_SECONDS", "30"))
USER_RPS = float(os.environ.get("LOADTEST_USER_RPS", "10"))
API_TOKEN = os.environ.get("LOADTEST_API_TOKEN", "")
FEED_PATH = os.environ.get("LOADTEST_FEED_PATH", "pipeline_result.csv")
FEED_EVERY = int(os.environ.get("LOADTEST_FEED_EVERY", "10000"))
RECORD_DIR = os.environ.get("LOADTEST_RECORD_DIR")
HOSTS = [host.strip() for host in os.environ.get("LOADTEST_HOSTS", "").split(",") if host.strip()]

FIRST_PAGE = "/leaderboard?limit=100"
REVALIDATE = FIRST_PAGE + " If-None-Match"  # its name in the statistics
# A bounded set of query strings, as real clients' pages and searches are: Tempo caches
# each answer, and an unbounded set would measure cache misses nobody sends.
OTHER_PAGES = [f"/leaderboard?limit=100&offset={o}" for o in range(100, 1000, 100)] + [
    "/leaderboard?limit=10",
    "/leaderboard?limit=25&offset=25",
]
SEARCHES = [
    "/tracks?q=ed+sheeran", "/tracks?q=billie", "/tracks?q=love", "/tracks?q=remix",
    "/tracks?q=dance+monkey", "/tracks?q=the+weeknd", "/tracks?q=bad+bunny", "/tracks?q=night",
    "/tracks?q=feat", "/tracks?genre=rock", "/tracks?genre=latin&limit=50",
    "/tracks?q=love&genre=pop",
]  # fmt: skip
# POST /schedule's body: a typical day with appointments, to-dos and songs.
TYPICAL_DAY = (HERE / "typical_day.json").read_text()
JSON = {"Content-Type": "application/json"}


_next_host = itertools.count()


class Client(FastHttpUser):
    abstract = True
    wait_time = constant_throughput(USER_RPS)

    def __init__(self, environment: Any) -> None:
        if HOSTS:  # several instances: this user's, in turn (the session is made from it)
            self.host = HOSTS[next(_next_host) % len(HOSTS)]
        super().__init__(environment)


class Leaderboard(Client):
    """Only the first page of the ranking. nginx serves the same bytes as a static file,
    so both are loaded with exactly this configuration (LOADTEST_MIX=leaderboard)."""

    @task
    def first_page(self) -> None:
        self.client.get(FIRST_PAGE)


def weighted(
    shares: dict[Callable[..., None], int], rare: Callable[..., None] | None
) -> list[TaskSet | Callable[..., Any]]:
    """Out of FEED_EVERY picks, `rare` once and the rest split by `shares` (percent): the
    weighted list Locust would build from a {task: weight} dict."""
    picks = FEED_EVERY - 1 if rare else FEED_EVERY
    counts = {call: max(1, round(share * picks / 100)) for call, share in shares.items()}
    counts |= {rare: 1} if rare else {}
    return [call for call, count in counts.items() for _ in range(count)]


class Realistic(Client):
    """What a day of clients sends: mostly the ranking (first page, other pages, and
    revalidations with the ETag of an earlier answer), some catalog searches and day
    plans, and, when LOADTEST_API_TOKEN is set, a rare feed that replaces the ranking."""

    etag: str | None = None

    def first_page(self) -> None:
        self.keep_etag(self.client.get(FIRST_PAGE))

    def keep_etag(self, response: FastResponse) -> None:
        etag = response.headers.get("etag") if response.headers else None
        self.etag = str(etag) if etag else self.etag

    def other_page(self) -> None:
        self.client.get(random.choice(OTHER_PAGES), name="/leaderboard?offset=…")

    def revalidate(self) -> None:
        """A client that keeps the page it has: 304 while the ranking is unchanged."""
        if self.etag is None:
            self.first_page()
            return
        headers = {"If-None-Match": self.etag}
        response = self.client.get(FIRST_PAGE, headers=headers, name=REVALIDATE)
        if response.status_code == 200:  # the ranking changed (a feed): keep the new page
            self.keep_etag(response)

    def search(self) -> None:
        self.client.get(random.choice(SEARCHES), name="/tracks")

    def plan_day(self) -> None:
        self.client.post("/schedule", data=TYPICAL_DAY, headers=JSON)

    def feed(self) -> None:
        body = json.dumps({"data_path": FEED_PATH})
        headers = JSON | {"Authorization": f"Bearer {API_TOKEN}"}
        self.client.post("/feed", data=body, headers=headers)

    tasks = weighted(
        {first_page: 55, other_page: 15, revalidate: 15, search: 10, plan_day: 5},
        feed if API_TOKEN else None,
    )


USER_CLASSES: dict[str, type[User]] = {"realistic": Realistic, "leaderboard": Leaderboard}


def users_for(rate: int) -> int:
    return max(1, math.ceil(rate / USER_RPS))


class StepShape(LoadTestShape):
    """LOADTEST_STEPS target rates, LOADTEST_STEP_SECONDS each, then stop. All of a step's
    new users start within a second; assess.py leaves each step's first seconds out."""

    use_common_options = True  # reads --run-time, as a cap

    def __init__(self) -> None:
        super().__init__()
        self.step: int | None = None

    def tick(self) -> tuple[int, float, list[type[User]]] | None:
        elapsed = self.get_run_time()
        index = int(elapsed // STEP_SECONDS)
        options = self.runner.environment.parsed_options if self.runner else None
        cap = getattr(options, "run_time", None)
        if index >= len(STEPS) or (cap and elapsed >= cap):
            TIMELINE.end()
            return None
        if index != self.step:
            self.step = index
            TIMELINE.start(STEPS[index], users_for(STEPS[index]))
        users = users_for(STEPS[index])
        return users, float(users), [USER_CLASSES[MIX]]


def bucket(milliseconds: float) -> str:
    """Two significant digits (≤ 5 % off): fine enough for sub-millisecond answers, which
    Locust's own whole-millisecond rounding would flatten, and few distinct keys."""
    return f"{milliseconds:.2g}"


class Timeline:
    """The wall-clock start of every step, written by the process running the shape."""

    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []

    def start(self, rate: int, users: int) -> None:
        self.steps.append({"rate": rate, "users": users, "start": time.time()})
        self._write(None)

    def end(self) -> None:
        self._write(time.time())

    def _write(self, end: float | None) -> None:
        if RECORD_DIR:
            document = {"mix": MIX, "user_rps": USER_RPS, "steps": self.steps, "end": end}
            (Path(RECORD_DIR) / "steps.json").write_text(json.dumps(document))


class Recorder:
    """Per wall-clock second: requests, failures and a latency histogram (ms). Steps are
    cut from these afterwards, with exact windows, where Locust's CSVs only have totals
    over the whole run and percentiles over a sliding window."""

    def __init__(self) -> None:
        self.seconds: dict[int, tuple[list[int], Counter[str]]] = {}

    def on_request(self, response_time: float, exception: BaseException | None, **_: Any) -> None:
        second = int(time.time())
        entry = self.seconds.get(second)
        if entry is None:
            entry = self.seconds[second] = ([0, 0], Counter())
        entry[0][0] += 1
        entry[0][1] += exception is not None
        entry[1][bucket(response_time)] += 1

    def on_test_stop(self, **_: Any) -> None:
        if not self.seconds or not RECORD_DIR:  # the master sends no requests
            return
        document = {
            str(second): {"requests": counts[0], "failures": counts[1], "ms": dict(histogram)}
            for second, (counts, histogram) in sorted(self.seconds.items())
        }
        (Path(RECORD_DIR) / f"requests-{os.getpid()}.json").write_text(json.dumps(document))


TIMELINE = Timeline()
if RECORD_DIR:
    RECORDER = Recorder()
    events.request.add_listener(RECORDER.on_request)
    events.test_stop.add_listener(RECORDER.on_test_stop)
