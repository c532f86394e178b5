"""GET /analytics: the answers as a page of charts, each with its numbers beside it.

Server-rendered like the planner page and, like it, without script. The charts are <img>
elements pointing at the chart routes, so the page and the API always show the same thing.
A data set that is not there (no catalog, no majors table yet) becomes a notice that says
how to load it, never an error page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from tempo.analytics import charts, majors, service, spotify
from tempo.analytics.charts import shown_source
from tempo.analytics.delta import DeltaLocation, majors_location
from tempo.analytics.errors import AnalyticsError
from tempo.analytics.schemas import (
    FeatureCorrelations,
    GenreTable,
    Histogram,
    LargestMajors,
    MajorsByCategory,
    MajorsVersions,
    ReleaseMonths,
    ShareVsEarnings,
    TopTracks,
)
from tempo.core.csv_input import CsvError
from tempo.core.db_errors import KNOWN_FAILURES
from tempo.core.deps import SessionDep, SettingsDep
from tempo.core.limits import run_blocking
from tempo.site.chrome import Pages, page_problem

router = APIRouter(include_in_schema=False)

TOP_TRACKS = 10
LARGEST_MAJORS = 10
CATALOG_DOWN = (
    "The database, which says where the catalog's songs file is, cannot be reached right "
    "now; try again shortly, or set SPOTIFY_SOURCE."
)
# Finding the catalog's file needs the database (the majors section does not): its errors
# as this section words them.
SPOTIFY_WORDING = {
    "database_unavailable": CATALOG_DOWN,
    "statement_timeout": CATALOG_DOWN,
    "schema_missing": "The database is not set up: run `tempo migrate`.",
}


@dataclass
class SpotifyAnswers:
    top: TopTracks
    genres: GenreTable
    months: ReleaseMonths
    histogram: Histogram
    features: FeatureCorrelations


@dataclass
class MajorsAnswers:
    versions: MajorsVersions
    largest: LargestMajors
    categories: MajorsByCategory
    share: ShareVsEarnings


@dataclass
class AnalyticsPage:
    per: Literal["track", "playlist"] = "track"
    version: int | None = None
    notices: list[str] = field(default_factory=list)
    spotify: SpotifyAnswers | None = None
    spotify_problem: str | None = None
    majors: MajorsAnswers | None = None
    majors_problem: str | None = None
    majors_not_loaded: bool = False  # before the first `tempo etl majors`: say how to run it

    def query(self, **params: object) -> str:
        """A query string, without the parameters that are unset."""
        given = {k: v for k, v in params.items() if v is not None}
        return f"?{urlencode(given)}" if given else ""


def _number(value: float | int | None, decimals: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{decimals}f}".replace("-", "−")


def _dollars(value: float) -> str:
    return f"{'−' if value < 0 else ''}${abs(value):,.0f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


PAGES = Pages(
    Path(__file__).resolve().parent / "templates",
    number=_number,
    share=_share,
    dollars=_dollars,
    shown=shown_source,
)


def _spotify_answers(
    data: spotify.SpotifyData, per: Literal["track", "playlist"]
) -> SpotifyAnswers:
    return SpotifyAnswers(
        top=spotify.top_tracks(data, TOP_TRACKS),
        genres=spotify.genre_stats(data, per),
        months=spotify.release_months(data),
        histogram=spotify.popularity_histogram(data),
        features=spotify.feature_correlations(data),
    )


def _majors_answers(location: DeltaLocation, version: int | None) -> MajorsAnswers:
    return MajorsAnswers(
        versions=majors.versions(location),
        largest=majors.largest(location, version, LARGEST_MAJORS),
        categories=majors.by_category(location, version),
        share=majors.share_vs_earnings(location, version),
    )


async def _load_spotify(page: AnalyticsPage, settings: SettingsDep, session: SessionDep) -> None:
    try:
        source, label = await service.spotify_source(settings, session)
        data = await service.spotify_data(source, label)
        page.spotify = await run_blocking(_spotify_answers, data, page.per)
    except CsvError as exc:
        page.spotify_problem = f"The Spotify songs file cannot be used: {exc}"
    except KNOWN_FAILURES as exc:
        page.spotify_problem = page_problem(exc, SPOTIFY_WORDING).message


async def _load_majors(page: AnalyticsPage, settings: SettingsDep) -> None:
    try:
        location = majors_location(settings)
        page.majors = await run_blocking(_majors_answers, location, page.version)
    except AnalyticsError as exc:
        page.majors_problem = page_problem(exc).message
        page.majors_not_loaded = exc.code == "not_loaded"


@router.get("/analytics", response_class=HTMLResponse)
async def analytics_page(
    settings: SettingsDep, session: SessionDep, per: str = "track", version: str = ""
) -> HTMLResponse:
    charts.warm_up()  # the page's charts come next: matplotlib is imported meanwhile
    page = AnalyticsPage()
    # The page is for people: a strange query value becomes a notice, not a 422.
    if per in ("track", "playlist"):
        page.per = "track" if per == "track" else "playlist"
    else:
        page.notices.append(f"“{per[:40]}” is not a way to count; showing each track once.")
    if version.strip():
        if version.strip().isdigit():
            page.version = int(version.strip())
        else:
            page.notices.append(f"“{version[:40]}” is not a table version; showing the latest.")
    await _load_spotify(page, settings, session)
    await _load_majors(page, settings)
    problem = page.majors_problem
    if page.majors is None and page.version is not None and problem and not page.majors_not_loaded:
        # An unknown version: say so, and show the latest instead.
        page.notices.append(problem)
        page.version, page.majors_problem = None, None
        await _load_majors(page, settings)
    return PAGES.render("analytics.html", page=page, top_n=TOP_TRACKS)
