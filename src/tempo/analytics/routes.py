"""GET /analytics/…: the answers as JSON, and each one as a chart (`…/chart.svg`, `.png`).

The chart routes are left out of the OpenAPI schema, which describes JSON answers; each
JSON route's description names its chart.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sqlmodel import col, select

from tempo.analytics import charts, majors, service, spotify
from tempo.analytics.delta import majors_location
from tempo.analytics.models import MajorRow
from tempo.analytics.schemas import (
    FeatureCorrelations,
    GenreTable,
    Histogram,
    LargestMajors,
    Major,
    MajorsByCategory,
    MajorsTable,
    MajorsVersions,
    ReleaseMonths,
    ShareVsEarnings,
    TopTracks,
)
from tempo.analytics.spotify import SpotifyData
from tempo.core.api_errors import error_responses
from tempo.core.conditional import content_tag, not_modified, read_if_none_match
from tempo.core.csv_input import CsvError
from tempo.core.db import MAX_OFFSET, NO_NUL
from tempo.core.deps import SessionDep, SettingsDep
from tempo.core.errors import TempoError
from tempo.core.limits import ensure_connected, run_blocking
from tempo.core.paging import WHOLE_NUMBER

router = APIRouter(prefix="/analytics", tags=["analytics"])

Answer = TypeVar("Answer", bound=BaseModel)
AnswerRoute = Callable[..., Awaitable[Answer]]
ChartFormat = Literal["svg", "png"]
SPOTIFY_NOTE = (
    "Computed with Polars on the Spotify songs CSV itself: SPOTIFY_SOURCE, else the file "
    "the catalog was last loaded from (404 `no_spotify_data` when there is neither). The "
    "file is parsed once per process and again when it changes."
)
MAJORS_NOTE = (
    "Polars SQL on the `majors` Delta table that `tempo etl majors` writes; `version` reads "
    "an earlier version of the table (time travel). 404 `not_loaded` before the first load, "
    "404 `version_not_found` for a version the table does not have."
)
CHART_HEADERS = {
    # The SVG is ours and holds no script; this keeps it so even if opened on its own.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


async def spotify_dataset(settings: SettingsDep, session: SessionDep) -> SpotifyData:
    try:
        source, label = await service.spotify_source(settings, session)
        return await service.spotify_data(source, label)
    except CsvError as exc:
        # The file is the server's, not the client's: it is unusable, not a bad request.
        raise TempoError(
            503, "spotify_data_unusable", f"the Spotify songs file cannot be used: {exc}",
            exc.details,
        ) from None  # fmt: skip


SpotifyDep = Annotated[SpotifyData, Depends(spotify_dataset)]
Per = Annotated[
    Literal["track", "playlist"],
    Query(
        description="`track`: each track once in each of its genres. `playlist`: each track "
        "once per playlist that lists it under a genre."
    ),
]
Bins = Annotated[
    int,
    Field(ge=1, le=spotify.MAX_BINS),
    WHOLE_NUMBER,
    Query(description="Equal bins over 0 to 100"),
]
TopLimit = Annotated[
    int,
    Field(ge=1, le=100),
    WHOLE_NUMBER,
    Query(description="How many tracks; ties with the last are kept"),
]
# A Delta version is a 64-bit integer: a larger one is a 422, not an overflow further in.
Version = Annotated[
    Annotated[int, Field(ge=0, le=MAX_OFFSET), WHOLE_NUMBER] | None,
    Query(description="A Delta table version; default: the latest"),
]
MajorsLimit = Annotated[
    int, Field(ge=1, le=100), WHOLE_NUMBER, Query(description="How many majors")
]


async def chart_response(
    request: Request,
    name: str,
    answer: Answer,
    fmt: ChartFormat,
    draw: Callable[[Answer, charts.Format], bytes],
) -> Response:
    await ensure_connected(request, "chart")  # drawing is the costly part
    image = await service.chart(name, answer, fmt, draw)
    headers = CHART_HEADERS | {"ETag": content_tag(image)}
    unchanged = not_modified(read_if_none_match(request.scope["headers"]), headers)
    if unchanged is not None:
        return unchanged
    return Response(image, media_type=charts.MEDIA_TYPES[fmt], headers=headers)


def described(note: str, chart: str) -> str:
    return (
        f"{note}\n\nThe same answer as a chart: `GET {chart}` (SVG; `chart.png` for PNG), "
        "with the same query parameters."
    )


def answer_and_chart(
    path: str,
    *,
    chart: str,
    draw: Callable[[Answer, charts.Format], bytes],
    summary: str,
    note: str,
    chart_defaults: Mapping[str, object] | None = None,
) -> Callable[[AnswerRoute[Answer]], AnswerRoute[Answer]]:
    """Serve the decorated function's answer as JSON at GET `path`, and drawn by `draw` at
    GET `path/chart.svg` and `.png` with the same query parameters (`chart_defaults` where
    the chart shows more by default). The chart routes stay out of the OpenAPI document."""

    def register(answer: AnswerRoute[Answer]) -> AnswerRoute[Answer]:
        router.add_api_route(
            path,
            answer,
            methods=["GET"],
            responses=error_responses(404, 422, 503),
            summary=summary,
            description=described(note, f"{router.prefix}{path}/chart.svg"),
        )
        router.add_api_route(
            f"{path}/chart.{{fmt}}",
            _chart_route(answer, chart, draw, chart_defaults or {}),
            methods=["GET"],
            name=f"{answer.__name__}_chart",
            include_in_schema=False,
        )
        return answer

    return register


def _chart_route(
    answer: AnswerRoute[Answer],
    name: str,
    draw: Callable[[Answer, charts.Format], bytes],
    defaults: Mapping[str, object],
) -> Callable[..., Awaitable[Response]]:
    async def chart(request: Request, fmt: ChartFormat, **params: Any) -> Response:
        return await chart_response(request, name, await answer(**params), fmt, draw)

    # FastAPI reads a route's parameters from its signature: the chart's own, then those of
    # the answer (its query parameters and dependencies), so both are validated before
    # anything is computed, as for the JSON route.
    own = list(inspect.signature(chart, eval_str=True).parameters.values())[:2]
    given = inspect.signature(answer, eval_str=True).parameters
    if unknown := set(defaults) - set(given):
        raise TypeError(f"{answer.__name__} has no parameter {', '.join(sorted(unknown))}")
    chart.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*own, *(p.replace(default=defaults.get(p.name, p.default)) for p in given.values())]
    )
    return chart


# --- Spotify songs --------------------------------------------------------------------


@answer_and_chart(
    "/spotify/top",
    chart="top",
    draw=charts.top_tracks,
    chart_defaults={"limit": 10},
    summary="The most popular track(s), ties kept",
    note=SPOTIFY_NOTE + " The chart shows the top 10 unless `limit` says otherwise.",
)
async def get_top(data: SpotifyDep, limit: TopLimit = 1) -> TopTracks:
    return await run_blocking(lambda: spotify.top_tracks(data, limit))


@answer_and_chart(
    "/spotify/genres",
    chart="genres",
    draw=charts.genres,
    summary="Popularity by playlist genre: count, mean, median, 95 % confidence interval",
    note=SPOTIFY_NOTE + " The interval is mean ± t(0.975, n − 1)·s/√n.",
)
async def get_genres(data: SpotifyDep, per: Per = "track") -> GenreTable:
    return await run_blocking(lambda: spotify.genre_stats(data, per))


@answer_and_chart(
    "/spotify/release-months",
    chart="months",
    draw=charts.release_months,
    summary="Mean popularity by month of release; dates without a month are left out and counted",
    note=SPOTIFY_NOTE,
)
async def get_release_months(data: SpotifyDep) -> ReleaseMonths:
    return await run_blocking(lambda: spotify.release_months(data))


@answer_and_chart(
    "/spotify/popularity-histogram",
    chart="histogram",
    draw=charts.histogram,
    summary="The distribution of popularity, one count per track",
    note=SPOTIFY_NOTE,
)
async def get_histogram(data: SpotifyDep, bins: Bins = 10) -> Histogram:
    return await run_blocking(lambda: spotify.popularity_histogram(data, bins))


@answer_and_chart(
    "/spotify/features",
    chart="features",
    draw=charts.features,
    summary="Audio features vs popularity: Pearson and Spearman correlations, and all against all",
    note=SPOTIFY_NOTE,
)
async def get_features(data: SpotifyDep) -> FeatureCorrelations:
    return await run_blocking(lambda: spotify.feature_correlations(data))


# --- college majors -------------------------------------------------------------------


@router.get(
    "/majors",
    response_model=MajorsTable,
    summary="The majors as last loaded into PostgreSQL by `tempo etl majors`, by rank",
    description="404 `not_loaded` before the first load. A `category` that no major has is an "
    "empty list.",
    responses=error_responses(404, 422, 503),
)
async def get_majors(
    session: SessionDep,
    category: Annotated[
        str | None,
        Query(max_length=100, pattern=NO_NUL, description="Only this major category (exact name)"),
    ] = None,
) -> MajorsTable:
    statement = select(MajorRow).order_by(col(MajorRow.rank), col(MajorRow.major_code))
    if category is not None and category.strip():
        statement = statement.where(col(MajorRow.major_category) == category.strip())
    rows = list(await session.exec(statement))
    # Every row holds the version it mirrors, all the same one (a load replaces them all);
    # none at all means no load yet, since a file of no majors is refused.
    version = rows[0].delta_version if rows else await _loaded_version(session)
    if version is None:
        raise TempoError(
            404,
            "not_loaded",
            "the majors have not been loaded yet; run `tempo etl majors` first",
        )
    return MajorsTable(
        delta_version=version,
        total=len(rows),
        majors=[Major.model_validate(row, from_attributes=True) for row in rows],
    )


async def _loaded_version(session: SessionDep) -> int | None:
    return (await session.exec(select(MajorRow.delta_version).limit(1))).first()


@router.get(
    "/majors/versions",
    response_model=MajorsVersions,
    summary="The versions of the majors Delta table, newest first",
    description="404 `not_loaded` before the first load.",
    responses=error_responses(404, 503),
)
async def get_majors_versions(settings: SettingsDep) -> MajorsVersions:
    return await run_blocking(lambda: majors.versions(majors_location(settings)))


@answer_and_chart(
    "/majors/largest",
    chart="largest",
    draw=charts.largest_majors,
    summary="The majors with the most graduates",
    note=MAJORS_NOTE,
)
async def get_largest(
    settings: SettingsDep, version: Version = None, limit: MajorsLimit = 10
) -> LargestMajors:
    return await run_blocking(lambda: majors.largest(majors_location(settings), version, limit))


@answer_and_chart(
    "/majors/by-category",
    chart="categories",
    draw=charts.majors_by_category,
    summary="Men and women per major category",
    note=MAJORS_NOTE,
)
async def get_by_category(settings: SettingsDep, version: Version = None) -> MajorsByCategory:
    return await run_blocking(lambda: majors.by_category(majors_location(settings), version))


@answer_and_chart(
    "/majors/share-vs-earnings",
    chart="share",
    draw=charts.share_vs_earnings,
    summary="Share of women vs median earnings, with the least-squares line",
    note=MAJORS_NOTE,
)
async def get_share_vs_earnings(settings: SettingsDep, version: Version = None) -> ShareVsEarnings:
    return await run_blocking(lambda: majors.share_vs_earnings(majors_location(settings), version))
