"""Locust load test of the hot read paths: `GET /leaderboard` and `GET /healthz`.

Distributed, as `compose.yaml`'s `loadtest` profile runs it (a master and N workers):

    docker compose --profile loadtest up --build --scale locust-worker=4   # UI on :8089

or headless against a local `tempo serve`, on this machine only:

    locust -f loadtest/locustfile.py --headless --processes -1 -u 200 -r 50 -t 60s \
        --host http://127.0.0.1:8000
"""

from __future__ import annotations

from locust import FastHttpUser, task


class Reader(FastHttpUser):
    """A client polling the ranking as fast as the server answers (no think time)."""

    @task(10)
    def leaderboard(self) -> None:
        self.client.get("/leaderboard?limit=100", name="/leaderboard")

    @task(1)
    def healthz(self) -> None:
        self.client.get("/healthz")
