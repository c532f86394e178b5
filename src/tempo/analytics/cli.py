"""`tempo analyze …` and `tempo etl majors`, registered on the main `tempo` app (light to
import: see tempo.core.cli.support)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from tempo.core.cli.options import DatabaseUrlOption
from tempo.core.cli.support import (
    cli_engine,
    command_settings,
    one_line_errors,
    run_with_database,
)

analyze_app = typer.Typer(
    name="analyze",
    help="Exploratory analyses of Tempo's data sets, as readable reports.",
    no_args_is_help=True,
)


@analyze_app.command("spotify")
def analyze_spotify(
    path_or_url: Annotated[
        str | None,
        typer.Argument(
            metavar="PATH_OR_URL",
            help="spotify_songs.csv, a file or an http(s):// URL; default: SPOTIFY_SOURCE, "
            "else the file the catalog was last loaded from",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the answers as JSON, as the API gives them")
    ] = False,
    top: Annotated[int, typer.Option(min=1, max=100, help="How many top tracks")] = 5,
    bins: Annotated[int, typer.Option(min=1, max=100, help="Histogram bins over 0–100")] = 10,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Report on the Spotify songs: top tracks, genres, release months, popularity, features."""
    from sqlmodel.ext.asyncio.session import AsyncSession

    from tempo.analytics import service, spotify
    from tempo.analytics.report import SpotifyReport, spotify_report
    from tempo.core.cli.progress import Stage, stages
    from tempo.core.sources import display_url, is_url

    settings = command_settings(database_url=database_url)

    async def find_and_read(say: Stage) -> spotify.SpotifyData:
        if path_or_url is not None:
            source: str | Path = path_or_url
            label = display_url(path_or_url) if is_url(path_or_url) else path_or_url
        elif (settings.spotify_source or "").strip():
            source, label = await service.spotify_source(settings, None)
        else:
            say("looking up the file the catalog was loaded from")
            async with cli_engine(settings) as engine, AsyncSession(engine) as session:
                source, label = await service.spotify_source(settings, session)
        if is_url(source):
            say(f"downloading {label}")
        say(f"reading {label}")
        return await service.spotify_data(source, label)

    with one_line_errors(), stages(log=True) as say:
        data = run_with_database(find_and_read(say))
        say(f"read {data.rows_read:,} rows in {data.seconds:.2f} s; computing the answers")
        report = SpotifyReport(
            top=spotify.top_tracks(data, top),
            genres_per_track=spotify.genre_stats(data, "track"),
            genres_per_playlist=spotify.genre_stats(data, "playlist"),
            months=spotify.release_months(data),
            histogram=spotify.popularity_histogram(data, bins),
            features=spotify.feature_correlations(data),
        )
    if as_json:
        answers = {
            name: getattr(report, name).model_dump(mode="json")
            for name in SpotifyReport.__dataclass_fields__
        }
        typer.echo(json.dumps(answers, indent=2, ensure_ascii=False))
    else:
        typer.echo("\n".join(spotify_report(report)))


def etl_majors(
    source: Annotated[
        str | None,
        typer.Argument(
            metavar="SOURCE",
            help="women-stem.csv: a file or an http(s):// URL; default: the copy of "
            "FiveThirtyEight's file shipped with Tempo",
            show_default=False,
        ),
    ] = None,
    delta_dir: Annotated[
        str | None,
        typer.Option(
            "--delta-dir",
            help="Folder or s3:// URI of the Delta tables; default: DELTA_DIR (.tempo/delta)",
            show_default=False,
        ),
    ] = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Load college majors: a new version of the Delta table, and the PostgreSQL table."""
    from tempo.analytics.delta import majors_location
    from tempo.analytics.etl import MAJORS_DEFAULT, MajorsLoad, load_majors
    from tempo.analytics.report import table
    from tempo.core.cli.progress import Stage, stages

    settings = command_settings(database_url=database_url, delta_dir=delta_dir)

    async def run(say: Stage) -> MajorsLoad:
        location = majors_location(settings)
        async with cli_engine(settings) as engine:
            return await load_majors(engine, location, source or MAJORS_DEFAULT, progress=say)

    with stages(log=True) as say:
        result = run_with_database(run(say))
    for line in result.lines():
        typer.echo(line)
    typer.echo("Men and women per major category:")
    rows = [
        [
            str(row["major_category"]),
            f"{row['majors']:,}",
            f"{row['men']:,}",
            f"{row['women']:,}",
            f"{row['total']:,}",
            f"{row['share_women']:.1%}",
        ]
        for row in result.categories.iter_rows(named=True)
    ]
    for line in table(
        ["category", "majors", "men", "women", "total", "women %"],
        rows,
        [False, True, True, True, True, True],
    ):
        typer.echo(line)
