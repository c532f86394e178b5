"""The HTTP servers a load test points at, each started as a subprocess on a free port.

- `tempo`: Tempo itself, under uvicorn or granian, as `tempo serve` runs it;
- `bare`: an ASGI callable returning the same bytes, under the same server (the ceiling
  for any Python app on that server);
- `flask`: Flask + gunicorn + one SQL query per request (the old way);
- `nginx`: the same bytes as a static file (the ceiling of the machine).

`running(target)` starts one, waits until it answers, yields its base URL, and stops it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

Server = Literal["uvicorn", "granian"]
HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
READY_SECONDS = 120  # two workers of each of eight servers, on a loaded 2-core machine


@dataclass(frozen=True)
class Target:
    name: str
    argv: list[str]
    port: int
    ready_path: str = "/leaderboard?limit=100"
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _asgi_server(server: Server, app: str, workers: int, port: int, factory: bool) -> list[str]:
    if server == "uvicorn":
        return [
            str(BIN / "uvicorn"), app, *(["--factory"] if factory else []),
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning",
        ]  # fmt: skip
    return [
        str(BIN / "granian"), app, "--interface", "asgi", *(["--factory"] if factory else []),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def tempo(server: Server, workers: int, database_url: str, **settings: str) -> Target:
    """Tempo in its production configuration (settings as environment variables): log level
    INFO, the access log sampled at the production rate, every line going to the target's
    log file as it would to a file or a collector in production."""
    port = free_port()
    env = {
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "production",
        "API_TOKEN": settings.pop("API_TOKEN", "load-test-token-" + "x" * 24),
        "LOG_LEVEL": "INFO",
        **settings,
    }
    argv = [str(BIN / "tempo"), "serve", "--server", server, "--workers", str(workers),
            "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    return Target(f"tempo/{server}/{workers}w", argv, port, env=env)


def bare(server: Server, workers: int, body: Path) -> Target:
    port = free_port()
    argv = _asgi_server(server, "loadtest.baselines.bare_asgi:app", workers, port, factory=False)
    env = {"BASELINE_BODY": str(body), "PYTHONPATH": str(HERE.parent)}
    return Target(f"bare/{server}/{workers}w", argv, port, env=env)


def fastapi_body(server: Server, workers: int) -> Target:
    port = free_port()
    app = "loadtest.baselines.fastapi_body:app"
    argv = _asgi_server(server, app, workers, port, factory=False)
    return Target(f"fastapi-body/{server}/{workers}w", argv, port, ready_path="/openapi.json",
                  env={"PYTHONPATH": str(HERE.parent)})  # fmt: skip


def flask(workers: int, database_url: str) -> Target:
    port = free_port()
    argv = [str(BIN / "gunicorn"), "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
            "--log-level", "warning", "loadtest.baselines.flask_sql:app"]  # fmt: skip
    env = {"DATABASE_URL": database_url, "PYTHONPATH": str(HERE.parent)}
    return Target(f"flask/gunicorn/{workers}w", argv, port, env=env)


NGINX_CONF = """\
worker_processes {workers};
pid {root}/nginx.pid;
error_log {root}/error.log warn;
daemon off;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location = /leaderboard {{
            default_type application/json;
            alias {body};
        }}
    }}
}}
"""


def nginx(workers: int, body: Path, root: Path) -> Target:
    """nginx serving `body` at /leaderboard: what this machine can do at all."""
    executable = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=workers, root=root, port=port, body=body))
    return Target(f"nginx/{workers}w", [executable, "-c", str(conf), "-p", str(root)], port)


_GROUPS: dict[str, int] = {}  # base URL of a running target → its process group
_TICK = os.sysconf("SC_CLK_TCK")


def leader(url: str) -> int:
    """The process id of the target running at `url` (for a server with workers, their
    supervisor: the workers are its children)."""
    return _GROUPS[url]


def cpu_seconds(url: str) -> float:
    """CPU time (user + system) used so far by every process of the target at `url`."""
    group, total = _GROUPS[url], 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # Fields after the command name (which may hold spaces): state, ppid, pgrp, …
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[2]) == group:
                total += int(fields[11]) + int(fields[12])
    return total / _TICK


@contextlib.contextmanager
def running(target: Target, log_dir: Path) -> Iterator[str]:
    """Start `target`, wait for a 200 from its ready path, yield its URL; stop it after."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / (target.name.replace("/", "-") + ".log")
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            target.argv, env=os.environ | target.env, cwd=target.cwd, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        _GROUPS[target.url] = proc.pid  # start_new_session: the leader's pid is the group's
        try:
            _wait_ready(proc, target, log_path)
            yield target.url
        finally:
            _GROUPS.pop(target.url, None)
            _stop(proc)


def _wait_ready(proc: subprocess.Popen[bytes], target: Target, log_path: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{target.name} exited:\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(target.url + target.ready_path, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{target.name} not ready in {READY_SECONDS} s:\n{log_path.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # The whole process group: servers with workers have children of their own.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
