"""Where the Delta Lake tables live, and reading, writing and listing their versions.

`DELTA_DIR` is a local folder or an s3:// URI; each table is a folder under it. For s3://
the endpoint, region and keys come from Tempo's S3 settings (S3_ENDPOINT_URL, S3_REGION,
S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY); keys left unset are found by the deltalake package
itself (AWS_* variables, instance roles).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tempo.analytics.errors import AnalyticsError
from tempo.analytics.schemas import DeltaVersion
from tempo.core.settings import Settings

if TYPE_CHECKING:
    import polars as pl
    from deltalake import DeltaTable


@dataclass(frozen=True)
class DeltaLocation:
    uri: str
    storage_options: dict[str, str] | None = None

    @classmethod
    def of(cls, settings: Settings, table: str) -> DeltaLocation:
        base = settings.delta_dir.strip()
        scheme = base.split("://", 1)[0].lower() if "://" in base else None
        if scheme is None:
            return cls(str(Path(base) / table))
        if scheme not in ("s3", "s3a"):
            raise AnalyticsError(
                400,
                "unsupported_delta_dir",
                f"DELTA_DIR must be a local folder or an s3:// URI, not {scheme}://",
            )
        return cls(f"{base.rstrip('/')}/{table}", _s3_storage_options(settings))

    def exists(self) -> bool:
        from deltalake import DeltaTable

        try:
            return DeltaTable.is_deltatable(self.uri, storage_options=self.storage_options)
        except Exception as exc:  # deltalake raises its own types and OSError alike
            raise unreachable(self, exc) from None

    def table(self) -> DeltaTable:
        from deltalake import DeltaTable

        if not self.exists():
            raise AnalyticsError(
                404,
                "not_loaded",
                f"there is no Delta table at {self.uri} yet; run `tempo etl majors` first",
            )
        return DeltaTable(self.uri, storage_options=self.storage_options)


def majors_location(settings: Settings) -> DeltaLocation:
    """The Delta table that `tempo etl majors` writes and the majors answers read."""
    return DeltaLocation.of(settings, "majors")


def _s3_storage_options(settings: Settings) -> dict[str, str]:
    """deltalake's options from Tempo's S3 settings; what is unset, deltalake finds itself."""
    options = {"AWS_REGION": settings.s3_region}
    if settings.s3_endpoint_url is not None:
        options["AWS_ENDPOINT_URL"] = settings.s3_endpoint_url
        if settings.s3_endpoint_url.lower().startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    if settings.s3_access_key_id is not None and settings.s3_secret_access_key is not None:
        options["AWS_ACCESS_KEY_ID"] = settings.s3_access_key_id.get_secret_value()
        options["AWS_SECRET_ACCESS_KEY"] = settings.s3_secret_access_key.get_secret_value()
    # S3 has no atomic rename; every write here holds a PostgreSQL advisory lock instead.
    options["AWS_S3_ALLOW_UNSAFE_RENAME"] = "true"
    return options


def unreachable(location: DeltaLocation, exc: BaseException) -> AnalyticsError:
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return AnalyticsError(
        503, "delta_unavailable", f"cannot use the Delta table at {location.uri}: {first_line}"
    )


def versions(location: DeltaLocation) -> list[DeltaVersion]:
    """Every version of the table, newest first."""
    history = location.table().history()
    found = []
    for entry in history:
        metrics = entry.get("operationMetrics") or {}
        rows = metrics.get("num_added_rows")
        found.append(
            DeltaVersion(
                version=int(entry["version"]),
                timestamp=datetime.fromtimestamp(int(entry["timestamp"]) / 1000, tz=UTC),
                operation=str(entry.get("operation", "")),
                rows=int(rows) if rows is not None else None,
            )
        )
    return sorted(found, key=lambda v: -v.version)


def latest_version(location: DeltaLocation) -> int:
    return int(location.table().version())


def scan(location: DeltaLocation, version: int | None) -> tuple[pl.LazyFrame, int, int]:
    """(the table at `version`, or the latest, as a lazy frame; that version; the latest)."""
    import polars as pl

    latest = latest_version(location)
    if version is not None:
        known = [v.version for v in versions(location)]
        if version not in known:
            raise AnalyticsError(
                404,
                "version_not_found",
                f"the Delta table at {location.uri} has no version {version}; "
                f"it has {', '.join(str(v) for v in sorted(known))}",
                {"versions": sorted(known)},
            )
    chosen = latest if version is None else version
    frame = pl.scan_delta(location.uri, version=chosen, storage_options=location.storage_options)
    return frame, chosen, latest


def write(location: DeltaLocation, frame: pl.DataFrame) -> int:
    """Replace the table's contents with `frame` as a new version; that version's number."""
    from deltalake import DeltaTable

    try:
        frame.write_delta(location.uri, mode="overwrite", storage_options=location.storage_options)
        return int(DeltaTable(location.uri, storage_options=location.storage_options).version())
    except Exception as exc:  # deltalake raises its own types and OSError alike
        raise unreachable(location, exc) from None
