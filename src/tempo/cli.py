"""`tempo …`: the command line, calling the same services as the API.

`tempo --help` imports this module and the domain CLIs it registers, and nothing more:
Polars, SQLAlchemy, FastAPI, pydantic settings and the rest are imported inside each
command, when it runs (tests/test_cli_startup.py keeps it that way).
"""

from __future__ import annotations

import os
import signal
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from tempo.analytics.cli import analyze_app, etl_app
from tempo.catalog.cli import app as catalog_app
from tempo.cli_options import AllowEmptyOption, DatabaseUrlOption
from tempo.cli_progress import clear as clear_progress
from tempo.cli_support import (
    cli_engine,
    configure_cli_logging,
    fail,
    load_settings,
    run_with_database,
)
from tempo.leaderboard.cli import app as pipeline_app

if TYPE_CHECKING:
    from tempo.settings import Settings

app = typer.Typer(
    name="tempo",
    help="Tempo: CSV pipelines with Polars, PostgreSQL, and a fast leaderboard API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help and usage errors (click's): typer's rich help would import rich's
    # markdown, traceback and layout modules and take two thirds of a `tempo --help`
    # (about 0.2 s instead of 0.08 s). The sub-commands inherit this setting.
    rich_markup_mode=None,
)
app.add_typer(catalog_app, name="catalog")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(analyze_app, name="analyze")
app.add_typer(etl_app, name="etl")


@app.command()
def aggregate(
    messages_path: Annotated[
        str,
        typer.Argument(
            metavar="MESSAGES",
            help="messages.csv (message_id, and author_id or user_id): a path, an http(s):// "
            "or s3:// URL",
        ),
    ],
    users_path: Annotated[
        str,
        typer.Argument(
            metavar="USERS", help="users.csv (user_id or id, names): a path or a URL, as above"
        ),
    ],
    output_path: Annotated[
        str,
        typer.Argument(
            metavar="OUTPUT",
            help="Directory for pipeline_result.csv, or an s3://bucket/prefix/ (or s3://…/name.csv)",
        ),
    ],
    allow_empty: AllowEmptyOption = False,
) -> None:
    """Rank users by message count into OUTPUT/pipeline_result.csv."""
    import asyncio

    from tempo.cli_progress import stages
    from tempo.csv_input import CsvError
    from tempo.sources import SourceError, is_url

    try:
        with stages(log=False) as progress:
            if any(is_url(location) for location in (messages_path, users_path, output_path)):
                from tempo.leaderboard.cli import aggregate_anywhere

                summary = asyncio.run(
                    aggregate_anywhere(
                        messages_path, users_path, output_path, progress, allow_empty=allow_empty
                    )
                )
            else:
                from tempo.leaderboard.pipeline import aggregate as run_aggregate

                summary = run_aggregate(
                    Path(messages_path),
                    Path(users_path),
                    Path(output_path),
                    progress=progress,
                    allow_empty=allow_empty,
                )
    except (CsvError, SourceError) as exc:
        fail(str(exc))
    typer.echo(summary.line())


@app.command()
def feed(
    csv_path: Annotated[
        str,
        typer.Argument(
            metavar="CSV", help="A pipeline_result.csv: a path, an http(s):// or s3:// URL"
        ),
    ],
    database_url: DatabaseUrlOption = None,
    allow_empty: AllowEmptyOption = False,
) -> None:
    """Load a pipeline_result.csv into the leaderboard, replacing it atomically (COPY)."""
    from tempo.cli_progress import Stage, stages
    from tempo.leaderboard.cli import feed_anywhere
    from tempo.sources import SourceError

    settings = load_settings(database_url=database_url)
    configure_cli_logging(settings)

    async def run(progress: Stage) -> str:
        return (await feed_anywhere(settings, csv_path, progress, allow_empty=allow_empty)).line()

    try:
        with stages(log=False) as progress:
            line = run_with_database(run(progress))
    except SourceError as exc:
        fail(str(exc))
    typer.echo(line)


@app.command()
def migrate(database_url: DatabaseUrlOption = None) -> None:
    """Upgrade the database schema to the newest version."""
    settings = load_settings(database_url=database_url)
    configure_cli_logging(settings)
    from tempo.db import head_revisions
    from tempo.db import migrate as run_migrate

    async def run() -> None:
        async with cli_engine(settings, migrate_embedded=False) as engine:
            await run_migrate(engine)

    run_with_database(run())
    typer.echo(f"database schema at revision {', '.join(sorted(head_revisions()))}")


@app.command()
def schedule(
    file: Annotated[
        str, typer.Argument(metavar="FILE.json|-", help="A POST /schedule request body; - = stdin")
    ],
    ics: Annotated[bool, typer.Option("--ics", help="Print an iCalendar file instead")] = False,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Plan a day from a JSON request and print it as a table (or as .ics)."""
    import datetime as dt

    from pydantic import ValidationError
    from sqlmodel.ext.asyncio.session import AsyncSession

    from tempo.schedule.ics import to_ics
    from tempo.schedule.schemas import SchedulePlan, ScheduleRequest
    from tempo.schedule.service import InvalidSchedule, needs_catalog, plan_day
    from tempo.schedule.text import format_plan

    try:
        raw = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{file}: cannot read the file: {exc.strerror or exc}")
    try:
        request = ScheduleRequest.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors()
        if errors[0]["type"] == "json_invalid":
            fail(f"{file}: not valid JSON: {errors[0]['ctx']['error']}")
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'request'}: {err['msg']}" for err in errors
        )
        fail(f"{file}: invalid request: {problems}")

    async def run() -> SchedulePlan:
        if not needs_catalog(request):
            return await plan_day(request, None)
        settings = load_settings(database_url=database_url)
        configure_cli_logging(settings)
        async with cli_engine(settings) as engine, AsyncSession(engine) as session:
            return await plan_day(request, session)

    try:
        plan = run_with_database(run())
    except InvalidSchedule as exc:
        fail(str(exc))
    if ics:
        sys.stdout.write(to_ics(plan, request.date or dt.date.today()).decode())
    else:
        typer.echo(format_plan(plan))


class Server(StrEnum):
    UVICORN = "uvicorn"
    GRANIAN = "granian"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, envvar="WEB_CONCURRENCY", help="Worker processes")
    ] = 1,
    server: Annotated[
        Server,
        typer.Option(envvar="TEMPO_SERVER", help="HTTP server (see loadtest/README.md)"),
    ] = Server.UVICORN,
) -> None:
    """Run the HTTP API (uvicorn with uvloop and httptools, or granian)."""
    settings = load_settings()
    configure_cli_logging(settings)
    url = run_with_database(_prepare_database(settings))
    # Workers are separate processes: hand them the resolved URL so they join this
    # process's embedded database instead of starting their own.
    os.environ["DATABASE_URL"] = url
    typer.echo(f"Tempo on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    # Both servers re-raise SIGTERM or exit through os._exit paths of their own after a
    # graceful shutdown; exiting through Python instead lets atexit stop the embedded
    # PostgreSQL.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if server is Server.GRANIAN:
        _serve_granian(host, port, workers)
    else:
        _serve_uvicorn(host, port, workers)


def _serve_uvicorn(host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "tempo.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,  # no "server: uvicorn" to advertise, nor to write per response
    )


# granian's own records go to the root logger, which renders them like Tempo's.
GRANIAN_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {
        "_granian": {"handlers": [], "propagate": True},
        "granian.access": {"handlers": [], "propagate": True},
    },
}


def _serve_granian(host: str, port: int, workers: int) -> None:
    import multiprocessing

    from granian import Granian
    from granian.constants import Interfaces, Loops

    # granian starts workers the multiprocessing way; a forked worker would inherit the
    # Polars thread pool this process may have started (demo data) without its threads,
    # and hang on its first Polars call.
    multiprocessing.set_start_method("spawn", force=True)
    Granian(
        "tempo.app:create_app_behind_proxy",
        factory=True,
        address=host,
        port=port,
        workers=workers,
        interface=Interfaces.ASGI,
        loop=Loops.uvloop,
        log_dictconfig=GRANIAN_LOGGING,
        log_access=False,  # the request middleware writes the access log
    ).serve()


@app.command()
def sample(
    output_dir: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", readable=False, help="Directory for messages.csv and users.csv"
        ),
    ],
    messages: Annotated[int, typer.Option(min=0, help="Messages to write")] = 1000,
    users: Annotated[int, typer.Option(min=1, help="Users to write")] = 100,
    orphan_every: Annotated[
        int, typer.Option(min=0, help="Every n-th message from an unknown user (0: none)")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same files")] = 42,
) -> None:
    """Write synthetic messages.csv and users.csv (demo data, benchmark inputs)."""
    from tempo.cli_progress import counted
    from tempo.leaderboard.sample import write_messages, write_users

    output_dir.mkdir(parents=True, exist_ok=True)
    write_users(output_dir / "users.csv", users)

    def plain(done: int, total: int) -> None:
        # Outside a terminal: one line per batch of a million, for long runs' logs.
        typer.echo(f"messages: {done:,}/{total:,} ({done / total:.0%})", err=True)

    with counted(
        "writing messages.csv", messages, plain=plain if messages >= 1_000_000 else None
    ) as progress:
        write_messages(
            output_dir / "messages.csv",
            messages,
            users,
            seed=seed,
            orphan_every=orphan_every,
            progress=progress,
        )
    typer.echo(f"wrote {messages:,} messages and {users:,} users to {output_dir}")


def _exit_on_sigterm(signum: int, _: object) -> None:
    sys.exit(128 + signum)


async def _prepare_database(settings: Settings) -> str:
    """Resolve the database, migrate the embedded one, seed demo data in development."""
    from tempo.catalog.demo import seed_demo_catalog
    from tempo.db import create_engine, database_url, migrate
    from tempo.leaderboard.demo import seed_demo_leaderboard

    url = database_url(settings)
    engine = create_engine(url, pool_size=1)
    try:
        if settings.uses_embedded_database:
            await migrate(engine)
        if settings.environment == "development" and settings.seed_demo_data:
            seeded = await seed_demo_leaderboard(engine, settings.data_dir)
            if seeded:
                typer.echo(seeded)
            catalog = await seed_demo_catalog(engine)
            if catalog:
                typer.echo(catalog)
    finally:
        await engine.dispose()
    return url


INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C


def _by_ctrl_c(exc: BaseException) -> bool:
    """Whether `exc` ends a chain that started with a KeyboardInterrupt."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def interrupted() -> NoReturn:
    clear_progress()
    typer.secho("error: interrupted", fg=typer.colors.RED, err=True)
    sys.exit(INTERRUPTED)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        interrupted()
    except SystemExit as exc:
        # typer turns Ctrl-C into a silent exit 130; a stopped command should say so, on
        # its own line below whatever progress it had drawn.
        if exc.code == INTERRUPTED and _by_ctrl_c(exc):
            interrupted()
        raise
