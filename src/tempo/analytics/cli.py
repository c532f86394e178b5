"""`tempo analyze …` and `tempo etl …`, registered on the main `tempo` app.

As in catalog/cli.py, only typer and tempo.cli_support are imported at module level
(`tempo --help` should not pay for Polars and matplotlib); the rest when a command runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from tempo.cli_options import DatabaseUrlOption
from tempo.cli_support import (
    cli_engine,
    configure_cli_logging,
    fail,
    load_settings,
    run_with_database,
)

analyze_app = typer.Typer(
    name="analyze",
    help="Exploratory analyses of Tempo's data sets, as readable reports.",
    no_args_is_help=True,
)
etl_app = typer.Typer(
    name="etl",
    help="Extract, transform and load: college majors into Delta Lake, people without PII.",
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
    from tempo.analytics import service, spotify
    from tempo.analytics.errors import AnalyticsError
    from tempo.analytics.report import SpotifyReport, spotify_report
    from tempo.cli_progress import Stage, stages
    from tempo.sources import display_url, is_url

    settings = load_settings(database_url=database_url)
    configure_cli_logging(settings)

    async def find_and_read(say: Stage) -> spotify.SpotifyData:
        if path_or_url is not None:
            source: str | Path = path_or_url
            label = display_url(path_or_url) if is_url(path_or_url) else path_or_url
        elif (settings.spotify_source or "").strip():
            source, label = await service.spotify_source(settings, None)
        else:
            say("looking up the file the catalog was loaded from")
            async with cli_engine(settings) as engine:
                source, label = await service.spotify_source(settings, engine)
        if is_url(source):
            say(f"downloading {label}")
        say(f"reading {label}")
        return await service.spotify_data(source, label)

    try:
        with stages(log=True) as say:
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
    except AnalyticsError as exc:
        fail(exc.message)
    if as_json:
        answers = {
            name: getattr(report, name).model_dump(mode="json")
            for name in SpotifyReport.__dataclass_fields__
        }
        typer.echo(json.dumps(answers, indent=2, ensure_ascii=False))
    else:
        typer.echo("\n".join(spotify_report(report)))


@etl_app.command("majors")
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
    from tempo.analytics.errors import AnalyticsError
    from tempo.analytics.etl import MAJORS_DEFAULT, MajorsLoad, load_majors
    from tempo.analytics.report import table
    from tempo.cli_progress import Stage, stages
    from tempo.sources import SourceError

    settings = load_settings(database_url=database_url, delta_dir=delta_dir)
    configure_cli_logging(settings)

    async def run(say: Stage) -> MajorsLoad:
        location = majors_location(settings)
        async with cli_engine(settings) as engine:
            return await load_majors(engine, location, source or MAJORS_DEFAULT, progress=say)

    try:
        with stages(log=True) as say:
            result = run_with_database(run(say))
    except (AnalyticsError, SourceError) as exc:
        fail(exc.message)
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


@etl_app.command("people")
def etl_people(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.xlsx|FILE.csv",
            readable=False,
            help="first_name, last_name, email, ip_address and any other columns",
        ),
    ],
    hash_method: Annotated[
        Literal["hmac", "md5"],
        typer.Option(
            "--hash",
            help="hmac: HMAC-SHA256 with PII_HMAC_KEY (default); md5: plain MD5, only to "
            "match older pseudonyms (a dictionary of addresses reverses it)",
        ),
    ] = "hmac",
    sheet: Annotated[
        str | None,
        typer.Option(
            "--sheet", help="The workbook's sheet; default: the first", show_default=False
        ),
    ] = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Import people without names or e-mail addresses, replacing the people table."""
    from tempo.analytics.people import PeopleImport, PiiKeyError, hmac_key, import_people
    from tempo.cli_progress import Stage, stages

    settings = load_settings(database_url=database_url)
    configure_cli_logging(settings)
    if hash_method == "hmac":
        try:
            hmac_key(settings)
        except PiiKeyError as exc:
            fail(str(exc))
        if settings.pii_hmac_key_is_placeholder:
            typer.echo(
                "warning: PII_HMAC_KEY is the development placeholder; set a secret of your own",
                err=True,
            )
    else:
        typer.echo(
            "warning: plain MD5 pseudonyms are reversible with a dictionary of likely addresses",
            err=True,
        )

    async def run(say: Stage) -> PeopleImport:
        async with cli_engine(settings) as engine:
            return await import_people(
                engine, settings, file, method=hash_method, sheet=sheet, progress=say
            )

    with stages(log=True) as say:
        result = run_with_database(run(say))
    for line in result.lines():
        typer.echo(line)
