"""The load-test suite: loadtest/locustfile.py for real, a few seconds against a real
`tempo serve`, and the statistics of loadtest/assess.py's report on known numbers."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from loadtest.assess import (
    CpuSampler,
    Options,
    Sample,
    StepRow,
    cut_steps,
    estimate,
    percentile,
    ratios,
    read_rows,
    summarize,
    t95,
    write_rows,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.catalog.demo import seed_demo_catalog
from tempo.pipeline.feed import feed_file
from tests.fixtures.app import TOKEN
from tests.fixtures.processes import free_port, tempo_serve

LOCUST = Path(sys.executable).parent / "locust"
LOCUSTFILE = Path(__file__).resolve().parents[1] / "loadtest" / "locustfile.py"
RANKING = "rank,user_id,name,messages\n1,1,Ann Lee,3\n2,2,Bo Chen,2\n2,3,Cy Diaz,2\n4,4,Di Egan,0\n"
REALISTIC_NAMES = {
    "/leaderboard?limit=100",
    "/leaderboard?offset=…",
    "/leaderboard?limit=100 If-None-Match",
    "/tracks",
    "/schedule",
    "/feed",
}


@pytest.fixture
async def server(
    engine: AsyncEngine, database_url: str, data_dir: Path, tmp_path: Path
) -> Iterator[str]:
    """`tempo serve` with the demo catalog and a ranking, whose file the mix feeds again."""
    assert await seed_demo_catalog(engine)
    ranking = data_dir / "pipeline_result.csv"
    ranking.write_text(RANKING)
    await feed_file(engine, ranking)
    with tempo_serve(database_url, tmp_path, API_TOKEN=TOKEN, DATA_DIR=str(data_dir)) as base:
        yield base


def locust(base: str, folder: Path, **settings: str) -> dict[str, dict[str, str]]:
    """Run the locustfile headless with these LOADTEST_* settings; its stats per name."""
    folder.mkdir()
    env = os.environ | {f"LOADTEST_{name.upper()}": value for name, value in settings.items()}
    # --processes talks to its worker over a TCP port, 5557 unless told: a port of its own,
    # so that parallel test workers (and other runs on the machine) never share one.
    port = str(free_port())
    result = subprocess.run(
        [str(LOCUST), "-f", str(LOCUSTFILE), "--headless", "--host", base, "--processes", "1",
         "--master-bind-port", port, "--master-port", port,
         "--csv", str(folder / "run"), "--only-summary", "--loglevel", "WARNING"],
        env=env, cwd=folder, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with (folder / "run_stats.csv").open(newline="") as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


@pytest.mark.slow
def test_the_realistic_mix_hits_every_endpoint_without_a_failure(
    server: str, tmp_path: Path
) -> None:
    records = tmp_path / "records"
    records.mkdir()
    stats = locust(
        server, tmp_path / "realistic", steps="50,100", step_seconds="2.5", user_rps="10",
        api_token=TOKEN, feed_every="25", record_dir=str(records),
    )  # fmt: skip
    total = stats.pop("Aggregated")
    assert set(stats) == REALISTIC_NAMES
    for name, row in stats.items():
        assert int(row["Request Count"]) > 0, name
        assert int(row["Failure Count"]) == 0, (name, row)
    # Revalidations got 304s with empty bodies: on average smaller than the page.
    revalidated = stats["/leaderboard?limit=100 If-None-Match"]["Average Content Size"]
    assert float(revalidated) < float(stats["/leaderboard?limit=100"]["Average Content Size"])

    # The per-second records assess.py cuts steps from count what Locust counted, and the
    # shape wrote both steps.
    recorded = [json.loads(p.read_text()) for p in records.glob("requests-*.json")]
    assert sum(s["requests"] for r in recorded for s in r.values()) == int(total["Request Count"])
    timeline = json.loads((records / "steps.json").read_text())
    assert [(s["rate"], s["users"]) for s in timeline["steps"]] == [(50, 5), (100, 10)]
    assert timeline["end"] - timeline["steps"][0]["start"] == pytest.approx(5, abs=1.5)


@pytest.mark.slow
def test_the_leaderboard_mix_only_reads_the_first_page(server: str, tmp_path: Path) -> None:
    stats = locust(
        server, tmp_path / "leaderboard", mix="leaderboard", steps="20", step_seconds="2"
    )
    assert set(stats) == {"/leaderboard?limit=100", "Aggregated"}
    assert int(stats["Aggregated"]["Request Count"]) > 0
    assert int(stats["Aggregated"]["Failure Count"]) == 0


def row(config: str, target: str, repeat: int, rate: int, rps: float, p99: float) -> StepRow:
    return StepRow(
        config, target, repeat, rate, users=rate // 10, seconds=10, requests=int(rps * 10),
        failures=repeat, rps=rps, p50_ms=1.0, p95_ms=2.0, p99_ms=p99, max_ms=9.0,
        locust_cores=rps * 200e-6, server_cores=rps * 50e-6, machine_cores=1.5,
    )  # fmt: skip


def test_report_statistics_on_known_runs(tmp_path: Path) -> None:
    rows = [
        row("leaderboard", "nginx", 0, 1000, 100.0, 3.0),
        row("leaderboard", "nginx", 1, 1000, 110.0, 4.0),
        row("leaderboard", "nginx", 2, 1000, 120.0, 8.0),
        row("leaderboard", "tempo", 0, 1000, 90.0, 5.0),
        row("leaderboard", "tempo", 1, 1000, 99.0, 5.0),
        row("leaderboard", "tempo", 2, 1000, 120.0, 5.0),
        row("leaderboard", "tempo", 3, 1000, 500.0, 5.0),  # no nginx run to pair it with
    ]
    path = tmp_path / "steps.csv"
    write_rows(path, rows)
    assert read_rows(path) == rows

    nginx = summarize(rows)[("leaderboard", "nginx", 1000)]
    # mean 110, sample sd 10, n 3: half-width t(0.975, 2) × 10 / √3
    assert nginx["rps"].mean == pytest.approx(110)
    assert nginx["rps"].half == pytest.approx(4.303 * 10 / math.sqrt(3))
    assert nginx["p99_ms"].mean == pytest.approx(5)
    assert nginx["error_rate"].mean == pytest.approx((0 / 1000 + 1 / 1100 + 2 / 1200) / 3)
    assert nginx["locust_us"].mean == pytest.approx(200)
    assert nginx["server_us"].mean == pytest.approx(50)
    assert nginx["other_cores"].mean == pytest.approx(1.5 - 110 * 250e-6)

    # Paired by repeat: 90/100, 99/110, 120/120 = 0.9, 0.9, 1.0; repeat 3 has no pair.
    ratio = ratios(rows, ("leaderboard", "tempo"), ("leaderboard", "nginx"))[1000]
    assert ratio.n == 3
    assert ratio.mean == pytest.approx(2.8 / 3)
    assert ratio.half == pytest.approx(4.303 * math.sqrt(1 / 300) / math.sqrt(3))

    assert estimate([7.0]).half is None
    assert estimate([1.0, 3.0]).half == pytest.approx(12.706)
    assert (t95(11), t95(500)) == (2.228, 1.96)
    assert estimate([100.0, 110.0, 120.0]).show() == "110 ± 25"


def test_percentiles_of_a_histogram() -> None:
    histogram = Counter({1.0: 50, 2.0: 45, 10.0: 4, 300.0: 1})
    assert [percentile(histogram, q) for q in (0.5, 0.51, 0.95, 0.99, 1.0)] == [
        1.0, 2.0, 2.0, 10.0, 300.0,
    ]  # fmt: skip


def test_steps_are_cut_from_per_second_records_without_their_warm_up(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.mkdir()
    # Steps start at t=100 and t=110 and end at t=120. Two processes; the first two seconds
    # of each step (warm-up) carry a burst and slow answers that must not count.
    timeline = {"steps": [{"rate": 10, "users": 1, "start": 100.0},
                          {"rate": 50, "users": 5, "start": 110.0}], "end": 120.0}  # fmt: skip
    (records / "steps.json").write_text(json.dumps(timeline))
    for pid in (1, 2):
        seconds = {}
        for second in range(100, 120):
            warm_up = second in (100, 101, 110, 111)
            per_process = 500 if warm_up else (5 if second < 110 else 25)
            ms = {"900": per_process} if warm_up else {"1.5": per_process - 1, "20": 1}
            seconds[str(second)] = {"requests": per_process, "failures": int(pid == 2), "ms": ms}
        (records / f"requests-{pid}.json").write_text(json.dumps(seconds))
    sampler = CpuSampler(locust_group=0, server_group=0)
    # Locust 0.5 cores, the server 0.25, the machine 1 throughout.
    sampler.samples = [Sample(100 + i / 2, i / 4, i / 8, i / 2) for i in range(41)]
    options = Options([10, 50], 10, 2, 1, 1, 1, "uvicorn", 10, tmp_path, tmp_path)

    rows, histograms = cut_steps(options, "leaderboard", "tempo", 0, records, sampler)

    first, second = rows
    assert (first.rate, first.users, first.seconds, first.requests) == (10, 1, 8, 80)
    assert (first.rps, first.failures, first.p50_ms, first.max_ms) == (10, 8, 1.5, 20)
    assert (second.rate, second.seconds, second.requests, second.rps) == (50, 8, 400, 50)
    assert (first.locust_cores, first.server_cores, first.machine_cores) == (0.5, 0.25, 1)
    assert first.us_per_request(first.locust_cores) == pytest.approx(50_000)
    assert histograms[50] == Counter({1.5: 384, 20.0: 16})
