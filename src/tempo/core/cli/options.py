"""Options shared by the `tempo` command and its sub-commands."""

from typing import Annotated

import typer

DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="PostgreSQL URL; default: DATABASE_URL, else the embedded database in ./.tempo/",
        show_default=False,
    ),
]

# A file with a header and no rows would empty the leaderboard: refused unless asked for.
AllowEmptyOption = Annotated[
    bool,
    typer.Option(
        "--allow-empty",
        help="Accept an input with a header and no rows (it empties the leaderboard)",
    ),
]
