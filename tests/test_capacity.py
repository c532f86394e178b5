"""loadtest/capacity.py: the capacity model's arithmetic on a small fixed set of figures, the
mix read from the locustfile, and the README block it rewrites."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
from loadtest import capacity
from loadtest.capacity import Costs, Deployment, Mix

DEPLOYMENT = Deployment(
    cpu_target=0.5,
    workers_per_vcpu={1: 1, 2: 2, 4: 4},
    task_vcpu=1,
    max_tasks=20,
    requests_per_target_per_minute=30_000,
    db_class="db.t4g.medium",
    pool_size=10,
)
MIX = Mix(
    shares={"first_page": 50, "revalidate": 20, "search": 20, "plan_day": 10},
    feed_every=1000,
    keys={"first_page": ["limit=100"], "revalidate": ["limit=100"], "search": ["q=a", "q=b"]},
)


def route(app: float, db: float) -> dict[str, Any]:
    return {"method": "GET", "path": "/x", "cpu_us_app": app, "cpu_us_db": db, "rps": 1.0,
            "errors": 0}  # fmt: skip


def bench(**overrides: dict[str, Any]) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "date": "2026-11-29 12:00 UTC", "commit": "abc", "server": "uvicorn", "workers": 2,
        "cores": 2, "rounds": 4, "seconds_per_run": 2,
        "machine": {"cpu": "a CPU", "load_average_before": [1, 1, 1],
                    "load_average_after": [2, 2, 2]},
        "routes": {
            "leaderboard_cached": route(40, 0), "leaderboard_revalidate": route(30, 0),
            "leaderboard_miss": route(1040, 500), "tracks_cached": route(50, 0),
            "tracks_miss": route(2000, 100), "schedule": route(400, 0),
        },
        "feeds": [{"file": "pipeline_result.csv", "rows": 1000, "feeds": 3, "seconds": 0.1,
                   "cpu_s_app": 0.02, "cpu_s_db": 0.01}],
    }  # fmt: skip
    figures["routes"] |= overrides
    return figures


def test_the_mix_is_weighted_by_its_shares() -> None:
    c = capacity.costs(bench(), MIX)
    assert c.app_us == pytest.approx(0.5 * 40 + 0.2 * 30 + 0.2 * 50 + 0.1 * 400)
    assert c.miss_extra_app_us == 1000  # the miss less the hit it replaces
    assert c.miss_db_us == 500
    assert c.hot_keys == 1  # one leaderboard key: the revalidations read the same page
    assert (c.feed_app_s, c.feed_db_s, c.feed_rows) == (0.02, 0.01, 1000)


def test_doubling_the_cpu_per_request_doubles_the_cores() -> None:
    figures = bench()
    doubled = copy.deepcopy(figures)
    for r in doubled["routes"].values():
        r["cpu_us_app"] *= 2
    once = capacity.size(100_000, 0.0, 1, capacity.costs(figures, MIX), DEPLOYMENT)
    twice = capacity.size(100_000, 0.0, 1, capacity.costs(doubled, MIX), DEPLOYMENT)
    assert once is not None and twice is not None
    assert twice["cores"] == pytest.approx(2 * once["cores"])
    # cores = CPU ÷ the target utilisation; one replica per vCPU's worth of cores
    assert once["cores"] == pytest.approx(100_000 * 76e-6 / 0.5)
    for vcpu in (1, 2, 4):
        sized = capacity.size(100_000, 0.0, vcpu, capacity.costs(figures, MIX), DEPLOYMENT)
        assert sized is not None
        assert sized["replicas"] == math.ceil(once["cores"] / vcpu)
        assert sized["workers"] == sized["replicas"] * vcpu


def test_the_database_share_is_zero_when_every_read_is_a_hit() -> None:
    c = capacity.costs(bench(), MIX)
    sized = capacity.size(50_000, 0.0, 2, c, DEPLOYMENT)  # no feeds: nothing misses
    assert sized is not None
    assert sized["misses"] == 0
    assert sized["db_cpu"] == 0 and sized["db_share"] == 0
    # a route that reads the database on every request gives it its share
    busy = capacity.costs(bench(schedule=route(400, 200)), MIX)
    sized = capacity.size(50_000, 0.0, 2, busy, DEPLOYMENT)
    assert sized is not None
    assert sized["db_cpu"] == pytest.approx(50_000 * 0.1 * 200e-6)
    assert sized["db_share"] == pytest.approx(
        sized["db_cpu"] / (sized["db_cpu"] + sized["app_cpu"])
    )


def test_every_feed_costs_a_miss_per_worker_and_hot_key() -> None:
    c = capacity.costs(bench(), MIX)
    feeds = capacity.mix_feeds(20_000, MIX)
    assert feeds == 20
    sized = capacity.size(20_000, feeds, 1, c, DEPLOYMENT)
    assert sized is not None
    assert sized["misses"] == feeds * sized["workers"] * c.hot_keys
    # the cores carry the feeds and the misses, and are a fixed point of the workers
    app_cpu = (20_000 * c.app_us + sized["misses"] * c.miss_extra_app_us) / 1e6 + feeds * 0.02
    assert sized["app_cpu"] == pytest.approx(app_cpu)
    assert sized["replicas"] == math.ceil(app_cpu / 0.5)
    db_cpu = sized["misses"] * 500e-6 + feeds * 0.01
    assert sized["db_cpu"] == pytest.approx(db_cpu)
    # connections: each worker's pool and its LISTEN, and the pool's overflow at most
    assert sized["connections"] == (sized["workers"] * 11, sized["workers"] * 21)


def test_past_the_fan_out_ceiling_there_is_no_size() -> None:
    c = capacity.costs(bench(), MIX)
    ceiling = capacity.fan_out_ceiling(c, MIX, DEPLOYMENT)
    # a core (at 50 %) serves 0.5 s of CPU a second; a worker's misses cost
    # rate ÷ 1000 feeds × 1 key × 1 ms
    assert ceiling == pytest.approx(0.5 * 1000 / 1e-3)
    below, above = 0.8 * ceiling, 1.2 * ceiling
    assert capacity.size(below, capacity.mix_feeds(below, MIX), 1, c, DEPLOYMENT) is not None
    assert capacity.size(above, capacity.mix_feeds(above, MIX), 1, c, DEPLOYMENT) is None
    # feeds at a pace of their own scale again
    assert capacity.size(above, 1 / 60, 1, c, DEPLOYMENT) is not None


def test_the_mix_is_read_from_the_locustfile(tmp_path: Path) -> None:
    mix = capacity.read_mix()
    assert sum(mix.shares.values()) == 100
    assert set(mix.shares) <= set(capacity.TASK_ROUTES)
    assert mix.feed_every and mix.feed_every > 1
    assert "/leaderboard?limit=100" in mix.keys["first_page"]
    # another weight in the file is another weight in the model
    text = capacity.LOCUSTFILE.read_text()
    changed, count = re.subn(r"\{first_page: \d+", "{first_page: 70", text)
    assert count == 1
    (tmp_path / "locustfile.py").write_text(changed)
    assert capacity.read_mix(tmp_path / "locustfile.py").shares["first_page"] == 70


def test_the_template_runs_one_worker_per_vcpu() -> None:
    deployment = capacity.read_deployment()
    assert deployment.workers_per_vcpu == {v: v for v in deployment.workers_per_vcpu}
    assert 0 < deployment.cpu_target < 1
    assert deployment.db_class in capacity.DB_CLASSES


def test_the_readme_block_is_replaced_idempotently(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# T\n\nbefore\n\n{capacity.BEGIN}\nold table\n{capacity.END}\n\nafter\n")
    figures = tmp_path / "http.json"
    figures.write_text(json.dumps(bench()))
    capacity.main(["--bench", str(figures), "--readme", str(readme)])
    once = readme.read_text()
    assert "old table" not in once
    assert once.startswith("# T\n\nbefore\n\n") and once.endswith("\n\nafter\n")
    assert once.count(capacity.BEGIN) == once.count(capacity.END) == 1
    assert "| 10,000 |" in once and "| 1,000,000 |" in once
    capacity.main(["--bench", str(figures), "--readme", str(readme)])
    assert readme.read_text() == once
    with pytest.raises(SystemExit, match="no <!-- capacity:begin -->"):
        capacity.replace_block("no markers here", "table\n")


def test_missing_figures_say_to_run_the_benchmark(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="run `make bench` first"):
        capacity.main(["--bench", str(tmp_path / "none.json"), "--no-readme"])


def test_costs_names_the_feed_it_models() -> None:
    figures = bench()
    figures["feeds"].append({"file": "big.csv", "rows": 200_000, "feeds": 3, "seconds": 2.0,
                             "cpu_s_app": 0.5, "cpu_s_db": 1.5})  # fmt: skip
    assert capacity.costs(figures, MIX).feed_rows == 1000  # the mix's: the first
    assert capacity.costs(figures, MIX, "big.csv").feed_db_s == 1.5
    assert isinstance(capacity.costs(figures, MIX), Costs)


def test_figures_without_the_database_cpu_are_refused(tmp_path: Path) -> None:
    figures = bench(leaderboard_miss=route(1040, 0))
    figures["routes"]["leaderboard_miss"]["cpu_us_db"] = None  # a server on another machine
    path = tmp_path / "http.json"
    path.write_text(json.dumps(figures))
    with pytest.raises(SystemExit, match="no PostgreSQL CPU for leaderboard_miss"):
        capacity.main(["--bench", str(path), "--no-readme"])
