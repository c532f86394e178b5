"""`tempo catalog …`, registered on the main `tempo` app (light to import: see
tempo.core.cli.support)."""

from __future__ import annotations

from typing import Annotated

import typer

from tempo.core.cli.options import DatabaseUrlOption
from tempo.core.cli.support import (
    cli_engine,
    command_settings,
    run_with_database,
)

app = typer.Typer(
    name="catalog",
    help="The music catalog: load the Spotify songs CSV that GET /tracks searches.",
    no_args_is_help=True,
)


@app.command()
def load(
    path_or_url: Annotated[
        str,
        typer.Argument(
            metavar="PATH_OR_URL",
            help="spotify_songs.csv: a local file or an http(s):// URL (up to 200 MB)",
        ),
    ],
    database_url: DatabaseUrlOption = None,
) -> None:
    """Replace the catalog with a Spotify songs CSV, atomically (COPY), one row per track."""
    from tempo.catalog.load import LoadResult, load_catalog
    from tempo.core.cli.progress import Stage, stages

    settings = command_settings(database_url=database_url)

    async def run(progress: Stage) -> LoadResult:
        async with cli_engine(settings) as engine:
            return await load_catalog(engine, path_or_url, progress=progress)

    with stages(log=True) as progress:
        result = run_with_database(run(progress))
    for line in result.lines():
        typer.echo(line)
