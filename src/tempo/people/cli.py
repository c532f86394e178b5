"""`tempo etl people`: import people without their PII, registered on the main `tempo` app
(light to import: see tempo.core.cli.support)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from tempo.core.cli.options import DatabaseUrlOption
from tempo.core.cli.support import (
    cli_engine,
    command_settings,
    one_line_errors,
    run_with_database,
)

if TYPE_CHECKING:
    from tempo.core.cli.progress import Stage
    from tempo.people.service import PeopleImport


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
    from tempo.core.cli.progress import stages
    from tempo.people.service import hmac_key, import_people

    settings = command_settings(database_url=database_url)
    if hash_method == "hmac":
        with one_line_errors():
            hmac_key(settings)
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
