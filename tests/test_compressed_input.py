"""gzip-compressed CSV input: read like the plain file, whatever its name, errors located."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.analytics.etl import read_majors
from tempo.bundled import WOMEN_STEM
from tempo.catalog.pipeline import read_catalog
from tempo.core import csv_input
from tempo.core.csv_input import CsvError
from tempo.pipeline.aggregate import aggregate
from tempo.pipeline.runs import PipelinePlan, RunFailed, run_pipeline
from tests.fixtures.app import SAMPLE_RANKING, board, board_once_notified, make_settings
from tests.fixtures.catalog import song, songs_csv
from tests.fixtures.files import read_result
from tests.fixtures.html import parse


def gzipped(source: Path, target: Path) -> Path:
    target.write_bytes(gzip.compress(source.read_bytes(), mtime=0))
    return target


def test_a_gzipped_sample_ranks_like_the_plain_one(sample_dir: Path, tmp_path: Path) -> None:
    plain = aggregate(sample_dir / "messages.csv", sample_dir / "users.csv", tmp_path / "plain")
    # Named .csv on purpose: the content decides, as for a download saved under any name.
    messages = gzipped(sample_dir / "messages.csv", tmp_path / "messages.csv")
    users = gzipped(sample_dir / "users.csv", tmp_path / "users.csv.gz")
    packed = aggregate(messages, users, tmp_path / "gz")
    assert (packed.messages, packed.users) == (plain.messages, plain.users) == (10, 10)
    assert read_result(tmp_path / "gz" / "pipeline_result.csv") == read_result(
        tmp_path / "plain" / "pipeline_result.csv"
    )


def test_gzipped_majors_and_songs_read_like_the_plain_files(tmp_path: Path) -> None:
    majors = gzipped(WOMEN_STEM, tmp_path / "women-stem.csv.gz")
    assert read_majors(majors).equals(read_majors(WOMEN_STEM))
    songs = songs_csv(tmp_path / "songs.csv", [song(), song(track_id="t2", duration_ms="-1")])
    plain, packed = read_catalog(songs), read_catalog(gzipped(songs, tmp_path / "songs.gz"))
    assert packed.tracks.equals(plain.tracks) and packed.rejected == plain.rejected
    assert packed.rows_read == 2 and packed.tracks.height == 1


def test_a_malformed_record_inside_a_gzip_file_is_located(tmp_path: Path) -> None:
    body = b"message_id,author_id\n1,1\n2,2,extra\n"
    path = tmp_path / "messages.csv.gz"
    path.write_bytes(gzip.compress(body))
    with pytest.raises(CsvError) as caught:
        csv_input.collect(path, csv_input.scan_text(path))
    assert caught.value.problem.row == 2
    assert "3 fields where the header has 2" in caught.value.problem.message


def test_a_truncated_gzip_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "messages.csv.gz"
    path.write_bytes(gzip.compress(b"message_id,author_id\n" + b"1,1\n" * 1000)[:40])
    with pytest.raises(CsvError, match="not a readable gzip file"):
        csv_input.header(path)


def test_a_gzip_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_input, "MAX_DECOMPRESSED_BYTES", 1 << 20)
    path = tmp_path / "big.csv.gz"
    path.write_bytes(gzip.compress(b"a\n" + b"1\n" * (1 << 20)))
    assert path.stat().st_size < 10_000
    with pytest.raises(CsvError, match="decompresses to more than 1 MiB"):
        csv_input.header(path)


# The server reads plain CSV only: a request must not make it inflate an archive (whole, in
# memory, once per read), while the command line reads the same files as they are.


async def test_the_server_refuses_a_compressed_raw_input_and_the_cli_reads_it(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    data_dir: Path,
    sample_dir: Path,
    engine: AsyncEngine,
) -> None:
    gzipped(sample_dir / "messages.csv", data_dir / "messages.csv")
    gzipped(sample_dir / "users.csv", data_dir / "users.csv")

    refused = await client.post("/pipeline/run", headers=auth)
    assert refused.status_code == 415, refused.text
    error = refused.json()["error"]
    assert error["code"] == "compressed_input"
    assert error["message"].startswith("messages.csv: is a gzip-compressed file")
    assert "decompress it (gunzip)" in error["message"]
    assert str(data_dir) not in refused.text
    assert (await client.get("/leaderboard")).json()["total"] == 0
    assert not (data_dir / "pipeline_result.csv").exists()

    page = await client.get("/datamart", params={"table": "users"})
    assert page.status_code == 415
    notice = parse(page.text).one(class_="notice").text()
    assert "users.csv: is a gzip-compressed file; the server reads plain CSV only" in notice

    # `tempo pipeline run` reads them: the same run, on the command line's terms.
    plan = PipelinePlan.from_settings(make_settings(str(engine.url), data_dir))
    with pytest.raises(RunFailed, match="messages.csv: is a gzip-compressed file"):
        await run_pipeline(engine, plan, storage=None, trigger="api")
    run = await run_pipeline(engine, plan, storage=None, trigger="cli", compressed=True)
    assert run.status == "succeeded" and run.messages == 10
    # Fed outside the app: its cached page goes when the feed's NOTIFY arrives.
    assert await board_once_notified(client, SAMPLE_RANKING) == SAMPLE_RANKING


async def test_post_feed_refuses_a_compressed_result(
    client: httpx.AsyncClient, auth: dict[str, str], data_dir: Path, sample_dir: Path
) -> None:
    plain = aggregate(sample_dir / "messages.csv", sample_dir / "users.csv", data_dir)
    assert plain.users == 10
    gzipped(data_dir / "pipeline_result.csv", data_dir / "result.csv")
    refused = await client.post("/feed", json={"data_path": "result.csv"}, headers=auth)
    assert refused.status_code == 415, refused.text
    assert refused.json()["error"]["code"] == "compressed_input"
    assert refused.json()["error"]["message"].startswith("result.csv: is a gzip-compressed")
    assert (await client.get("/leaderboard")).json()["total"] == 0
    fed = await client.post("/feed", json={"data_path": "pipeline_result.csv"}, headers=auth)
    assert fed.status_code == 200, fed.text
    assert await board(client) == SAMPLE_RANKING
