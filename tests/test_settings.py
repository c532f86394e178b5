from __future__ import annotations

import pytest
from pydantic import ValidationError

from tempo.core.db import normalize_url
from tempo.core.settings import Settings


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_placeholder_token_is_refused_outside_development() -> None:
    db = "postgresql://u@h/d"
    with pytest.raises(ValidationError, match="API_TOKEN is the placeholder"):
        make(environment="production", database_url=db)
    with pytest.raises(ValidationError, match="API_TOKEN is the placeholder"):
        make(environment="production", database_url=db, api_token="")
    production = make(environment="production", database_url=db, api_token="s3cr3t-value")
    assert production.environment == "production"
    assert make().api_token_is_placeholder


def test_production_needs_a_real_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ValidationError, match="DATABASE_URL is required outside development"):
        make(environment="production", api_token="s3cr3t-value")


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_DIR", "/srv/tempo")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("LOG_FORMAT", "console")
    monkeypatch.setenv("DATABASE_URL", "")
    settings = make()
    assert str(settings.data_dir) == "/srv/tempo" and settings.log_level == "DEBUG"
    assert settings.resolved_log_format == "console" and settings.uses_embedded_database


def test_settings_never_print_secrets() -> None:
    settings = make(api_token="topsecret", database_url="postgresql://u:pw@h/db")
    assert "topsecret" not in repr(settings) and "pw@" not in repr(settings)


def test_access_log_is_sampled_by_default_in_production_only() -> None:
    production = {"environment": "production", "database_url": "postgresql://u@h/d",
                  "api_token": "s3cr3t-value"}  # fmt: skip
    assert make().resolved_access_log_sample_rate == 1.0
    assert make(**production).resolved_access_log_sample_rate == 0.1
    assert make(**production, access_log_sample_rate=1).resolved_access_log_sample_rate == 1.0
    assert make(access_log_sample_rate=0).resolved_access_log_sample_rate == 0.0
    with pytest.raises(ValidationError):
        make(access_log_sample_rate=1.5)


def test_log_format_follows_the_terminal() -> None:
    assert make().resolved_log_format == "json"  # pytest captures stderr: not a TTY


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h:5432/d", "postgresql+asyncpg://u:p@h:5432/d"),
        ("postgres://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+asyncpg://u@h/d"),
    ],
)
def test_database_urls_are_normalised_to_asyncpg(given: str, expected: str) -> None:
    assert normalize_url(given) == expected


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="must be a PostgreSQL URL"):
        normalize_url("mysql://u@h/d")


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mysql://u:hunter2@db/x", "must be a PostgreSQL URL"),
        ("not a url", "this is not a URL"),
        ("postgresql://u:hunter2@[::1", "not a valid URL: Invalid IPv6 URL"),
        ("postgresql://u:hunter2@db:54x/x", "not a valid URL: Port could not be cast"),
        ("postgresql:///x", "names no host"),
    ],
)
def test_a_database_url_that_cannot_work_is_refused_in_one_line(url: str, said: str) -> None:
    with pytest.raises(ValidationError) as refused:
        make(database_url=url)
    assert said in str(refused.value) and "hunter2" not in str(refused.value)


def test_database_urls_that_can_work_are_taken() -> None:
    for url in ("postgres://u@db/x", "postgresql+asyncpg://u:p@[::1]:5432/x",
                "postgresql:///x?host=/var/run/postgresql"):  # fmt: skip
        assert make(database_url=url).database_url is not None
