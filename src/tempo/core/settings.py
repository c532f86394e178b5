"""All configuration in one place, read from the environment and an optional `.env`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tempo.core.locations import bucket_name_problem

PLACEHOLDER_TOKEN = "change-me"  # noqa: S105 - the documented development default, refused elsewhere
PLACEHOLDER_PII_KEY = "change-me-pii"  # noqa: S105 - as above, refused where it would be used

PRODUCTION_ACCESS_LOG_SAMPLE_RATE = 0.1


def refuse_other_databases(url: str) -> None:
    """ValueError unless `url` names PostgreSQL (any driver); it names only the scheme, never
    the password."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme.split("+", 1)[0].lower() not in ("postgresql", "postgres"):
        raise ValueError(
            "DATABASE_URL must be a PostgreSQL URL such as "
            "postgresql://user:password@host:5432/name"
            + (f", not {scheme}://…" if scheme else "; this is not a URL")
        )


class Settings(BaseSettings):
    # hide_input_in_errors: a refused value may be a secret (a DATABASE_URL with its
    # password), and a ValidationError printed anywhere would otherwise show it.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

    environment: Literal["development", "production"] = "development"
    # Unset means: start the embedded PostgreSQL under `embedded_db_dir`.
    database_url: SecretStr | None = None
    api_token: SecretStr = SecretStr(PLACEHOLDER_TOKEN)
    data_dir: Path = Path("data")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Unset means: console on a terminal, JSON lines otherwise.
    log_format: Literal["json", "console"] | None = None
    # Share of fast, successful requests that get an access-log line; errors and slow
    # requests always do. Unset: every request in development, one in ten in production,
    # where a line per cached hit would cost a fifth of the throughput (loadtest/README.md).
    access_log_sample_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    embedded_db_dir: Path = Path(".tempo")
    # Development only: put a generated demo leaderboard in an empty database at `tempo serve`.
    seed_demo_data: bool = True
    # Analytics: the Spotify songs CSV to analyse (a path or an http(s):// URL); unset means
    # the file the music catalog was last loaded from.
    spotify_source: str | None = None
    # Where the Delta Lake tables live (`majors` is a folder under it): a folder or s3:// URI.
    delta_dir: str = ".tempo/delta"
    # The key that pseudonymises e-mail addresses on `tempo etl people` (HMAC-SHA256).
    pii_hmac_key: SecretStr = SecretStr(PLACEHOLDER_PII_KEY)

    # Object storage (any S3-compatible endpoint). It is on when S3_ENDPOINT_URL is set, or
    # when S3_ENABLED=true: on AWS the endpoint stays unset and the regional one is used.
    s3_endpoint_url: str | None = None
    s3_enabled: bool | None = None
    # Unset: the default credential chain (AWS_* variables, web identity, task or instance role).
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_region: str = "us-east-1"
    raw_bucket: str = "tempo-raw"
    result_bucket: str = "tempo-results"
    max_upload_bytes: int = Field(default=100 * 1024 * 1024, gt=0)
    # A request body must keep coming: no byte for this many seconds, or on average fewer
    # than BODY_MIN_RATE bytes a second once that long has passed, is a 408 (a slow client
    # holds a connection and a buffer, never a worker). 4 KiB/s lets a 100 MB upload take 7 h.
    body_timeout_seconds: float = Field(default=15.0, gt=0, le=3600)
    body_min_rate: int = Field(default=4096, gt=0)
    run_on_upload: bool = True
    # Prometheus metrics at GET /metrics. Unless METRICS_PUBLIC is true, a scrape needs the
    # API token (`Authorization: Bearer …`); unset, it is public in development only.
    metrics: bool = True
    metrics_public: bool | None = None
    # Image classification (tempo.images): unset IMAGE_MODEL means the bundled digits model.
    # IMAGE_LABELS is its labels file, one a line; unset, the one the model's JSON names, else
    # <model>.labels.txt beside it, else the class numbers. The model itself is loaded by
    # each worker on first use; `tempo serve` checks it before it starts.
    image_model: Path | None = None
    image_labels: Path | None = None
    # An image's bytes, and its pixels (width × height, read from its header before any
    # decoding: a small compressed file can hold a huge picture).
    image_max_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    image_max_pixels: int = Field(default=16_000_000, gt=0)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "database_url",
        "s3_endpoint_url",
        "s3_enabled",
        "s3_access_key_id",
        "s3_secret_access_key",
        "metrics_public",
        "image_model",
        "image_labels",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Compose files and CI pass unset variables through as empty strings.
        return None if value == "" else value

    @field_validator(
        "s3_region", "raw_bucket", "result_bucket", "max_upload_bytes", "run_on_upload",
        "metrics", "image_max_bytes", "image_max_pixels", mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_is_default(cls, value: object, info: ValidationInfo) -> object:
        return cls.model_fields[info.field_name or ""].default if value == "" else value

    @field_validator("database_url")
    @classmethod
    def _postgresql_url(cls, value: SecretStr | None) -> SecretStr | None:
        """Refused here, in one line naming no password, rather than as a traceback from
        the driver's URL parser in whichever process first connects."""
        if value is None:
            return None
        url = value.get_secret_value()
        refuse_other_databases(url)
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018  (a bad port or bracketed host raises only when read)
        except ValueError as exc:
            raise ValueError(f"DATABASE_URL is not a valid URL: {exc}") from None
        if not parts.hostname and "host=" not in parts.query:
            raise ValueError("DATABASE_URL names no host (postgresql://user@host:5432/name)")
        return value

    @field_validator("s3_endpoint_url")
    @classmethod
    def _http_endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("http://", "https://")):
            raise ValueError(f"S3_ENDPOINT_URL must be an http:// or https:// URL, got {value!r}")
        return value.rstrip("/") if value is not None else None

    @field_validator("raw_bucket", "result_bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        problem = bucket_name_problem(value)
        if problem is not None:
            raise ValueError(f"{value!r} is not a valid S3 bucket name: {problem}")
        return value

    @field_validator("image_model", "image_labels")
    @classmethod
    def _readable_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """A wrong path is refused here, at start-up; what the file holds is checked when the
        model is loaded (tempo.images.service)."""
        if value is None:
            return None
        name = (info.field_name or "").upper()
        if name == "IMAGE_MODEL" and value.suffix.lower() != ".onnx":
            raise ValueError(f"IMAGE_MODEL must be an ONNX model (a .onnx file), got {value.name}")
        if not value.is_file():
            raise ValueError(f"{name}: no such file: {value}")
        return value

    @model_validator(mode="after")
    def _labels_need_a_model(self) -> Settings:
        if self.image_labels is not None and self.image_model is None:
            raise ValueError(
                "IMAGE_LABELS is set but IMAGE_MODEL is not: the bundled model has its own labels"
            )
        return self

    @model_validator(mode="after")
    def _s3_keys_in_pairs(self) -> Settings:
        if (self.s3_access_key_id is None) != (self.s3_secret_access_key is None):
            raise ValueError(
                "set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither to use the "
                "default credential chain"
            )
        return self

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
    def pii_hmac_key_is_placeholder(self) -> bool:
        return self.pii_hmac_key.get_secret_value() in ("", PLACEHOLDER_PII_KEY)

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def object_storage_enabled(self) -> bool:
        if self.s3_enabled is not None:
            return self.s3_enabled
        return self.s3_endpoint_url is not None

    @property
    def resolved_access_log_sample_rate(self) -> float:
        if self.access_log_sample_rate is not None:
            return self.access_log_sample_rate
        return PRODUCTION_ACCESS_LOG_SAMPLE_RATE if self.environment == "production" else 1.0

    @property
    def metrics_need_token(self) -> bool:
        if self.metrics_public is not None:
            return not self.metrics_public
        return self.environment != "development"

    @property
    def resolved_log_format(self) -> Literal["json", "console"]:
        if self.log_format is not None:
            return self.log_format
        return "console" if sys.stderr.isatty() else "json"
