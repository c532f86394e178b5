"""What every `tempo` command needs once it runs: settings, one-line errors, the database.

`tempo --help` imports tempo.cli, every domain CLI (tempo.*.cli) and this module, so all of
them import only typer and tempo.core.cli at module level: Pydantic settings, SQLAlchemy,
asyncpg, Polars and matplotlib are imported inside the functions, when a command actually
runs (tests/test_cli_startup.py keeps it that way).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from tempo.core.cli.progress import clear as clear_progress

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tempo.core.settings import Settings

T = TypeVar("T")


def fail(message: str, code: int = 1) -> NoReturn:
    """End the command: one line, `error: <message>`, and exit status `code`. A SystemExit,
    so that it passes any `except Exception` between here and the top, inside a command or
    around one (tempo.cli.main)."""
    clear_progress()  # a failure inside a stage: the line goes below the finished ones
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise SystemExit(code)


def load_settings(**overrides: Any) -> Settings:
    from pydantic import ValidationError

    from tempo.core.settings import Settings

    try:
        given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        return Settings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        fail(f"invalid settings: {problems}")


def command_settings(**overrides: Any) -> Settings:
    """The settings of a command that runs (`overrides` from its options win), with logging
    set up for it: the CLI speaks through its own printed lines; logs stay for warnings and up."""
    from tempo.core.logs import configure_logging

    settings = load_settings(**overrides)
    configure_logging("WARNING", settings.resolved_log_format)
    return settings


@asynccontextmanager
async def cli_engine(
    settings: Settings, *, migrate_embedded: bool = True
) -> AsyncIterator[AsyncEngine]:
    """An engine for one command; the embedded database is migrated first."""
    from tempo.core.db import create_engine, database_url, migrate

    engine = create_engine(database_url(settings), pool_size=2)
    try:
        if migrate_embedded and settings.uses_embedded_database:
            await migrate(engine)
        yield engine
    finally:
        await engine.dispose()


@contextmanager
def one_line_errors() -> Iterator[None]:
    """A TempoError (a bad CSV, a missing file, a refused request) or a failing database
    inside the block is one line, `error: <message>`, and exit code 1. Anything else is a
    bug, and keeps its traceback."""
    try:
        yield
    except Exception as exc:
        # Imported only on failure, and the database's part only for what is not a
        # TempoError: telling errors apart must not load SQLAlchemy for a bad CSV.
        from tempo.core.errors import TempoError

        if isinstance(exc, TempoError):
            fail(exc.message)
        from tempo.core.db_errors import (
            DatabaseMisconfigured,
            DatabaseUnavailable,
            database_error,
        )

        error = database_error(exc)
        if error is None:
            raise
        if isinstance(error, DatabaseUnavailable):  # a statement timeout too
            # The driver's own line tells whoever runs the command more than the API's.
            fail(f"cannot reach the database: {error.reason}")
        if isinstance(error, DatabaseMisconfigured):
            fail(f"the database refused the connection: {error.reason}")
        fail(error.message)


def run_with_database(work: Coroutine[Any, Any, T]) -> T:
    """Run `work`, with its errors as one line (`one_line_errors`)."""
    import asyncio  # some 20 ms: not for `tempo --help`

    with one_line_errors():
        return asyncio.run(work)
