"""`tempo analyze spotify`, `tempo etl majors` and `tempo etl people`, as a user runs them."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.analytics import spotify
from tempo.analytics.spotify import read_spotify
from tests.fixtures.analytics import genre_popularity, majors_csv, read_rows, spotify_csv
from tests.fixtures.catalog import song, songs_csv
from tests.fixtures.processes import tempo

PII_ENV = {"PII_HMAC_KEY": "cli-test-key-0123456789", "ENVIRONMENT": "development"}


def test_the_spotify_report_on_the_real_file() -> None:
    result = tempo("analyze", "spotify", str(spotify_csv()), "--top", "2")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    rows = read_rows(spotify_csv())
    assert f"{len(rows):,} rows read" in out and "28,356 distinct tracks" in out
    assert "Dance Monkey" in out and "ROXANNE" in out
    # Both ways of counting, with the means an independent computation gives.
    for per in ("track", "playlist"):
        for genre, values in genre_popularity(rows, per).items():
            line = f"{genre} ".ljust(7) + f"{len(values):,}".rjust(5)
            assert line in out, line
            assert f"{statistics.fmean(values):.1f}" in out
    assert "left out: 1,656 tracks (1,855 rows)" in out
    assert "Audio features vs popularity" in out and "instrumentalness" in out
    assert "reading" in result.stderr  # progress goes to stderr, the report to stdout


def test_the_report_as_json(tmp_path: Path) -> None:
    path = songs_csv(
        tmp_path / "songs.csv",
        [song(track_id="a", track_popularity="30"), song(track_id="b", track_popularity="70")],
    )
    result = tempo("analyze", "spotify", str(path), "--json", "--bins", "2")
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    data = read_spotify(path)
    assert answers["top"] == spotify.top_tracks(data, 5).model_dump(mode="json")
    assert answers["histogram"]["bins"][0]["count"] == 1
    assert set(answers) == {
        "top", "genres_per_track", "genres_per_playlist", "months", "histogram", "features",
    }  # fmt: skip


def test_the_report_without_a_source_says_what_to_do(database_url: str, tmp_path: Path) -> None:
    result = tempo("analyze", "spotify", env={"DATABASE_URL": database_url}, cwd=tmp_path)
    assert result.returncode == 1
    assert "no Spotify songs file to analyse" in result.stderr
    missing = tempo("analyze", "spotify", str(tmp_path / "none.csv"))
    assert missing.returncode == 1 and "none.csv: cannot read the file" in missing.stderr


@pytest.mark.slow
async def test_etl_majors_loads_a_new_version_each_time(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    delta = tmp_path / "delta"
    args = ("etl", "majors", str(majors_csv()), "--delta-dir", str(delta))
    first = tempo(*args, env={"DATABASE_URL": database_url})
    assert first.returncode == 0, first.stderr
    assert "loaded 76 majors in 5 categories" in first.stdout and "version 0" in first.stdout
    assert "Engineering                  29  408,307  129,276  537,583    24.0%" in first.stdout
    second = tempo(*args, env={"DATABASE_URL": database_url})
    assert "version 1" in second.stdout
    assert pl.read_delta(str(delta / "majors"), version=0).height == 76
    async with engine.connect() as conn:
        found = (await conn.execute(text("SELECT count(*), max(delta_version) FROM majors"))).one()
    assert tuple(found) == (76, 1)

    # Without a source, the file shipped with Tempo: named as such, never by the folder the
    # package happens to be installed in.
    default = tempo("etl", "majors", "--delta-dir", str(delta), env={"DATABASE_URL": database_url})
    assert default.returncode == 0, default.stderr
    assert "from women-stem.csv (shipped with Tempo) in " in default.stdout
    assert "reading women-stem.csv (shipped with Tempo)" in default.stderr
    assert str(majors_csv().parent) not in default.stdout + default.stderr
    assert "version 2" in default.stdout

    bad = tmp_path / "bad.csv"
    bad.write_text(majors_csv().read_text().replace(",2339,2057,282,", ",2339,2057,283,"))
    refused = tempo("etl", "majors", str(bad), "--delta-dir", str(delta),
                    env={"DATABASE_URL": database_url})  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith(
        "row 1, column 'Total': Men + Women is not Total (value '2339')"
    )


@pytest.mark.slow
async def test_etl_people_prints_error_rows_but_never_an_email(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    book = tmp_path / "people.xlsx"
    pl.DataFrame(
        {
            "first_name": ["Ada", "Alan", "Grace"],
            "last_name": ["Lovelace", "Turing", "Hopper"],
            "email": ["ada@example.com", "alan@example.org", "grace@example.net"],
            "ip_address": ["8.8.8.8", "10.0.0.1", "not-an-ip"],
        }
    ).write_excel(book)
    env = PII_ENV | {"DATABASE_URL": database_url}
    result = tempo("etl", "people", str(book), env=env)
    assert result.returncode == 0, result.stderr
    assert "imported 2 of 3 people" in result.stdout
    assert "row 3, column 'ip_address': not an IPv4 or IPv6 address (value 'not-an-ip')" in (
        result.stdout
    )
    for email in ("ada@example.com", "alan@example.org", "grace@example.net"):
        assert email not in result.stdout + result.stderr
    async with engine.connect() as conn:
        hashes = (await conn.execute(text("SELECT DISTINCT email_hash FROM people"))).scalars()
        assert list(hashes) == ["hmac-sha256"]

    md5 = tempo("etl", "people", str(book), "--hash", "md5", env=env)
    assert md5.returncode == 0 and "as md5" in md5.stdout and "reversible" in md5.stderr

    production = tempo("etl", "people", str(book), env={
        "DATABASE_URL": database_url, "ENVIRONMENT": "production", "API_TOKEN": "x" * 20,
        "PII_HMAC_KEY": "change-me-pii",
    })  # fmt: skip
    assert production.returncode == 1 and "PII_HMAC_KEY is the placeholder" in production.stderr

    missing = tempo("etl", "people", str(tmp_path / "none.xlsx"), env=env)
    assert missing.returncode == 1 and "none.xlsx: file not found" in missing.stderr


def test_help_lists_the_analytics_commands() -> None:
    result = tempo("--help")
    assert "analyze" in result.stdout and "etl" in result.stdout
    etl = tempo("etl", "--help")
    assert "majors" in etl.stdout and "people" in etl.stdout
