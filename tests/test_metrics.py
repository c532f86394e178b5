"""GET /metrics: Prometheus metrics by route template, summed over every worker, behind the
API token in production; the compose profile's Prometheus and Grafana configuration."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tempo.app import create_app
from tempo.core.metrics import forget_dead_workers
from tempo.core.settings import Settings
from tests.fixtures.app import TOKEN, make_settings, running
from tests.fixtures.processes import tempo_serve
from tests.test_deploy import compose_config, environment, mounts, ports

ROOT = Path(__file__).resolve().parent.parent
OBSERVABILITY = ROOT / "docker" / "observability"
DASHBOARD = OBSERVABILITY / "grafana" / "dashboards" / "tempo.json"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape: (name, labels) → value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    """The sum of `name`'s samples that carry these labels (0 if none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples(text).items() if n == name and wanted <= ls)


def feed_file(data_dir: Path, rows: int) -> None:
    lines = ["rank,user_id,name,messages"] + [
        f"{i + 1},{i},User {i},{100 - i}" for i in range(rows)
    ]
    (data_dir / "pipeline_result.csv").write_text("\n".join(lines) + "\n")


async def test_requests_counted_by_route_template_method_and_status(settings: Settings) -> None:
    async for client in running(create_app(settings)):
        for _ in range(3):
            assert (await client.get("/leaderboard?limit=7")).status_code == 200
        assert (await client.get("/no/such/page/12345")).status_code == 404
        assert (await client.get("/another-unknown-path")).status_code == 404
        assert (await client.post("/feed", json={})).status_code == 401  # refused before routing
        assert (await client.delete("/healthz")).status_code == 405
        assert (await client.request("BREW", "/healthz")).status_code == 405
        assert (await client.head("/healthz")).status_code == 200
        text = (await client.get("/metrics", headers=AUTH)).text
    assert value(text, "tempo_http_requests_total", route="/leaderboard", method="GET",
                 status="200") == 3  # fmt: skip
    assert value(text, "tempo_http_requests_total", route="unmatched", status="404") == 2
    assert value(text, "tempo_http_requests_total", route="/feed", method="POST",
                 status="401") == 1  # fmt: skip
    assert value(text, "tempo_http_requests_total", route="/healthz", method="DELETE") == 1
    assert value(text, "tempo_http_requests_total", route="/healthz", method="OTHER") == 1
    assert value(text, "tempo_http_requests_total", route="/healthz", method="HEAD",
                 status="200") == 1  # fmt: skip
    assert not any(dict(ls).get("method") == "BREW" for (_, ls) in samples(text))
    routes = {dict(ls).get("route") for (n, ls) in samples(text) if n.startswith("tempo_http")}
    assert not any("12345" in r or "another" in r for r in routes if r), routes  # no raw paths
    # The first read filled the cache, the next two were hits.
    assert value(text, "tempo_cache_misses_total", topic="leaderboard") == 1
    assert value(text, "tempo_cache_hits_total", topic="leaderboard") == 2
    assert value(text, "tempo_http_request_duration_seconds_count", route="/leaderboard") == 3
    assert 0 < value(text, "tempo_http_request_duration_seconds_sum", route="/leaderboard") < 10
    assert value(text, "tempo_cache_listeners_connected") == 1
    assert value(text, "tempo_workers") == 1
    assert value(text, "tempo_db_pool_connections") >= 1


async def test_production_scrapes_need_the_api_token(settings: Settings) -> None:
    async for client in running(create_app(settings)):
        missing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer wrong"})
        right = await client.get("/metrics", headers=AUTH)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    assert wrong.status_code == 403
    assert right.status_code == 200 and right.headers["content-type"].startswith("text/plain")
    assert "tempo_http_requests_total" in right.text


async def test_public_metrics_and_metrics_off(database_url: str, data_dir: Path) -> None:
    public = create_app(make_settings(database_url, data_dir, metrics_public=True))
    async for client in running(public):
        assert (await client.get("/metrics")).status_code == 200
    development = create_app(make_settings(database_url, data_dir, environment="development"))
    async for client in running(development):
        assert (await client.get("/metrics")).status_code == 200
    off = create_app(make_settings(database_url, data_dir, metrics=False))
    async for client in running(off):
        response = await client.get("/metrics", headers=AUTH)
        assert (await client.get("/healthz")).status_code == 200
    assert response.status_code == 404 and "METRICS=false" in response.text


async def test_feeds_counted_with_rows_and_outcome(settings: Settings, data_dir: Path) -> None:
    feed_file(data_dir, 12)
    (data_dir / "broken.csv").write_text("rank,user_id,name,messages\n1,x,A,3\n")
    async for client in running(create_app(settings)):
        ok = await client.post("/feed", json={"data_path": "pipeline_result.csv"}, headers=AUTH)
        bad = await client.post("/feed", json={"data_path": "broken.csv"}, headers=AUTH)
        text = (await client.get("/metrics", headers=AUTH)).text
    assert ok.status_code == 200 and bad.status_code == 422
    assert value(text, "tempo_jobs_total", job="feed", outcome="succeeded") == 1
    assert value(text, "tempo_jobs_total", job="feed", outcome="failed") == 1
    assert value(text, "tempo_job_rows_total", job="feed") == 12
    assert value(text, "tempo_job_duration_seconds_count", job="feed") == 2
    # The feed dropped the leaderboard topic in this process.
    assert value(text, "tempo_cache_invalidations_total", topic="leaderboard") >= 1


def test_a_scrape_sums_every_worker_of_tempo_serve(database_url: str, tmp_path: Path) -> None:
    """Requests spread over both workers (a request id starts with its worker's prefix);
    whichever worker answers the scrape reports them all."""
    with tempo_serve(database_url, tmp_path, WEB_CONCURRENCY="2") as base:
        answered_by: Counter[str] = Counter()
        deadline = time.monotonic() + 60
        while (len(answered_by) < 2 or sum(answered_by.values()) < 20) and (
            time.monotonic() < deadline
        ):
            with httpx.Client(base_url=base) as client:  # a new connection each time
                response = client.get("/healthz")
            assert response.status_code == 200
            answered_by[response.headers["x-request-id"][:24]] += 1
        assert len(answered_by) == 2, "every request went to one worker"
        sent = sum(answered_by.values())
        counted, workers, scraped_by = -1.0, 0.0, set()
        while time.monotonic() < deadline:
            scrape = httpx.get(f"{base}/metrics")  # development: public
            scraped_by.add(scrape.headers["x-request-id"][:24])
            counted = value(scrape.text, "tempo_http_requests_total", route="/healthz")
            workers = value(scrape.text, "tempo_workers")
            if counted == sent and workers == 2:
                break
            time.sleep(0.2)  # another worker's numbers are at most FLUSH_SECONDS old
    assert (counted, workers) == (sent, 2)
    assert counted > max(answered_by.values())
    assert scraped_by <= set(answered_by)


def test_a_dead_workers_gauges_go_and_its_counters_stay(tmp_path: Path) -> None:
    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    for name in (f"gauge_livesum_{dead}.db", f"gauge_livesum_{os.getpid()}.db",
                 f"counter_{dead}.db"):  # fmt: skip
        (tmp_path / name).write_bytes(b"")
    forget_dead_workers(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{dead}.db", f"gauge_livesum_{os.getpid()}.db"]
    )


def metric_names(text: str) -> set[str]:
    """Every series name a scrape can have, from its TYPE lines: counters' _total,
    histograms' _bucket, _sum and _count."""
    names = set()
    for family in text_string_to_metric_families(text):
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
        names |= {family.name + s for s in suffixes.get(family.type, [""])}
    return names


async def test_the_dashboard_charts_metrics_that_tempo_exposes(settings: Settings) -> None:
    async for client in running(create_app(settings)):
        exposed = metric_names((await client.get("/metrics", headers=AUTH)).text)
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] == "Tempo"
    assert isinstance(dashboard["schemaVersion"], int)
    datasources = yaml.safe_load(
        (OBSERVABILITY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"]
    uids = {source["uid"] for source in datasources if source["type"] == "prometheus"}
    panels = dashboard["panels"]
    assert len({panel["id"] for panel in panels}) == len(panels) >= 6
    charted = set()
    for panel in panels:
        assert panel["title"] and panel["type"] in {"timeseries", "stat"}
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
        assert panel["datasource"]["uid"] in uids
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in uids
            names = set(re.findall(r"\btempo_[a-z_]+", target["expr"]))
            assert names, target["expr"]
            charted |= names
    assert charted <= exposed, charted - exposed
    # Every kind of metric the issue asks for is on the dashboard.
    for name in ("tempo_http_requests_total", "tempo_http_request_duration_seconds_bucket",
                 "tempo_cache_hits_total", "tempo_cache_invalidations_total", "tempo_jobs_total",
                 "tempo_job_rows_total", "tempo_db_pool_connections_in_use",
                 "tempo_cache_listeners_connected"):  # fmt: skip
        assert name in charted
    provider = yaml.safe_load(
        (OBSERVABILITY / "grafana/provisioning/dashboards/tempo.yml").read_text()
    )["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_the_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make deploy-tools` installs it (Debian's prometheus)"
    # The token file is written by the container at start; promtool wants it to exist.
    token = tmp_path / "api_token"
    token.write_text("a-token")
    config = (OBSERVABILITY / "prometheus.yml").read_text()
    assert "credentials_file: /tmp/api_token" in config
    checked = tmp_path / "prometheus.yml"
    checked.write_text(config.replace("/tmp/api_token", str(token)))
    result = subprocess.run(
        [promtool, "check", "config", str(checked)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_the_observability_profile_scrapes_the_api_with_its_token(tmp_path: Path) -> None:
    services = compose_config(tmp_path, "--profile", "observability")["services"]
    prometheus, grafana, api = services["prometheus"], services["grafana"], services["api"]
    assert environment(prometheus)["API_TOKEN"] == environment(api)["API_TOKEN"]
    assert "/tmp/api_token" in " ".join(prometheus["command"])
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["api:8000"]
    assert job["authorization"]["credentials_file"] == "/tmp/api_token"
    assert (str(OBSERVABILITY / "prometheus.yml"), "/etc/prometheus/prometheus.yml") in mounts(
        prometheus
    )
    assert (str(OBSERVABILITY / "grafana/provisioning"), "/etc/grafana/provisioning") in mounts(
        grafana
    )
    for service in (prometheus, grafana):
        assert all(host == "127.0.0.1" for host, _, _ in ports(service))
