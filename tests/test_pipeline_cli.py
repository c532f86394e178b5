"""`tempo aggregate`, `tempo feed` and `tempo pipeline` with http(s):// and s3:// locations."""

from __future__ import annotations

from pathlib import Path

import obstore
import pytest
from pytest_httpserver import HTTPServer

from tests.fixtures.files import read_result, reference_ranking
from tests.fixtures.http_server import serve_bytes
from tests.fixtures.processes import tempo
from tests.fixtures.s3 import S3Server


def s3_env(server: S3Server, values: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "S3_ENDPOINT_URL": server.endpoint,
        "S3_ACCESS_KEY_ID": server.access_key_id,
        "S3_SECRET_ACCESS_KEY": server.secret_access_key,
    }
    for key in ("raw_bucket", "result_bucket"):
        if values is not None:
            env[key.upper()] = values[key]
    return env


def test_aggregate_from_urls_into_a_bucket(
    s3_server: S3Server, sample_dir: Path, tmp_path: Path, httpserver: HTTPServer
) -> None:
    bucket = s3_server.create_bucket()
    for name in ("messages.csv", "users.csv"):
        httpserver.expect_request(f"/{name}").respond_with_handler(
            serve_bytes((sample_dir / name).read_bytes())
        )
    url = httpserver.url_for
    result = tempo(
        "aggregate", url("/messages.csv?sig=secret"), url("/users.csv"),
        f"s3://{bucket}/daily/", env=s3_env(s3_server), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith(f"→ s3://{bucket}/daily/pipeline_result.csv")
    assert "10 messages" in result.stdout and "secret" not in result.stdout

    missing = tempo("aggregate", httpserver.url_for("/nope.csv"), httpserver.url_for("/users.csv"),
                    str(tmp_path / "out"), cwd=tmp_path)  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"error: {httpserver.url_for('/nope.csv')}: download failed: HTTP 404 Not Found"
    )
    stored = bytes(obstore.get(s3_server.store(bucket), "daily/pipeline_result.csv").bytes())
    (tmp_path / "r.csv").write_bytes(stored)
    expected = reference_ranking(sample_dir / "messages.csv", sample_dir / "users.csv")
    assert read_result(tmp_path / "r.csv") == expected


def test_aggregate_from_a_bucket_into_a_directory(
    s3_server: S3Server, sample_dir: Path, tmp_path: Path
) -> None:
    bucket = s3_server.create_bucket()
    for name in ("messages.csv", "users.csv"):
        obstore.put(s3_server.store(bucket), name, (sample_dir / name).read_bytes())
    result = tempo("aggregate", f"s3://{bucket}/messages.csv", f"s3://{bucket}/users.csv",
                   str(tmp_path / "out"), env=s3_env(s3_server), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    expected = reference_ranking(sample_dir / "messages.csv", sample_dir / "users.csv")
    assert read_result(tmp_path / "out" / "pipeline_result.csv") == expected

    obstore.put(s3_server.store(bucket), "bad.csv", b"message_id,author_id\n1,x\n")
    cases = [
        (f"s3://{bucket}/nope.csv", s3_env(s3_server),
         f"error: s3://{bucket}/nope.csv: no object 'nope.csv' in bucket {bucket!r}"),
        (f"s3://{bucket}/bad.csv", s3_env(s3_server),
         f"error: s3://{bucket}/bad.csv, row 1, column 'author_id': not an integer (value 'x')"),
        ("s3://tempo-no-such-bucket/m.csv", s3_env(s3_server),
         "error: s3://tempo-no-such-bucket: no such bucket: tempo-no-such-bucket"),
        (f"s3://{bucket}/messages.csv", {},
         "error: s3: object storage is not configured: set S3_ENDPOINT_URL"),
    ]  # fmt: skip
    for messages, env, message in cases:
        failed = tempo("aggregate", messages, f"s3://{bucket}/users.csv", str(tmp_path / "x"),
                       env=env, cwd=tmp_path)  # fmt: skip
        assert failed.returncode == 1 and failed.stderr.startswith(message), failed.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_pipeline_run_and_feed_from_s3(
    s3_server: S3Server, sample_dir: Path, tmp_path: Path, empty_database_url: str
) -> None:
    values = s3_server.settings()
    env = s3_env(s3_server, values) | {"DATABASE_URL": empty_database_url}
    assert tempo("migrate", env=env, cwd=tmp_path).returncode == 0
    raw, results = values["raw_bucket"], values["result_bucket"]

    missing = tempo("pipeline", "run", env=env, cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.startswith(f"error: run #1 failed: s3://{raw}/messages.csv: no object")

    for name in ("messages.csv", "users.csv"):
        obstore.put(s3_server.store(raw), name, (sample_dir / name).read_bytes())
    ran = tempo("pipeline", "run", env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("run #2 succeeded: 10 messages, 10 users → 10 ranked users")
    assert f"→ s3://{results}/pipeline_result.csv, feed #1, in " in ran.stdout

    fed = tempo("feed", f"s3://{results}/pipeline_result.csv", env=env, cwd=tmp_path)
    assert fed.returncode == 0, fed.stderr
    assert f"fed 10 rows from s3://{results}/pipeline_result.csv" in fed.stdout

    listed = tempo("pipeline", "runs", env=env, cwd=tmp_path)
    lines = listed.stdout.splitlines()
    assert "cli     run #2 succeeded" in lines[0] and "run #1 failed" in lines[1]
    assert lines[-1] == "2 of 2 runs"
