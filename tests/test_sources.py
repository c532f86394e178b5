"""Where data lives: s3:// on a real SeaweedFS, http(s):// on a local server, and the settings."""

from __future__ import annotations

from pathlib import Path

import obstore
import pytest
from pydantic import ValidationError
from pytest_httpserver import HTTPServer

from tempo.core.csv_input import CsvError, header
from tempo.core.settings import Settings
from tempo.core.sources import (
    DownloadLimits,
    ObjectFile,
    ObjectStorage,
    S3Location,
    SourceError,
    StorageLimits,
    bucket_name_problem,
    open_csv,
    parse_s3_url,
    read_errors,
)
from tempo.pipeline.aggregate import count_messages, read_users
from tests.fixtures.http_server import serve_bytes
from tests.fixtures.s3 import S3Server


def storage_of(server: S3Server, **overrides: object) -> ObjectStorage:
    values: dict[str, object] = {
        "endpoint_url": server.endpoint,
        "region": "us-east-1",
        "access_key_id": server.access_key_id,
        "secret_access_key": server.secret_access_key,
        "limits": StorageLimits(retries=0),
    } | overrides
    return ObjectStorage(**values)  # type: ignore[arg-type]


# --- bucket names and s3:// URLs (no request is made for any of these) ----------------------


@pytest.mark.parametrize(
    "name",
    ["tempo-raw", "abc", "a" * 63, "my.bucket.2026", "0-bucket-9"],
)
def test_valid_bucket_names(name: str) -> None:
    assert bucket_name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("ab", "3 to 63 characters"),
        ("a" * 64, "3 to 63 characters"),
        ("Tempo-Raw", "lowercase letters"),
        ("tempo_raw", "lowercase letters"),
        ("-tempo", "begin and end"),
        ("tempo.", "begin and end"),
        ("tempo..raw", "adjacent dots"),
        ("192.168.5.4", "IP address"),
        ("xn--tempo", "reserves"),
        ("tempo-s3alias", "reserves"),
        ("tempo raw", "lowercase letters"),
    ],
)
def test_invalid_bucket_names_say_why(name: str, problem: str) -> None:
    found = bucket_name_problem(name)
    assert found is not None and problem in found


def test_s3_urls() -> None:
    assert parse_s3_url("s3://tempo-raw/a/messages.csv") == S3Location(
        "tempo-raw", "a/messages.csv"
    )
    assert parse_s3_url("s3://out", directory_file="r.csv") == S3Location("out", "r.csv")
    assert parse_s3_url("s3://out/daily/", directory_file="r.csv") == S3Location(
        "out", "daily/r.csv"
    )
    assert parse_s3_url("s3://out/x.csv", directory_file="r.csv").key == "x.csv"
    for url, code in [
        ("s3://Bad_Bucket/k.csv", "invalid_bucket_name"),
        ("s3://bucket", "invalid_key"),
        ("s3://bucket/a//b.csv", "invalid_key"),
        ("s3://bucket/../b.csv", "invalid_key"),
        ("s3://bucket/a\nb.csv", "invalid_key"),
    ]:
        with pytest.raises(SourceError) as caught:
            parse_s3_url(url)
        assert caught.value.status == 400 and caught.value.code == code, url


# --- settings ---------------------------------------------------------------------------------


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_object_storage_is_on_with_an_endpoint_or_when_enabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("S3_ENDPOINT_URL", "S3_ENABLED", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert not make().object_storage_enabled
    assert make(s3_endpoint_url="http://127.0.0.1:9000/").object_storage_enabled
    assert make(s3_endpoint_url="http://127.0.0.1:9000/").s3_endpoint_url == "http://127.0.0.1:9000"
    assert make(s3_enabled=True).object_storage_enabled  # AWS: regional endpoint, role keys
    assert not make(s3_endpoint_url="http://h:9000", s3_enabled=False).object_storage_enabled
    # compose passes variables that are unset on the host as ""
    for name in ("S3_ENDPOINT_URL", "RAW_BUCKET", "MAX_UPLOAD_BYTES", "RUN_ON_UPLOAD"):
        monkeypatch.setenv(name, "")
    assert not make().object_storage_enabled
    defaults = make()
    assert (defaults.raw_bucket, defaults.result_bucket) == ("tempo-raw", "tempo-results")
    assert defaults.s3_region == "us-east-1" and defaults.run_on_upload
    assert defaults.max_upload_bytes == 100 * 1024 * 1024


def test_object_storage_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY"):
        make(s3_access_key_id="key")
    with pytest.raises(ValidationError, match="must be an http"):
        make(s3_endpoint_url="minio:9000")
    with pytest.raises(ValidationError, match="not a valid S3 bucket name"):
        make(raw_bucket="Raw_Data")
    with pytest.raises(ValidationError, match="max_upload_bytes"):
        make(max_upload_bytes=0)


def test_object_storage_never_shows_its_secret() -> None:
    settings = make(
        s3_endpoint_url="http://h:9000", s3_access_key_id="AKIA1", s3_secret_access_key="sekrit"
    )
    storage = ObjectStorage.from_settings(settings)
    assert "sekrit" not in repr(settings) and "sekrit" not in repr(storage)
    assert storage.storage_options()["aws_secret_access_key"] == "sekrit"  # for Polars only
    with pytest.raises(SourceError) as caught:
        ObjectStorage.from_settings(make())
    assert caught.value.status == 503
    assert caught.value.code == "object_storage_not_configured"
    assert "S3_ENDPOINT_URL" in caught.value.message


# --- a real S3-compatible server -----------------------------------------------------------


async def test_objects_are_written_whole_and_read_natively(
    s3_server: S3Server, sample_dir: Path
) -> None:
    storage = storage_of(s3_server)
    bucket = s3_server.create_bucket()
    messages = S3Location(bucket, "raw data/messages.csv")
    await storage.put(messages, sample_dir / "messages.csv")
    await storage.put(S3Location(bucket, "users.csv"), (sample_dir / "users.csv").read_bytes())

    stored = await storage.require_object(messages)
    assert isinstance(stored, ObjectFile)
    assert stored.size == (sample_dir / "messages.csv").stat().st_size
    assert str(stored) == f"s3://{bucket}/raw data/messages.csv"
    assert "secret" not in repr(stored)
    local = count_messages(sample_dir / "messages.csv")
    assert count_messages(stored).equals(local)
    with stored.open() as stream:
        assert stream.read() == (sample_dir / "messages.csv").read_bytes()
    assert await storage.exists(S3Location(bucket, "users.csv"))
    assert not await storage.exists(S3Location(bucket, "nope.csv"))


async def test_a_missing_bucket_and_a_missing_key_are_told_apart(s3_server: S3Server) -> None:
    storage = storage_of(s3_server)
    bucket = s3_server.create_bucket()
    with pytest.raises(SourceError) as key:
        await storage.require_object(S3Location(bucket, "pipeline_result.csv"))
    assert (key.value.status, key.value.code) == (404, "key_not_found")
    assert str(key.value) == (
        f"s3://{bucket}/pipeline_result.csv: no object 'pipeline_result.csv' in bucket {bucket!r}"
    )
    with pytest.raises(SourceError) as missing:
        await storage.require_object(S3Location("tempo-no-such-bucket", "pipeline_result.csv"))
    assert (missing.value.status, missing.value.code) == (404, "bucket_not_found")
    assert missing.value.message == (
        "s3://tempo-no-such-bucket: no such bucket: tempo-no-such-bucket"
    )
    with pytest.raises(SourceError) as put:
        await storage.put(S3Location("tempo-no-such-bucket", "x.csv"), b"a\n")
    assert put.value.code == "bucket_not_found"
    with pytest.raises(SourceError) as invalid:
        await storage.require_object(S3Location("No_Such", "x.csv"))
    assert (invalid.value.status, invalid.value.code) == (400, "invalid_bucket_name")


async def test_wrong_keys_are_refused(s3_server: S3Server) -> None:
    bucket = s3_server.create_bucket()
    obstore.put(s3_server.store(bucket), "users.csv", b"user_id,name\n1,A\n")
    wrong = storage_of(s3_server, secret_access_key="not-the-secret")
    for attempt in (
        wrong.require_object(S3Location(bucket, "users.csv")),
        wrong.put(S3Location(bucket, "users.csv"), b"user_id,name\n2,B\n"),
        wrong.require_bucket(bucket),
    ):
        with pytest.raises(SourceError) as caught:
            await attempt
        assert (caught.value.status, caught.value.code) == (
            503,
            "object_storage_access_denied",
        )
    assert bytes(obstore.get(s3_server.store(bucket), "users.csv").bytes()) == (
        b"user_id,name\n1,A\n"
    )
    unknown = storage_of(s3_server, access_key_id="nobody")
    with pytest.raises(SourceError, match="refused access"):
        await unknown.require_object(S3Location(bucket, "users.csv"))


async def test_an_unreachable_store_is_a_503() -> None:
    storage = ObjectStorage(
        endpoint_url="http://127.0.0.1:9",
        region="us-east-1",
        access_key_id="k",
        secret_access_key="s",
        limits=StorageLimits(retries=0, connect_seconds=2),
    )
    with pytest.raises(SourceError) as caught:
        await storage.require_object(S3Location("tempo-raw", "messages.csv"))
    assert (caught.value.status, caught.value.code) == (503, "object_storage_unavailable")
    assert caught.value.message.startswith(
        "s3://tempo-raw/messages.csv: object storage is unavailable: "
    )


async def test_a_malformed_object_is_located_by_row(s3_server: S3Server) -> None:
    storage = storage_of(s3_server)
    bucket = s3_server.create_bucket()
    location = S3Location(bucket, "messages.csv")
    await storage.put(location, b'message_id,author_id\n1,1\n2,"2\n3,3\n')
    stored = await storage.require_object(location)
    with pytest.raises(CsvError) as caught:
        count_messages(stored)
    assert caught.value.problem.file == f"s3://{bucket}/messages.csv"
    assert caught.value.problem.row == 2 and "closing quote" in caught.value.problem.message

    await storage.put(location, b"message_id,author_id\n1,1\n2,x\n")
    with pytest.raises(CsvError, match="row 2, column 'author_id': not an integer"):
        count_messages(await storage.require_object(location))
    await storage.put(location, b"user_id,name\n1,A\xff\n")
    with pytest.raises(CsvError, match="not valid UTF-8"):
        read_users(await storage.require_object(location))


async def test_a_vanished_object_is_a_404_while_reading(s3_server: S3Server) -> None:
    storage = storage_of(s3_server)
    bucket = s3_server.create_bucket()
    location = S3Location(bucket, "messages.csv")
    await storage.put(location, b"message_id,author_id\n1,1\n")
    stored = await storage.require_object(location)
    obstore.delete(s3_server.store(bucket), "messages.csv")
    with pytest.raises(SourceError) as caught, read_errors(stored):
        header(stored)
    assert (caught.value.status, caught.value.code) == (404, "key_not_found")


async def test_open_csv_resolves_every_kind_of_location(
    s3_server: S3Server, sample_dir: Path
) -> None:
    storage = storage_of(s3_server)
    bucket = s3_server.create_bucket()
    await storage.put(S3Location(bucket, "users.csv"), sample_dir / "users.csv")
    async with open_csv(f"s3://{bucket}/users.csv", storage=storage) as remote:
        assert isinstance(remote, ObjectFile) and read_users(remote).height == 10
    async with open_csv(sample_dir / "users.csv") as local:
        assert local == sample_dir / "users.csv"
    with pytest.raises(SourceError) as unconfigured:
        async with open_csv(f"s3://{bucket}/users.csv"):
            pass
    assert unconfigured.value.code == "object_storage_not_configured"


# --- http(s):// -------------------------------------------------------------------------------


async def test_http_sources(sample_dir: Path, httpserver: HTTPServer) -> None:
    users = (sample_dir / "users.csv").read_bytes()
    small = DownloadLimits(max_bytes=len(users) - 1, read_seconds=0.5)
    httpserver.expect_request("/users.csv").respond_with_handler(serve_bytes(users))
    httpserver.expect_request("/login").respond_with_data(
        b"<html><body>Sign in</body></html>", content_type="text/html; charset=utf-8"
    )
    httpserver.expect_request("/slow.csv").respond_with_handler(
        serve_bytes(b"user_id,name\n", delay=3)
    )
    async with open_csv(httpserver.url_for("/users.csv?sig=secret")) as path:
        assert isinstance(path, Path) and read_users(path).height == 10
    assert not path.exists()  # the download is gone afterwards
    cases = [
        ("/missing.csv", None, 404, "download failed: HTTP 404 Not Found"),
        ("/login", None, 415, "not a CSV file: the server sent text/html"),
        ("/users.csv", small, 413, f"too large: {len(users):,} bytes, more than the limit"),
        ("/slow.csv", small, 504, "download timed out waiting for data (after 0.5 s)"),
    ]
    for route, limits, status, message in cases:
        with pytest.raises(SourceError) as caught:
            async with open_csv(httpserver.url_for(route), limits=limits):
                pass
        assert caught.value.status == status, route
        assert str(caught.value).startswith(f"{httpserver.url_for(route)}: {message}"), route
