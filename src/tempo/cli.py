"""`tempo …`: the command line, calling the same services as the API.

`tempo --help` imports this module and the domain CLIs it registers, and nothing more:
Polars, SQLAlchemy, FastAPI, pydantic settings and the rest are imported inside each
command, when it runs (tests/test_cli_startup.py keeps it that way).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from tempo.analytics.cli import analyze_app, etl_majors
from tempo.catalog.cli import app as catalog_app
from tempo.core.cli.options import DatabaseUrlOption
from tempo.core.cli.support import (
    cli_engine,
    command_settings,
    fail,
    one_line_errors,
    run_with_database,
)
from tempo.images.cli import classify
from tempo.people.cli import etl_people
from tempo.pipeline.cli import aggregate, feed, sample
from tempo.pipeline.cli import app as pipeline_app
from tempo.schedule.cli import schedule

if TYPE_CHECKING:
    from tempo.core.settings import Settings

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
etl_app = typer.Typer(
    name="etl",
    help="Extract, transform and load: college majors into Delta Lake, people without PII.",
    no_args_is_help=True,
)
etl_app.command("majors")(etl_majors)
etl_app.command("people")(etl_people)
app.add_typer(etl_app, name="etl")
# Each domain's top-level commands, written beside the services they call.
for command in (aggregate, feed, schedule, sample, classify):
    app.command()(command)


@app.command()
def migrate(database_url: DatabaseUrlOption = None) -> None:
    """Upgrade the database schema to the newest version."""
    settings = command_settings(database_url=database_url)
    from tempo.core.db import head_revisions
    from tempo.core.db import migrate as run_migrate

    async def run() -> None:
        async with cli_engine(settings, migrate_embedded=False) as engine:
            await run_migrate(engine)

    run_with_database(run())
    typer.echo(f"database schema at revision {', '.join(sorted(head_revisions()))}")


class Server(StrEnum):
    UVICORN = "uvicorn"
    GRANIAN = "granian"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, envvar="WEB_CONCURRENCY", help="Worker processes")
    ] = 1,
    server: Annotated[
        Server,
        typer.Option(envvar="TEMPO_SERVER", help="HTTP server (see loadtest/README.md)"),
    ] = Server.UVICORN,
) -> None:
    """Run the HTTP API (uvicorn with uvloop and httptools, or granian)."""
    settings = command_settings()
    # Before anything starts: a SIGTERM (docker stop, systemd, an IDE's stop button), in
    # start-up or later, exits through Python, so that atexit stops the embedded PostgreSQL.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    _refuse_a_taken_address(host, port)
    url = _join_embedded_database(settings)
    _prepare_database_in_child()
    if url is not None:
        # Workers are separate processes: hand them the resolved URL so they join this
        # process's embedded database instead of starting their own.
        os.environ["DATABASE_URL"] = url
    if settings.metrics:
        _share_metrics_between_workers()
    typer.echo(f"Tempo on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    # The SIGTERM handler above stays: both servers re-raise SIGTERM or exit through
    # os._exit paths of their own after a graceful shutdown.
    if server is Server.GRANIAN:
        _serve_granian(host, port, workers)
    else:
        _serve_uvicorn(host, port, workers)


def _refuse_a_taken_address(host: str, port: int) -> None:
    """One line now, rather than the database prepared, "Tempo on …" printed and then the
    server's own JSON log line about the address. The socket is bound as uvicorn and
    granian bind theirs (SO_REUSEADDR), then closed; a race with another program remains."""
    import socket

    try:
        family, kind, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def _share_metrics_between_workers() -> None:
    """A fresh folder for this serve's metrics files (tempo.core.metrics), which every
    worker finds in PROMETHEUS_MULTIPROC_DIR, so that a scrape sees them all; removed at
    exit. Files of an earlier serve would count its requests again."""
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="tempo-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    atexit.register(shutil.rmtree, folder, ignore_errors=True)


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

    # granian starts workers the multiprocessing way: spawned, not forked, so that a
    # worker never inherits a thread pool (Polars') without its threads. This process
    # imports no Polars now (the database is prepared in a child), but a fork would copy
    # whatever it holds into every worker.
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


def _exit_on_sigterm(signum: int, _: object) -> None:
    sys.exit(128 + signum)


def _join_embedded_database(settings: Settings) -> str | None:
    """Start (or join) the embedded PostgreSQL, when there is no DATABASE_URL: this process
    holds it for as long as it serves, and its workers join it by the URL returned."""
    if not settings.uses_embedded_database:
        return None
    from tempo.core.embedded import embedded_database_url

    with one_line_errors():
        return embedded_database_url(settings.embedded_db_dir)


# The child's whole program: `tempo serve`'s database preparation, with its one-line errors.
PREPARE_DATABASE = "from tempo.cli import prepare_database_process; prepare_database_process()"


def _prepare_database_in_child() -> None:
    """Migrate and seed in a child process, so that the serving process (uvicorn's
    supervisor with several workers) never imports Alembic, SQLAlchemy or Polars. The child
    reads the same settings and prints its own lines and errors; its exit status is this
    command's when it fails."""
    # A session of its own: Ctrl-C reaches this process only, which stops the child and
    # says so once, whatever the child was doing (importing, migrating) at the time.
    child = subprocess.Popen([sys.executable, "-c", PREPARE_DATABASE], start_new_session=True)
    try:
        status = child.wait()
    except (KeyboardInterrupt, SystemExit):  # Ctrl-C (main says so), or SIGTERM (see serve)
        _stop(child)
        raise
    if status != 0:
        raise SystemExit(status if status > 0 else 128 - status)


def _stop(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM, which the child turns into a normal exit (its embedded-database handle is
    let go at exit); SIGKILL if it has not gone within 10 s."""
    child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def prepare_database_process() -> None:
    """The child of `_prepare_database_in_child`."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        run_with_database(_prepare_database(command_settings()))
    except KeyboardInterrupt:
        fail("interrupted", INTERRUPTED)


async def _prepare_database(settings: Settings) -> str:
    """Check IMAGE_MODEL, resolve the database, migrate the embedded one, seed demo data in
    development."""
    if settings.image_model is not None:
        # Loaded here once, so that a model that cannot be used stops `tempo serve` with its
        # reason now, not at a worker's first classification (which loads it for itself).
        from tempo.images.model import load

        load(settings.image_model, settings.image_labels)
    from tempo.catalog.demo import seed_demo_catalog
    from tempo.core.db import create_engine, database_url, migrate
    from tempo.pipeline.demo import seed_demo_leaderboard

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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        fail("interrupted", INTERRUPTED)
    except SystemExit as exc:
        # typer turns Ctrl-C into a silent exit 130; a stopped command should say so, on
        # its own line below whatever progress it had drawn.
        if exc.code == INTERRUPTED and _by_ctrl_c(exc):
            fail("interrupted", INTERRUPTED)
        raise
