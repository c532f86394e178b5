"""`tempo catalog load` through the installed entry point, as a user runs it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.catalog.pipeline import BAD_DURATION, BAD_RELEASE_DATE
from tempo.core.db_errors import SCHEMA_MISSING_MESSAGE
from tests.fixtures.catalog import HEADER, song, songs_csv
from tests.fixtures.files import write
from tests.fixtures.http_server import serve_bytes
from tests.fixtures.processes import tempo


def last_line(output: str) -> str:
    """The error line, after the progress lines printed before the failure."""
    return output.strip().splitlines()[-1]


def test_help_lists_the_catalog_commands() -> None:
    assert "catalog" in tempo("--help").stdout
    load_help = tempo("catalog", "load", "--help")
    assert "PATH_OR_URL" in load_help.stdout and "--database-url" in load_help.stdout


async def test_load_prints_stages_and_a_summary(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    rows = [
        song(track_id="a", track_name="Señorita"),
        song(track_id="a", playlist_genre="latin"),
        song(track_id="b", duration_ms="-1"),
        song(track_id="c", duration_ms="x"),
        song(track_id="d", track_album_release_date="2019-13-01"),
        song(track_id="e"),
    ]
    path = songs_csv(tmp_path / "songs.csv", rows, bom=True, newline="\r\n")
    result = tempo("catalog", "load", str(path), "--database-url", database_url)
    assert result.returncode == 0, result.stderr
    stages = [line.split()[0] for line in result.stderr.splitlines()]
    assert stages == ["reading", "validating", "loading"]
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"read 6 rows from {path} → 2 unique tracks, 3 rejected rows, in ")
    assert "rows/s" in lines[0] and lines[0].endswith("catalog load #1")
    assert lines[1:] == [
        f"  rejected 2 × {BAD_DURATION} (first: row 3: duration_ms='-1', row 4: duration_ms='x')",
        f"  rejected 1 × {BAD_RELEASE_DATE} (first: row 5: track_album_release_date='2019-13-01')",
    ]
    async with engine.connect() as conn:
        loaded = await conn.execute(text("SELECT track_id, genres FROM tracks ORDER BY 1"))
        assert [tuple(r) for r in loaded] == [("a", ["latin", "pop"]), ("e", ["pop"])]


async def test_load_from_a_url(
    engine: AsyncEngine, database_url: str, tmp_path: Path, httpserver: HTTPServer
) -> None:
    body = songs_csv(tmp_path / "songs.csv", [song(track_id="u1"), song(track_id="u2")])
    httpserver.expect_request("/songs.csv").respond_with_handler(serve_bytes(body.read_bytes()))
    result = tempo("catalog", "load", httpserver.url_for("/songs.csv"),
                   env={"DATABASE_URL": database_url})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0] == f"downloading {httpserver.url_for('/songs.csv')}"
    assert f"from {httpserver.url_for('/songs.csv')} → 2 unique tracks" in result.stdout

    missing = tempo(
        "catalog", "load", httpserver.url_for("/gone.csv"), "--database-url", database_url
    )
    assert missing.returncode == 1
    assert missing.stderr.splitlines()[-1] == (
        f"error: {httpserver.url_for('/gone.csv')}: download failed: HTTP 404 Not Found"
    )
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM tracks")) == 2


@pytest.mark.slow
def test_failures_exit_1_naming_file_row_and_column(database_url: str, tmp_path: Path) -> None:
    nowhere = tmp_path / "nowhere.csv"
    result = tempo("catalog", "load", str(nowhere), "--database-url", database_url)
    assert result.returncode == 1
    assert last_line(result.stderr) == f"error: {nowhere}: file not found"

    no_duration = write(tmp_path / "a.csv", ",".join(HEADER[:-1]) + "\n" + "x," * 21 + "x\n")
    result = tempo("catalog", "load", str(no_duration), "--database-url", database_url)
    assert result.returncode == 1
    assert last_line(result.stderr).startswith(
        f"error: {no_duration}, line 1, column 'duration_ms': missing column 'duration_ms'"
    )

    extra = write(tmp_path / "b.csv", ",".join(HEADER) + "\n" + ",".join(song().values()) + ",x\n")
    result = tempo("catalog", "load", str(extra), "--database-url", database_url)
    assert result.returncode == 1
    assert last_line(result.stderr) == (
        f"error: {extra}, row 1: malformed CSV: 24 fields where the header has 23 "
        "(record ending on line 2)"
    )


def test_an_unmigrated_database_says_to_migrate(empty_database_url: str, tmp_path: Path) -> None:
    path = songs_csv(tmp_path / "songs.csv", [song()])
    result = tempo("catalog", "load", str(path), "--database-url", empty_database_url)
    assert result.returncode == 1
    assert last_line(result.stderr) == "error: " + SCHEMA_MISSING_MESSAGE
