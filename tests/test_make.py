"""The two entry points a newcomer and CI run: what `.ci/run` and `make` decide by themselves.

Each test runs the real script or Makefile with a stand-in for the command it would hand over
to (`make` for `.ci/run`, `docker` for the compose check), so it checks the decision, not the
whole suite.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.own_postgres import OwnPostgres
from tests.fixtures.processes import free_port

ROOT = Path(__file__).resolve().parent.parent


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def fake_make(tmp_path: Path) -> Path:
    """A `make` that only reports the DATABASE_URL `.ci/run` chose."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "make", '#!/bin/sh\necho "DATABASE_URL=${DATABASE_URL-<unset>}"\n')
    return bin_dir


def _ci_run(bin_dir: Path, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment |= {"PATH": f"{bin_dir}:{os.environ['PATH']}", "CI": "true"} | env
    result = subprocess.run(
        [str(ROOT / ".ci" / "run")],
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture
def not_postgres() -> Iterator[int]:
    """A port that accepts connections and says nothing: not a PostgreSQL server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_ci_run_without_a_server_uses_the_embedded_database(
    fake_make: Path, closed_port: int
) -> None:
    out = _ci_run(fake_make, CI_POSTGRES=f"127.0.0.1:{closed_port}")
    assert "DATABASE_URL=<unset>" in out
    assert f"no PostgreSQL on 127.0.0.1:{closed_port}" in out


@pytest.mark.slow
def test_ci_run_does_not_take_any_listener_for_postgresql(
    fake_make: Path, not_postgres: int
) -> None:
    out = _ci_run(fake_make, CI_POSTGRES=f"127.0.0.1:{not_postgres}")
    assert "DATABASE_URL=<unset>" in out


def test_ci_run_uses_a_server_that_answers(fake_make: Path, own_pg: OwnPostgres) -> None:
    # A PostgreSQL of the test's own on a free TCP port, whatever server the suite uses
    # (the embedded one listens on a socket only).
    out = _ci_run(fake_make, CI_POSTGRES=f"127.0.0.1:{own_pg.port}")
    assert f"DATABASE_URL=postgresql://postgres@127.0.0.1:{own_pg.port}/test" in out


def test_ci_run_keeps_a_database_url_it_is_given(fake_make: Path, closed_port: int) -> None:
    given = "postgresql://someone@db.internal:6543/tempo"
    out = _ci_run(fake_make, DATABASE_URL=given, CI_POSTGRES=f"127.0.0.1:{closed_port}")
    assert f"DATABASE_URL={given}" in out


def _lint_commands(tmp_path: Path, docker: str | None) -> list[str]:
    """`make -n lint`'s compose commands, with `docker` on PATH behaving as given."""
    bin_dir = tmp_path / "docker-bin"
    bin_dir.mkdir(parents=True)
    if docker is not None:
        _executable(bin_dir / "docker", docker)
    # Only this folder and the basic tools: no docker of the machine's own.
    path = f"{bin_dir}:/usr/bin:/bin"
    result = subprocess.run(
        ["make", "-n", "-s", "lint", "UV=uv"],
        cwd=ROOT,
        env={"PATH": path, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if "compose.yaml" in line]


def test_make_lint_uses_the_compose_v2_plugin_when_docker_has_it(tmp_path: Path) -> None:
    plugin = '#!/bin/sh\n[ "$1" = compose ] && [ "$2" = version ] && exit 0\nexit 1\n'
    commands = _lint_commands(tmp_path, plugin)
    assert commands and all(c.startswith("docker compose -f compose.yaml") for c in commands)


def test_make_lint_falls_back_to_docker_compose_v1(tmp_path: Path) -> None:
    without_plugin = '#!/bin/sh\necho "docker: unknown command: docker $1" >&2\nexit 1\n'
    for docker in (without_plugin, None):
        commands = _lint_commands(tmp_path / str(docker is None), docker)
        assert commands and all(c.startswith("docker-compose -f compose.yaml") for c in commands)
