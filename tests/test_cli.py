"""The `tempo` command through its installed entry point, as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tempo.core.db import head_revisions
from tests.fixtures.app import TOKEN
from tests.fixtures.files import read_result, reference_ranking, write
from tests.fixtures.processes import READY_SECONDS, TEMPO, serving, tempo


def test_help_lists_every_command() -> None:
    result = tempo("--help")
    assert result.returncode == 0
    for command in ("aggregate", "feed", "serve", "migrate", "sample"):
        assert command in result.stdout
    module = subprocess.run(
        [sys.executable, "-m", "tempo", "--help"], capture_output=True, text=True
    )
    assert module.returncode == 0 and "aggregate" in module.stdout


def test_every_command_renders_its_help() -> None:
    # Help text is rich markup: a stray "[/…]" in one option's help crashed `--help`.
    import typer.main
    from typer.testing import CliRunner

    from tempo.cli import app

    def paths(command: Any, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield prefix
        for name, sub in getattr(command, "commands", {}).items():  # a group's sub-commands
            yield from paths(sub, (*prefix, name))

    every = list(paths(typer.main.get_command(app), ()))
    assert ("pipeline", "run") in every and ("aggregate",) in every
    runner = CliRunner()
    for path in every:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output, result.exception)
        assert "Usage" in result.output
        # The usage line brackets an optional argument itself: a metavar must not add more.
        usage = result.output.splitlines()[0]
        assert "[[" not in usage and "{[" not in usage and "{{" not in usage, (path, usage)
    analyze = runner.invoke(app, ["analyze", "spotify", "--help"]).output.splitlines()[0]
    assert analyze == "Usage: tempo analyze spotify [OPTIONS] [PATH_OR_URL]"


def test_aggregate_writes_the_result_and_a_summary(sample_dir: Path, tmp_path: Path) -> None:
    result = tempo("aggregate", str(sample_dir / "messages.csv"), str(sample_dir / "users.csv"),
                   str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "10 messages" in result.stdout and "10 users" in result.stdout
    assert "0 orphan messages" in result.stdout and " s → " in result.stdout
    rows = read_result(tmp_path / "out" / "pipeline_result.csv")
    assert rows == reference_ranking(sample_dir / "messages.csv", sample_dir / "users.csv")


def test_aggregate_failures_exit_non_zero_naming_file_column_and_row(tmp_path: Path) -> None:
    messages = write(tmp_path / "messages.csv", "message_id,author_id\n1,1\n2,abc\n")
    users = write(tmp_path / "users.csv", "user_id,name\n1,A\n")
    result = tempo("aggregate", str(messages), str(users), str(tmp_path / "out"))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {messages}, row 2, column 'author_id': not an integer (value 'abc')"
    )
    assert not (tmp_path / "out").exists()

    missing = tempo("aggregate", str(tmp_path / "none.csv"), str(users), str(tmp_path / "out"))
    assert missing.returncode == 1 and "none.csv: file not found" in missing.stderr


def test_sample_then_aggregate_counts_orphans(tmp_path: Path) -> None:
    made = tempo("sample", str(tmp_path), "--messages", "1000", "--users", "20",
                 "--orphan-every", "100")  # fmt: skip
    assert made.returncode == 0, made.stderr
    result = tempo("aggregate", str(tmp_path / "messages.csv"), str(tmp_path / "users.csv"),
                   str(tmp_path))  # fmt: skip
    assert "10 orphan messages" in result.stdout, result.stdout
    rows = read_result(tmp_path / "pipeline_result.csv")
    assert rows == reference_ranking(tmp_path / "messages.csv", tmp_path / "users.csv")
    assert sum(r[3] for r in rows) == 1000


@pytest.mark.slow
def test_migrate_then_feed_into_a_database(
    empty_database_url: str, sample_dir: Path, tmp_path: Path
) -> None:
    tempo("aggregate", str(sample_dir / "messages.csv"), str(sample_dir / "users.csv"),
          str(tmp_path))  # fmt: skip
    result_csv = str(tmp_path / "pipeline_result.csv")

    unmigrated = tempo("feed", result_csv, "--database-url", empty_database_url)
    assert unmigrated.returncode == 1 and "run `tempo migrate`" in unmigrated.stderr

    migrated = tempo("migrate", "--database-url", empty_database_url)
    head = ", ".join(sorted(head_revisions()))
    assert migrated.returncode == 0 and f"revision {head}" in migrated.stdout

    fed = tempo("feed", result_csv, env={"DATABASE_URL": empty_database_url})
    assert fed.returncode == 0, fed.stderr
    assert "fed 10 rows" in fed.stdout and "rows/s" in fed.stdout

    bad = write(tmp_path / "bad.csv", "rank,user_id,name,messages\n1,1,A,x\n")
    refused = tempo("feed", str(bad), "--database-url", empty_database_url)
    assert refused.returncode == 1
    assert "row 1, column 'messages': not an integer" in refused.stderr


def test_feed_reports_an_unreachable_database(tmp_path: Path) -> None:
    csv = write(tmp_path / "r.csv", "rank,user_id,name,messages\n1,1,A,1\n")
    result = tempo("feed", str(csv), "--database-url", "postgresql://u:secret@127.0.0.1:9/db")
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach the database")
    assert "secret" not in result.stderr + result.stdout


def test_feed_names_a_database_that_does_not_exist(tmp_path: Path, database_url: str) -> None:
    from tests.fixtures.database import with_database

    csv = write(tmp_path / "r.csv", "rank,user_id,name,messages\n1,1,A,1\n")
    missing = with_database(database_url, "tempo_no_such_database")
    result = tempo("feed", str(csv), "--database-url", missing)
    assert result.returncode == 1
    assert result.stderr.startswith("error: the database refused the connection: ")
    assert '"tempo_no_such_database" does not exist' in result.stderr


def test_production_refuses_the_placeholder_token(tmp_path: Path) -> None:
    result = tempo(
        "serve",
        env={
            "ENVIRONMENT": "production",
            "API_TOKEN": "change-me",
            "DATABASE_URL": "postgresql://h/d",
        },
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "API_TOKEN is the placeholder" in result.stderr


SERVERS = {"uvicorn (the default)": [], "granian": ["--server", "granian", "--workers", "2"]}


@pytest.fixture(params=SERVERS)
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    """`tempo serve` with no DATABASE_URL: embedded PostgreSQL and demo data, as `make run`;
    on either HTTP server (granian with two workers, which share the embedded database).
    The two servers' own log lines tell which one runs."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"LOG_FORMAT": "json"}
    # A folder of /tmp, not tmp_path: pgserver's initdb runs as another user, and every
    # pytest run on the machine sets pytest-of-<user> back to 0700 (as the database fixture).
    with tempfile.TemporaryDirectory(prefix="tempo-serve-") as folder:
        cwd = Path(folder)
        with serving(cwd, *SERVERS[request.param], env=env, timeout=READY_SECONDS) as server:
            assert server.process is not None
            yield server.base, cwd, server.process


@pytest.mark.db  # the embedded one, which `tempo serve` starts
@pytest.mark.slow
def test_serve_out_of_the_box(served: tuple[str, Path, subprocess.Popen[str]]) -> None:
    base, cwd, proc = served
    board = httpx.get(f"{base}/leaderboard", params={"limit": 5}).json()
    assert board["total"] > 0 and len(board["leaderboard"]) == 5
    assert board["leaderboard"][0]["rank"] == 1
    assert httpx.get(f"{base}/docs").status_code == 200
    assert (cwd / ".tempo" / "pgdata").is_dir()
    assert (cwd / "data" / "pipeline_result.csv").is_file()

    response = httpx.get(f"{base}/healthz", headers={"X-Request-ID": "cli-test-1"})
    assert response.headers["x-request-id"] == "cli-test-1"
    # uvicorn's "server" header is switched off (granian has no such switch).
    assert response.headers.get("server") in (None, "granian")
    # Behind a proxy on a trusted address (127.0.0.1 by default), the client is the one it names.
    forwarded = {"X-Request-ID": "cli-test-2", "X-Forwarded-For": "203.0.113.7"}
    assert httpx.get(f"{base}/healthz", headers=forwarded).status_code == 200
    feed = httpx.post(f"{base}/feed", json={"data_path": "pipeline_result.csv"},
                      headers={"Authorization": "Bearer change-me"})  # fmt: skip
    assert feed.status_code == 200, feed.text
    log = (cwd / "serve.log").read_text()
    assert '"request_id": "cli-test-1"' in log
    (line,) = [json.loads(ln) for ln in log.splitlines() if '"request_id": "cli-test-2"' in ln]
    assert line["client"] == "203.0.113.7"
    assert ("Uvicorn running on" in log) != ("--server" in proc.args)  # type: ignore[operator]
    assert "change-me" not in log
    assert TOKEN not in log

    # SIGTERM (docker stop, systemd, kill): a clean exit that stops the embedded database.
    # uvicorn reports the signal in its exit status; granian finishes its shutdown with 0.
    proc.terminate()
    assert proc.wait(timeout=30) in (0, 128 + 15)
    assert not (cwd / ".tempo" / "pgdata" / "postmaster.pid").exists()


def _cmdline(process: Any) -> str:
    """A process's command line, or "" for one that has exited meanwhile (pg_ctl and the
    like come and go during a start-up)."""
    import psutil

    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


@pytest.mark.db  # the embedded one, which `tempo serve` starts
@pytest.mark.slow
def test_sigterm_while_the_database_is_prepared_stops_the_embedded_one() -> None:
    """docker stop or an IDE's stop button during start-up: the embedded PostgreSQL goes
    too (it used to stay, and every later serve then left it running)."""
    import psutil

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    with tempfile.TemporaryDirectory(prefix="tempo-serve-") as folder:
        proc = subprocess.Popen([TEMPO, "serve", "--port", "0"], cwd=folder, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            deadline = time.monotonic() + READY_SECONDS
            while not any("prepare_database_process" in _cmdline(c)
                          for c in psutil.Process(proc.pid).children()):  # fmt: skip
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
                time.sleep(0.05)
            proc.terminate()
            assert proc.wait(timeout=60) == 128 + 15
        finally:
            proc.kill()
        pgdata = str(Path(folder) / ".tempo" / "pgdata")
        time.sleep(1)  # pg_ctl's fast shutdown has returned; its processes are gone
        left = [p.pid for p in psutil.process_iter(["cmdline"])
                if pgdata in " ".join(p.info["cmdline"] or [])]  # fmt: skip
        assert left == [], f"processes still on {pgdata}: {left}"
        assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")


def test_serve_on_a_taken_port_says_so_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # Refused before the database is touched: this URL would fail later, and otherwise.
        result = tempo("serve", "--port", str(port), cwd=tmp_path,
                       env={"DATABASE_URL": "postgresql://u@127.0.0.1:9/nowhere"})  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert "Tempo on" not in result.stdout


def test_an_unreadable_file_is_reported(tmp_path: Path) -> None:
    """Permissions are checked as an unprivileged user (root reads everything)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="tempo-perm-"))
    try:
        folder.chmod(0o755)
        secret = write(folder / "messages.csv", "message_id,author_id\n1,1\n")
        users = write(folder / "users.csv", "user_id,name\n1,A\n")
        secret.chmod(0o000)
        users.chmod(0o644)
        command = [TEMPO, "aggregate", str(secret), str(users), str(folder / "out")]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 1
        assert f"{secret}: cannot read the file: Permission denied" in result.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)


SCHEDULE_REQUEST = {
    "date": "2026-11-23",
    "day_start": "08:00",
    "day_end": "10:00",
    "appointments": [{"title": "Stand-up", "start": "08:30", "end": "09:00"}],
    "todos": [{"title": "Too long", "duration_minutes": 120}],
    "music": [{"title": "Warm-up", "artist": "DJ", "duration_seconds": 200}],
}


def test_schedule_prints_a_table_from_a_file_or_stdin(tmp_path: Path) -> None:
    import json

    request = write(tmp_path / "day.json", json.dumps(SCHEDULE_REQUEST))
    result = tempo("schedule", str(request))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Plan for 2026-11-23, 08:00–10:00"
    assert any(line.split()[:3] == ["08:00", "08:03:20", "♪"] and "Warm-up — DJ" in line
               for line in lines)  # fmt: skip
    assert any(line.split()[:3] == ["08:30", "09:00", "appt"] for line in lines)
    assert "  todos[0]: Too long: no free slot of 120 min between 08:00 and 10:00" in lines
    assert lines[-1] == "busy 30 min · music 3 min 20 s · free 1 h 26 min 40 s"

    piped = subprocess.run(
        [TEMPO, "schedule", "-", "--ics"], input=json.dumps(SCHEDULE_REQUEST),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.startswith("BEGIN:VCALENDAR")
    assert piped.stdout.count("BEGIN:VEVENT") == 2
    assert "DTSTART:20261123T080000" in piped.stdout


@pytest.mark.slow
def test_schedule_rejects_bad_requests_naming_the_field(tmp_path: Path) -> None:
    import json

    bad = SCHEDULE_REQUEST | {"appointments": [{"title": "x", "start": "09:00", "end": "08:00"}]}
    result = tempo("schedule", str(write(tmp_path / "bad.json", json.dumps(bad))))
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"error: {tmp_path / 'bad.json'}: invalid request: appointments.0"
    )

    clash = SCHEDULE_REQUEST | {"appointments": [
        {"title": "A", "start": "08:00", "end": "09:00"},
        {"title": "B", "start": "08:30", "end": "09:30"}]}  # fmt: skip
    result = tempo("schedule", str(write(tmp_path / "clash.json", json.dumps(clash))))
    assert result.returncode == 1 and "'A'" in result.stderr and "'B'" in result.stderr

    assert tempo("schedule", str(tmp_path / "missing.json")).returncode == 1
    assert "not valid JSON" in tempo("schedule", str(write(tmp_path / "x.json", "{"))).stderr


def test_schedule_takes_the_days_calendar(tmp_path: Path) -> None:
    google = Path(__file__).resolve().parent / "data" / "calendars" / "google.ics"
    result = tempo(
        "schedule", "--calendar", str(google), "--date", "2026-11-23", "--timezone", "Europe/Paris"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Plan for 2026-11-23, 07:00–23:00 (Europe/Paris)"
    assert lines[2:4] == ["All day:", "  Conference week (calendar[1])"]
    assert any(line.split()[:4] == ["09:30", "09:45", "appt", "Stand-up"] for line in lines)
    assert any("Design review: overlaps essential appointment 'Lunch with Sam'" in line
               for line in lines)  # fmt: skip

    request = write(tmp_path / "day.json", '{"date": "2026-11-23", "day_start": "12:00"}')
    ics = tempo("schedule", str(request), "--calendar", str(google), "--ics")
    assert ics.returncode == 0, ics.stderr
    assert "SUMMARY:Lunch with Sam" in ics.stdout and "DTSTART:20261123T123000" in ics.stdout

    assert "a calendar needs the date" in tempo("schedule", "--calendar", str(google)).stderr
    zone = tempo("schedule", "--calendar", str(google), "--date", "2026-11-23",
                 "--timezone", "Mars/Base")  # fmt: skip
    assert zone.returncode == 1
    assert zone.stderr.startswith(
        "error: invalid option: --timezone: unknown time zone 'Mars/Base'"
    )
    broken = write(tmp_path / "broken.ics", "BEGIN:VCALENDAR\nBEGIN:VEVENT\nEND:VCALENDAR\n")
    bad = tempo("schedule", "--calendar", str(broken), "--date", "2026-11-23")
    assert bad.returncode == 1 and "not a valid iCalendar file" in bad.stderr
    assert "give a request" in tempo("schedule").stderr
