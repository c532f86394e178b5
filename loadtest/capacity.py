"""Capacity from measurements: cores, replicas and the database's load for the realistic mix.

`make capacity` reads what `make bench` measured (bench-results/http.json: Tempo's and
PostgreSQL's CPU µs per request for each route of the mix, and POST /feed), the mix's
weights from loadtest/locustfile.py, the deployment's settings from infra/template.yaml
(the CPU target of autoscaling, workers per vCPU, task limits, the database's class) and
the pool size from Tempo's code, then prints a markdown table and rewrites the README's
block between `<!-- capacity:begin -->` and `<!-- capacity:end -->`.

The model, per rate R (requests/s of the mix):

- steady state: every cached read is a hit (the hot keys are few and bounded), so Tempo's
  CPU is R × Σ share × µs(route), and the database's is the same sum of its µs;
- feeds: the mix sends one POST /feed in FEED_EVERY requests. Its NOTIFY drops the
  leaderboard's answers in every worker of every replica, so each worker then misses once
  per hot leaderboard key: misses per feed = workers × keys, each costing a miss's CPU
  (less the hit it replaces) in Tempo and a miss's CPU in PostgreSQL;
- cores = CPU ÷ the target utilisation; replicas = cores ÷ vCPU per task, one worker per
  vCPU (as the template runs them). More workers mean more misses per feed, so the cores
  are solved as a fixed point; when a core added brings more fan-out work than it can do,
  there is no fixed point and the table says so.
"""

from __future__ import annotations

import argparse
import ast
import csv
import inspect
import json
import math
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tempo.core.cache import MAX_ENTRIES_PER_TOPIC

ROOT = Path(__file__).resolve().parent.parent
BENCH_JSON = ROOT / "bench-results" / "http.json"
LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"
TEMPLATE = ROOT / "infra" / "template.yaml"
LOCUST_STEPS = ROOT / "loadtest" / "reports" / "latest" / "steps.csv"
README = ROOT / "README.md"
BEGIN, END = "<!-- capacity:begin -->", "<!-- capacity:end -->"

RATES = (10_000, 100_000, 1_000_000)
# Feeds at a pace of their own beside the mix's: a pipeline's result a minute.
STEADY_FEEDS_PER_S = 1 / 60
VCPUS = (1, 2, 4)
# The task of the realistic mix → the route measured by `make bench` that answers it.
TASK_ROUTES = {
    "first_page": "leaderboard_cached",
    "other_page": "leaderboard_cached",  # another page of the same cached route
    "revalidate": "leaderboard_revalidate",
    "search": "tracks_cached",  # the catalog changes only when it is loaded again
    "plan_day": "schedule",
}
# The locustfile's names of the query strings each task reads (the cache's keys).
TASK_KEYS = {"first_page": ["FIRST_PAGE"], "other_page": ["OTHER_PAGES"],
             "revalidate": ["FIRST_PAGE"], "search": ["SEARCHES"]}  # fmt: skip
# The leaderboard's keys are the ones a feed drops (TOPIC_WRITES in tempo.app).
FEED_DROPS = ("first_page", "other_page", "revalidate")
# RDS PostgreSQL's default max_connections: LEAST(DBInstanceClassMemory / 9531392, 5000).
RDS_CONNECTION_BYTES = 9_531_392
# vCPU and GiB of the database classes the template may name (AWS's published sizes).
DB_CLASSES = {
    "db.t4g.medium": (2, 4), "db.t4g.large": (2, 8), "db.t4g.xlarge": (4, 16),
    "db.m7g.large": (2, 8), "db.m7g.xlarge": (4, 16), "db.m7g.2xlarge": (8, 32),
    "db.m7g.4xlarge": (16, 64), "db.r7g.large": (2, 16), "db.r7g.xlarge": (4, 32),
}  # fmt: skip


@dataclass(frozen=True)
class Mix:
    shares: dict[str, float]  # task → percent
    feed_every: int | None  # one POST /feed in this many requests; None: no feed
    keys: dict[str, list[str]]  # task → the query strings it reads


@dataclass(frozen=True)
class Deployment:
    cpu_target: float  # utilisation autoscaling keeps, 0–1
    workers_per_vcpu: dict[int, int]  # vCPU per task → workers
    task_vcpu: int  # the template's default
    max_tasks: int
    requests_per_target_per_minute: int
    db_class: str
    pool_size: int  # per worker; as many again may overflow
    listeners_per_worker: int = 1


@dataclass(frozen=True)
class Row:
    rate: int
    feeds_per_s: float
    app_cores: dict[int, float | None]  # vCPU per task → cores (None: no fixed point)
    replicas: dict[int, int | None]
    workers: dict[int, int | None]
    db_cores: dict[int, float | None]
    db_share: dict[int, float | None]
    misses_per_s: dict[int, float | None]
    connections: dict[int, tuple[int, int] | None]  # steady, at most


def _literal_env_default(call: ast.expr) -> str | None:
    """The default of `int(os.environ.get("NAME", "default"))`."""
    for node in ast.walk(call):
        if isinstance(node, ast.Call) and len(node.args) == 2:
            default = node.args[1]
            if isinstance(default, ast.Constant) and isinstance(default.value, str):
                return default.value
    return None


def read_mix(path: Path = LOCUSTFILE) -> Mix:
    """The realistic mix's weights, feed ratio and query strings, read from the locustfile
    (not imported: importing Locust patches the standard library)."""
    tree = ast.parse(path.read_text())
    names: dict[str, Any] = {}
    feed_every: int | None = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name == "FEED_EVERY":
                default = _literal_env_default(node.value)
                feed_every = int(default) if default else None
            elif name in ("FIRST_PAGE", "OTHER_PAGES", "SEARCHES"):
                code = compile(ast.Expression(node.value), str(path), "eval")
                names[name] = eval(code, {"__builtins__": {}, "range": range}, names)  # noqa: S307
    realistic = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Realistic")
    call = next(
        n.value
        for n in realistic.body
        if isinstance(n, ast.Assign)
        and isinstance(n.targets[0], ast.Name)
        and n.targets[0].id == "tasks"
        and isinstance(n.value, ast.Call)
    )
    assert isinstance(call, ast.Call)
    table = call.args[0]
    if not isinstance(table, ast.Dict):
        raise SystemExit(f"{path}: Realistic.tasks is not weighted({{task: share}}, …)")
    shares = {
        k.id: float(v.value)
        for k, v in zip(table.keys, table.values, strict=True)
        if isinstance(k, ast.Name) and isinstance(v, ast.Constant)
    }
    unknown = set(shares) - set(TASK_ROUTES)
    if unknown:
        raise SystemExit(f"{path}: tasks the model has no route for: {sorted(unknown)}")
    rare = call.args[1] if len(call.args) > 1 else None
    has_feed = rare is not None and not (isinstance(rare, ast.Constant) and rare.value is None)
    keys: dict[str, list[str]] = {}
    for task, key_names in TASK_KEYS.items():
        found: list[str] = []
        for key_name in key_names:
            value = names[key_name]
            found += [value] if isinstance(value, str) else list(value)
        keys[task] = found
    return Mix(shares, feed_every if has_feed else None, keys)


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, …) read as plain values."""


def _any_tag(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> object:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _any_tag)


def read_deployment(path: Path = TEMPLATE) -> Deployment:
    from tempo.core.db import create_engine

    template = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 (a SafeLoader)
    params = template["Parameters"]
    mapping = template["Mappings"]["Workers"]
    workers = {int(u) // 1024: int(row["Count"]) for u, row in mapping.items() if int(u) >= 1024}
    return Deployment(
        cpu_target=float(params["CpuTarget"]["Default"]) / 100,
        workers_per_vcpu=workers,
        task_vcpu=max(1, int(params["TaskCpu"]["Default"]) // 1024),
        max_tasks=int(params["MaxTasks"]["Default"]),
        requests_per_target_per_minute=int(params["RequestsPerTargetPerMinute"]["Default"]),
        db_class=str(params["DbInstanceClass"]["Default"]),
        pool_size=int(inspect.signature(create_engine).parameters["pool_size"].default),
    )


@dataclass(frozen=True)
class Costs:
    app_us: float  # Tempo CPU per request of the mix, cache hits
    db_us: float  # PostgreSQL CPU per request of the mix
    feed_app_s: float  # per feed
    feed_db_s: float
    feed_rows: int
    miss_extra_app_us: float  # a leaderboard miss less the hit it replaces
    miss_db_us: float
    hot_keys: int  # leaderboard keys a feed drops, per worker


def costs(bench: dict[str, Any], mix: Mix, feed_file: str | None = None) -> Costs:
    routes = bench["routes"]
    total = sum(mix.shares.values())

    def weighted(field: str) -> float:
        return sum(
            share / total * float(routes[TASK_ROUTES[task]][field] or 0.0)
            for task, share in mix.shares.items()
        )

    feeds = bench["feeds"]
    # The mix feeds the ranking the bench serves (its first feed); another by name.
    feed = next((f for f in feeds if f["file"] == feed_file), feeds[0])
    hit, miss = routes["leaderboard_cached"], routes["leaderboard_miss"]
    return Costs(
        app_us=weighted("cpu_us_app"),
        db_us=weighted("cpu_us_db"),
        feed_app_s=float(feed["cpu_s_app"]),
        feed_db_s=float(feed["cpu_s_db"] or 0.0),
        feed_rows=int(feed["rows"]),
        miss_extra_app_us=max(0.0, miss["cpu_us_app"] - hit["cpu_us_app"]),
        miss_db_us=float(miss["cpu_us_db"] or 0.0),
        hot_keys=len({key for task in FEED_DROPS if task in mix.shares for key in mix.keys[task]}),
    )


def mix_feeds(rate: float, mix: Mix) -> float:
    """Feeds per second as the mix sends them: one in FEED_EVERY requests."""
    return rate / mix.feed_every if mix.feed_every else 0.0


def size(rate: float, feeds: float, vcpu: int, c: Costs, d: Deployment) -> dict[str, Any] | None:
    """Cores, replicas, workers, misses and database load at `rate` requests/s and `feeds`
    feeds/s with `vcpu` per task; None when the fan-out of feeds grows faster than the cores
    that serve it."""
    per_task = d.workers_per_vcpu.get(vcpu, vcpu)
    workers = 0
    for _ in range(10_000):
        misses = feeds * workers * c.hot_keys
        app_cpu = (rate * c.app_us + misses * c.miss_extra_app_us) / 1e6 + feeds * c.feed_app_s
        cores = app_cpu / d.cpu_target
        replicas = max(1, math.ceil(cores / vcpu - 1e-9))
        if replicas * per_task == workers:
            db_cpu = (rate * c.db_us + misses * c.miss_db_us) / 1e6 + feeds * c.feed_db_s
            return {
                "feeds": feeds, "misses": misses, "app_cpu": app_cpu, "cores": cores,
                "replicas": replicas, "workers": workers, "db_cpu": db_cpu,
                "db_share": db_cpu / (db_cpu + app_cpu) if db_cpu + app_cpu else 0.0,
                "connections": (workers * (d.pool_size + d.listeners_per_worker),
                                workers * (2 * d.pool_size + d.listeners_per_worker)),
            }  # fmt: skip
        # From no workers up: the workers needed only grow, to the least fixed point.
        workers = replicas * per_task
        if workers > 10_000_000:
            break
    return None


def limits_reached(sized: dict[str, Any], d: Deployment) -> str:
    """The deployment's fixed parts past their limit at this size (1 vCPU per task), else
    the nearest: PostgreSQL's CPU (one instance) and connections, and the template's
    MaxTasks against the tasks the CPU needs."""
    db_vcpu = DB_CLASSES.get(d.db_class, (None, None))[0]
    max_conn = db_max_connections(d)
    loads = {"MaxTasks": sized["replicas"] / d.max_tasks}
    if db_vcpu:
        loads["PostgreSQL CPU"] = sized["db_cpu"] / db_vcpu
    if max_conn:
        loads["PostgreSQL connections"] = sized["connections"][1] / max_conn
    over = sorted(((load, name) for name, load in loads.items() if load > 1), reverse=True)
    if over:
        return ", ".join(f"**{name} {load:.0%}**" for load, name in over)
    load, name = max((load, name) for name, load in loads.items())
    return f"{name} {load:.0%}"


def fan_out_ceiling(c: Costs, mix: Mix, d: Deployment) -> float | None:
    """The rate past which one more core brings more fan-out work than it can do: each
    worker misses hot_keys times per feed, and feeds come at rate ÷ FEED_EVERY."""
    if not mix.feed_every or not c.miss_extra_app_us or not c.hot_keys:
        return None
    return d.cpu_target * mix.feed_every * 1e6 / (c.hot_keys * c.miss_extra_app_us)


def db_max_connections(d: Deployment) -> int | None:
    if d.db_class not in DB_CLASSES:
        return None
    gib = DB_CLASSES[d.db_class][1]
    return min(5000, gib * 1024**3 // RDS_CONNECTION_BYTES)


def locust_figures(path: Path = LOCUST_STEPS) -> dict[str, float] | None:
    """From the committed `make assess` report: Locust's and Tempo's CPU µs per request of
    the realistic mix at its highest step (median over the repeats)."""
    if not path.exists():
        return None
    with path.open() as f:
        rows = [r for r in csv.DictReader(f) if r["config"] == "realistic" and float(r["rps"])]
    if not rows:
        return None
    top = max(int(r["rate"]) for r in rows)
    rows = [r for r in rows if int(r["rate"]) == top]

    def per_request(column: str) -> float:
        return statistics.median(float(r[column]) / float(r["rps"]) * 1e6 for r in rows)

    return {
        "rate": top,
        "rps": statistics.median(float(r["rps"]) for r in rows),
        "locust_us": per_request("locust_cores"),
        "server_us": per_request("server_cores"),
    }


def _n(value: float | None, fmt: str = ",.0f") -> str:
    return "∞" if value is None else f"{value:{fmt}}"


def _feeds(per_s: float) -> str:
    return f"{per_s:,.0f}" if per_s >= 1 else f"{per_s:.3f}"


def _size_row(rate: int, pace: str, feeds: float, c: Costs, d: Deployment) -> str:
    sized = {v: size(rate, feeds, v, c, d) for v in VCPUS}
    replicas = " / ".join(_n(s and s["replicas"]) for s in sized.values())
    one = sized[1]
    if one is None:
        return f"| {rate:,} | {_feeds(feeds)} ({pace}) | ∞ | ∞ | {replicas} | ∞ | ∞ | fan-out |"
    return (
        f"| {rate:,} | {_feeds(feeds)} ({pace}) | {one['misses']:,.0f} | {one['cores']:,.1f} | "
        f"{replicas} | {one['db_cpu']:,.2f} ({one['db_share']:.0%}) | "
        f"{one['connections'][0]:,}–{one['connections'][1]:,} | {limits_reached(one, d)} |"
    )


def render(bench: dict[str, Any], mix: Mix, d: Deployment, c: Costs,
           locust: dict[str, float] | None) -> str:  # fmt: skip
    routes = bench["routes"]
    machine = bench["machine"]
    total = sum(mix.shares.values())
    u = d.cpu_target
    max_conn = db_max_connections(d)
    db_vcpu = DB_CLASSES.get(d.db_class, (None, None))[0]
    distinct = len({key for keys in mix.keys.values() for key in keys})
    lines = [
        f"From `make bench` of {bench['date']} (commit {bench['commit']}; {bench['cores']} "
        f"cores, {machine['cpu']}, load average {machine['load_average_before'][0]:.1f} → "
        f"{machine['load_average_after'][0]:.1f}; {bench['server']} with {bench['workers']} "
        f"workers, wrk on the same cores; median of {bench['rounds']} rounds of "
        f"{bench['seconds_per_run']} s), the mix of `loadtest/locustfile.py` and the defaults "
        f"of `infra/template.yaml`. `make capacity` rewrites this block.",
        "",
        "| route (share of the mix) | Tempo CPU µs/request | PostgreSQL CPU µs/request |",
        "|---|---:|---:|",
    ]
    for task, share in mix.shares.items():
        r = routes[TASK_ROUTES[task]]
        keys = len(set(mix.keys.get(task, [])))
        priced = f", {keys} query strings priced as this one" if keys > 1 else ""
        lines.append(f"| {task}: {r['method']} {r['path']}"
                     f"{' (304)' if 'revalidate' in task else ''} ({share / total:.0%}{priced}) | "
                     f"{r['cpu_us_app']:,.1f} | {_n(r['cpu_us_db'], ',.1f')} |")  # fmt: skip
    lines += [
        f"| **the mix, weighted** | **{c.app_us:,.1f}** | **{c.db_us:,.1f}** |",
        f"| a leaderboard miss (after a feed) | {routes['leaderboard_miss']['cpu_us_app']:,.0f} "
        f"| {c.miss_db_us:,.0f} |",
        f"| a `/tracks` miss (after a catalog load; none in the mix) | "
        f"{routes['tracks_miss']['cpu_us_app']:,.0f} | {_n(routes['tracks_miss']['cpu_us_db'])} |",
        f"| POST /feed of {c.feed_rows:,} rows (the mix's, 1 in {mix.feed_every or 0:,} "
        f"requests) | {c.feed_app_s * 1e6:,.0f} | {c.feed_db_s * 1e6:,.0f} |",
    ]
    for feed in bench["feeds"][1:]:
        db_s = feed["cpu_s_db"]
        lines.append(
            f"| POST /feed of {feed['rows']:,} rows: {feed['rows'] / feed['seconds']:,.0f} "
            f"rows/s | {feed['cpu_s_app'] * 1e6:,.0f} | {_n(db_s and db_s * 1e6)} |"
        )
    lines += [
        "",
        f"| requests/s | feeds/s | leaderboard misses/s after feeds | Tempo cores at "
        f"{u:.0%} | replicas at 1 / 2 / 4 vCPU | PostgreSQL cores (share of all CPU) | "
        f"PostgreSQL connections, steady–most | over its limit (else the nearest) |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for rate in RATES:
        paces = {"the mix's": mix_feeds(rate, mix), "1 a minute": STEADY_FEEDS_PER_S}
        for pace, feeds in paces.items():
            lines.append(_size_row(rate, pace, feeds, c, d))
    ceiling = fan_out_ceiling(c, mix, d)
    per_worker = c.app_us and u * 1e6 / c.app_us
    lines += ["", "Where it stops scaling (at 1 vCPU per task):", ""]
    if max_conn:
        most = max_conn // (2 * d.pool_size + d.listeners_per_worker)
        steady = max_conn // (d.pool_size + d.listeners_per_worker)
        lines.append(
            f"- **PostgreSQL's connections.** Each worker holds up to {d.pool_size} pooled "
            f"connections, {d.pool_size} more in overflow, and one LISTEN; the template's "
            f"{d.db_class} allows about {max_conn:,} (RDS's default, memory ÷ 9,531,392 "
            f"bytes): {most:,} workers at most, {steady:,} if no pool overflows. At "
            f"{per_worker:,.0f} requests/s per worker that is about {most * per_worker:,.0f}"
            f"–{steady * per_worker:,.0f} requests/s; past it, a connection pooler in front "
            f"of PostgreSQL (or smaller pools) is needed."
        )
    if ceiling is not None:
        lines.append(
            f"- **The fan-out of feeds.** With one feed in {mix.feed_every:,} requests, "
            f"every worker refetches {c.hot_keys} leaderboard pages after each feed, at "
            f"{c.miss_extra_app_us:,.0f} µs more of Tempo's CPU than a hit and "
            f"{c.miss_db_us:,.0f} µs of PostgreSQL's each. Feeds grow with the rate and "
            f"misses with the workers, so "
            f"past about {ceiling:,.0f} requests/s a core added brings more refetching than "
            f"it can serve (∞ above). Feeds at a rate of their own (a pipeline's, say one a "
            f"minute) cost {c.hot_keys} misses per worker a minute instead."
        )
    if db_vcpu:
        lines.append(
            f"- **PostgreSQL's CPU.** The {d.db_class} has {db_vcpu} vCPU; the mix needs "
            f"{c.db_us:,.1f} µs of it per request on hits and, per feed, "
            f"{c.feed_db_s * 1e6:,.0f} µs plus {c.miss_db_us:,.0f} µs per miss: "
            f"see the PostgreSQL column against {db_vcpu * u:.1f} cores at {u:.0%}."
        )
    lines.append(
        f"- **Autoscaling's limits.** MaxTasks {d.max_tasks} at {d.task_vcpu} vCPU serves "
        f"about {d.max_tasks * d.task_vcpu * per_worker:,.0f} requests/s by CPU, and the "
        f"request policy ({d.requests_per_target_per_minute:,} per task a minute = "
        f"{d.requests_per_target_per_minute / 60:,.0f}/s) already asks for "
        f"{10_000 * 60 / d.requests_per_target_per_minute:,.0f} tasks at 10,000 "
        f"requests/s, where {per_worker * d.task_vcpu:,.0f}/s per task would keep the CPU "
        f"at {u:.0%}."
    )
    lines.append(
        "- **The load balancer** has no fixed ceiling: an ALB adds capacity as load grows "
        "(gradually: a step to 1,000,000 requests/s needs pre-warming)."
    )
    if locust:
        lines.append(
            f"- **Locust** (committed `make assess` report, realistic mix at its "
            f"{locust['rate']:,.0f} step, {locust['rps']:,.0f} achieved) needs "
            f"{locust['locust_us']:,.0f} µs of CPU per request: "
            + ", ".join(f"{r * locust['locust_us'] / 1e6:,.0f} cores at {r:,}" for r in RATES)
            + f". Under it Tempo took {locust['server_us']:,.0f} µs per request against "
            f"{c.app_us:,.0f} under wrk: Locust's many connections at 10 requests/s each "
            f"wake the server for every request where wrk's 64 busy ones batch. Clients "
            f"behind a load balancer sit between the two, so the cores above are a floor; "
            f"×{locust['server_us'] / c.app_us:,.1f} for Locust's pattern."
        )  # fmt: skip
    lines += [
        "",
        f"Assumptions: the hot keys stay cached between feeds (the mix reads {distinct} "
        f"query strings; each worker keeps up to {MAX_ENTRIES_PER_TOPIC} per topic); other "
        f"leaderboard pages cost what the first page costs; "
        f"autoscaling holds the CPU at its target of {u:.0%} (`CpuTarget`) with one "
        f"worker per vCPU (`Workers`); a replica's CPU is all Tempo's (the task's other "
        f"processes are idle); the database's CPU is its backends' alone (no WAL writer, "
        f"checkpoints, replication to the Multi-AZ standby), and a burstable class such as "
        f"db.t4g sustains its vCPUs only on CPU credits; the connections leave out the "
        f"pipeline's runs and migrations; everything scales linearly from "
        f"{bench['cores']} cores.",
    ]
    return "\n".join(lines) + "\n"


def replace_block(text: str, block: str) -> str:
    """`text` with what lies between the markers replaced by `block` (idempotent)."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {BEGIN} … {END} block to rewrite")
    return pattern.sub(lambda _: f"{BEGIN}\n{block}{END}", text, count=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", type=Path, default=BENCH_JSON)
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--no-readme", action="store_true", help="print only")
    args = parser.parse_args(argv)
    if not args.bench.exists():
        sys.exit(f"{args.bench} is missing: run `make bench` first (about 5 minutes)")
    bench = json.loads(args.bench.read_text())
    unmeasured = [name for name, r in bench["routes"].items() if r["cpu_us_db"] is None]
    if unmeasured or any(f["cpu_s_db"] is None for f in bench["feeds"]):
        sys.exit(
            f"{args.bench} has no PostgreSQL CPU for {', '.join(unmeasured) or 'the feeds'}: "
            "make bench reads it from /proc, so DATABASE_URL must name a server on this machine"
        )
    mix = read_mix()
    deployment = read_deployment()
    block = render(bench, mix, deployment, costs(bench, mix), locust_figures())
    print(block)
    if not args.no_readme:
        args.readme.write_text(replace_block(args.readme.read_text(), block))
        print(f"rewrote the capacity block of {args.readme}")


if __name__ == "__main__":
    main()
