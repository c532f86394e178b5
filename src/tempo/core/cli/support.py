"""What every `tempo` command needs once it runs: settings, one-line errors, the database.

`tempo --help` imports tempo.cli, every domain CLI (tempo.*.cli) and this module, so all of
them import only typer and tempo.core.cli at module level: Pydantic settings, SQLAlchemy,
asyncpg, Polars and matplotlib are imported inside the functions, when a command actually
runs (tests/test_cli_startup.py keeps it that way).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from tempo.core.cli.progress import clear as clear_progress

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from tempo.core.settings import Settings

T = TypeVar("T")


def fail(message: str, code: int = 1) -> NoReturn:
    clear_progress()  # a failure inside a stage: the line goes below the finished ones
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


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


def run_with_database(work: Coroutine[Any, Any, T]) -> T:
    """Run `work`; a bad CSV, a missing schema or an unreachable database is one line."""
    import asyncio  # some 20 ms: not for `tempo --help`

    try:
        return asyncio.run(work)
    except Exception as exc:
        # Imported only on failure: a command that never reads a CSV should not load
        # Polars (tempo.core.csv_input) or FastAPI (tempo.core.errors) just to tell errors apart.
        from tempo.core.csv_input import CsvError
        from tempo.core.errors import (
            SCHEMA_MISSING_MESSAGE,
            database_failure,
            is_database_unavailable,
            is_schema_missing,
        )

        if isinstance(exc, CsvError):
            fail(str(exc))
        if is_schema_missing(exc):
            fail(SCHEMA_MISSING_MESSAGE)
        if is_database_unavailable(exc):
            fail(f"cannot reach the database: {database_failure(exc)}")
        raise
