"""Answers about college majors: Polars SQL on the Delta table, at any of its versions.

The same SQL runs whether a version is asked for or not (time travel only changes which
snapshot the lazy scan reads), so an old version is answered exactly as it was then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tempo.analytics import delta
from tempo.analytics.delta import DeltaLocation
from tempo.analytics.errors import AnalyticsError
from tempo.analytics.schemas import (
    CategoryTotals,
    DeltaInfo,
    Fit,
    LargestMajors,
    Major,
    MajorsByCategory,
    MajorsVersions,
    SharePoint,
    ShareVsEarnings,
)
from tempo.analytics.stats import linear_fit

if TYPE_CHECKING:
    pass

MAX_LIMIT = 100

LARGEST_SQL = """
SELECT major_code, major, major_category, rank, total, men, women, share_women, median_earnings
FROM majors
ORDER BY total DESC, major
LIMIT {limit}
"""
BY_CATEGORY_SQL = """
SELECT major_category,
       COUNT(*) AS majors,
       SUM(men) AS men,
       SUM(women) AS women,
       SUM(total) AS total,
       CAST(SUM(women) AS DOUBLE) / SUM(total) AS share_women
FROM majors
GROUP BY major_category
ORDER BY total DESC, major_category
"""
SHARE_SQL = """
SELECT major, major_category, share_women, median_earnings
FROM majors
ORDER BY share_women, major
"""


def _query(
    location: DeltaLocation, version: int | None, sql: str
) -> tuple[list[dict[str, Any]], DeltaInfo]:
    import polars as pl

    frame, chosen, latest = delta.scan(location, version)
    try:
        with pl.SQLContext(majors=frame) as context:
            rows = context.execute(sql).collect()
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise delta.unreachable(location, exc) from None
    info = DeltaInfo(table=location.uri, version=chosen, latest_version=latest)
    return list(rows.iter_rows(named=True)), info


def largest(location: DeltaLocation, version: int | None = None, limit: int = 10) -> LargestMajors:
    """The majors with the most graduates."""
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be from 1 to {MAX_LIMIT}, got {limit}")
    rows, info = _query(location, version, LARGEST_SQL.format(limit=int(limit)))
    return LargestMajors(delta=info, limit=limit, majors=[Major(**row) for row in rows])


def by_category(location: DeltaLocation, version: int | None = None) -> MajorsByCategory:
    """Men and women per major category."""
    rows, info = _query(location, version, BY_CATEGORY_SQL)
    return MajorsByCategory(delta=info, categories=[CategoryTotals(**row) for row in rows])


def share_vs_earnings(location: DeltaLocation, version: int | None = None) -> ShareVsEarnings:
    """Share of women against median earnings, with the least-squares line through them."""
    rows, info = _query(location, version, SHARE_SQL)
    points = [SharePoint(**row) for row in rows]
    if len({p.share_women for p in points}) < 2:
        raise AnalyticsError(
            422, "too_few_points", "a line needs majors with at least two different shares"
        )
    fit = linear_fit([p.share_women for p in points], [float(p.median_earnings) for p in points])
    return ShareVsEarnings(
        delta=info,
        points=points,
        fit=Fit(
            n=fit.n,
            slope=fit.slope,
            slope_per_10_points=fit.slope / 10,
            intercept=fit.intercept,
            r=fit.r,
            r_squared=fit.r_squared,
        ),
    )


def versions(location: DeltaLocation) -> MajorsVersions:
    return MajorsVersions(table=location.uri, versions=delta.versions(location))
