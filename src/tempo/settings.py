"""All configuration in one place, read from the environment and an optional `.env`."""

from __future__ import annotations

import sys
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_TOKEN = "change-me"  # noqa: S105 - the documented development default, refused elsewhere


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "production"] = "development"
    # Unset means: start the embedded PostgreSQL under `embedded_db_dir`.
    database_url: SecretStr | None = None
    api_token: SecretStr = SecretStr(PLACEHOLDER_TOKEN)
    data_dir: Path = Path("data")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Unset means: console on a terminal, JSON lines otherwise.
    log_format: Literal["json", "console"] | None = None
    embedded_db_dir: Path = Path(".tempo")
    # Development only: put a generated demo leaderboard in an empty database at `tempo serve`.
    seed_demo_data: bool = True

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url", mode="before")
    @classmethod
    def _empty_url_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment != "development" and self.database_url is None:
            raise ValueError(
                "DATABASE_URL is required outside development; the embedded PostgreSQL "
                "is for laptops and tests"
            )
        if self.environment != "development" and self.api_token_is_placeholder:
            raise ValueError(
                f"API_TOKEN is the placeholder {PLACEHOLDER_TOKEN!r}; set a real secret "
                f"(for example `python -c 'import secrets; print(secrets.token_urlsafe(32))'`) "
                f"or run with ENVIRONMENT=development"
            )
        return self

    @property
    def api_token_is_placeholder(self) -> bool:
        return self.api_token.get_secret_value() in ("", PLACEHOLDER_TOKEN)

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url is None

    @cached_property
    def resolved_log_format(self) -> Literal["json", "console"]:
        if self.log_format is not None:
            return self.log_format
        return "console" if sys.stderr.isatty() else "json"
