"""`tempo aggregate`, `tempo feed`, `tempo sample` and `tempo pipeline …` (light to import:
see tempo.core.cli.support)."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tempo.core.cli.options import AllowEmptyOption, DatabaseUrlOption
from tempo.core.cli.support import (
    cli_engine,
    command_settings,
    fail,
    load_settings,
    one_line_errors,
    run_with_database,
)

if TYPE_CHECKING:
    from tempo.core.settings import Settings
    from tempo.core.sources import ObjectStorage
    from tempo.leaderboard.models import PipelineRun
    from tempo.pipeline.aggregate import AggregateSummary, Progress
    from tempo.pipeline.feed import FeedResult


class Engine(StrEnum):
    polars = "polars"
    spark = "spark"


app = typer.Typer(
    name="pipeline",
    help="The leaderboard pipeline: raw messages + users → pipeline_result.csv → leaderboard.",
    no_args_is_help=True,
)


def _storage_for(*locations: str, settings: Settings | None = None) -> ObjectStorage | None:
    """The configured object store when any location is s3://; settings are read only then,
    so purely local commands work whatever the environment holds."""
    from tempo.core.sources import ObjectStorage, is_s3_url

    if not any(is_s3_url(location) for location in locations):
        return None
    return ObjectStorage.from_settings(settings or load_settings())


def _label(location: str) -> str:
    from tempo.core.sources import display_url, is_url

    return display_url(location) if is_url(location) else location


async def aggregate_anywhere(
    messages: str,
    users: str,
    output: str,
    progress: Progress | None = None,
    *,
    allow_empty: bool = False,
) -> AggregateSummary:
    """`tempo aggregate` with any input a path, http(s):// or s3:// URL, and the output a
    directory or an s3:// location."""
    from tempo.core.csv_input import CsvError
    from tempo.core.sources import ObjectStorage, is_s3_url, open_csv, parse_s3_url
    from tempo.pipeline.aggregate import RESULT_FILE, read_inputs, write_atomically

    started = time.perf_counter()
    storage = _storage_for(messages, users, output)
    target = parse_s3_url(output, directory_file=RESULT_FILE) if is_s3_url(output) else None
    folder = Path(output)
    if target is None and folder.exists() and not folder.is_dir():
        raise CsvError(folder, "the output path must be a directory")
    async with (
        open_csv(messages, storage=storage) as messages_input,
        open_csv(users, storage=storage) as users_input,
    ):
        ranking = await read_inputs(
            messages_input,
            users_input,
            labels=(_label(messages), _label(users)),
            progress=progress,
            allow_empty=allow_empty,
        )
    if progress is not None:
        progress(f"writing {_label(output)}")
    if target is None:
        write_atomically(ranking.result, folder / RESULT_FILE)
        return ranking.summary(folder / RESULT_FILE, time.perf_counter() - started)
    if storage is None:  # for the type checker: an s3:// output made `storage`
        raise ObjectStorage.not_configured(target.url)
    await storage.put(target, ranking.csv_bytes())
    return ranking.summary(target, time.perf_counter() - started)


async def feed_anywhere(
    engine_settings: Settings,
    location: str,
    progress: Progress | None = None,
    *,
    allow_empty: bool = False,
) -> FeedResult:
    """`tempo feed` from a path, an http(s):// URL or an s3:// object."""
    from tempo.core.sources import open_csv
    from tempo.pipeline.feed import feed_file

    storage = _storage_for(location, settings=engine_settings)
    async with open_csv(location, storage=storage) as source:
        async with cli_engine(engine_settings) as engine:
            return await feed_file(
                engine, source, source=_label(location), progress=progress, allow_empty=allow_empty
            )


def run_line(run: PipelineRun) -> str:
    if run.status != "succeeded":
        return f"run #{run.id} {run.status}: {run.error}"
    fed = f", feed #{run.feed_id}" if run.feed_id is not None else ", not fed"
    return (
        f"run #{run.id} succeeded: {run.messages or 0:,} messages, {run.users or 0:,} users → "
        f"{run.ranked_users or 0:,} ranked users ({run.orphan_messages or 0:,} orphan "
        f"messages) → {run.output}{fed}, in {run.seconds or 0:.2f} s"
    )


@app.command()
def run(
    feed: Annotated[
        bool, typer.Option("--feed/--no-feed", help="Load the result into the leaderboard")
    ] = True,
    database_url: DatabaseUrlOption = None,
    allow_empty: AllowEmptyOption = False,
) -> None:
    """Aggregate raw messages + users into pipeline_result.csv and feed it (POST /pipeline/run).

    Reads messages.csv and users.csv from RAW_BUCKET (or DATA_DIR without object storage) and
    writes pipeline_result.csv to RESULT_BUCKET (or DATA_DIR).
    """
    from tempo.core.cli.progress import stages
    from tempo.core.sources import ObjectStorage
    from tempo.pipeline.runs import PipelinePlan, RunFailed, run_pipeline

    settings = command_settings(database_url=database_url)
    storage = ObjectStorage.from_settings(settings) if settings.object_storage_enabled else None
    plan = PipelinePlan.from_settings(settings)

    async def go(progress: Progress) -> PipelineRun:
        async with cli_engine(settings) as engine:
            return await run_pipeline(
                engine,
                plan,
                storage=storage,
                trigger="cli",
                feed=feed,
                progress=progress,
                compressed=True,
                allow_empty=allow_empty,
            )

    try:
        with stages(log=False) as progress:
            done = run_with_database(go(progress))
    except RunFailed as failed:
        fail(run_line(failed.run))
    typer.echo(run_line(done))


@app.command()
def runs(
    limit: Annotated[int, typer.Option(min=1, max=100, help="Runs to list")] = 10,
    database_url: DatabaseUrlOption = None,
) -> None:
    """List the recorded runs, newest first."""
    from sqlmodel.ext.asyncio.session import AsyncSession

    from tempo.pipeline.runs import recent_runs

    settings = command_settings(database_url=database_url)

    async def go() -> tuple[list[PipelineRun], int]:
        async with cli_engine(settings) as engine, AsyncSession(engine) as session:
            return await recent_runs(session, limit=limit, offset=0)

    recorded, total = run_with_database(go())
    for entry in recorded:
        started = entry.started_at.isoformat(timespec="seconds") if entry.started_at else "?"
        typer.echo(f"{started}  {entry.trigger:<6}  {run_line(entry)}")
    typer.echo(f"{len(recorded)} of {total} runs")


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
    engine: Annotated[
        Engine,
        typer.Option(
            help="polars: this process, streaming. spark: a PySpark job (the `spark` extra, "
            "Java 17+) that reads paths and hdfs://, dbfs:/ or s3a:// URLs"
        ),
    ] = Engine.polars,
    master: Annotated[
        str,
        typer.Option(help="Spark master for --engine spark: local[N] (N cores) or a cluster's"),
    ] = "local[*]",
) -> None:
    """Rank users by message count into OUTPUT/pipeline_result.csv."""
    import asyncio

    from tempo.core.cli.progress import stages
    from tempo.core.sources import is_url

    with one_line_errors(), stages(log=False) as progress:
        if engine is Engine.spark:
            from tempo.pipeline.spark_engine import aggregate_on_spark
            from tempo.pipeline.spark_job import summary_line

            spark_summary = aggregate_on_spark(
                messages_path,
                users_path,
                output_path,
                master=master,
                progress=progress,
                allow_empty=allow_empty,
            )
            typer.echo(summary_line(spark_summary))
            return
        if any(is_url(location) for location in (messages_path, users_path, output_path)):
            from tempo.pipeline.cli import aggregate_anywhere

            summary = asyncio.run(
                aggregate_anywhere(
                    messages_path, users_path, output_path, progress, allow_empty=allow_empty
                )
            )
        else:
            from tempo.pipeline.aggregate import aggregate as run_aggregate

            summary = run_aggregate(
                Path(messages_path),
                Path(users_path),
                Path(output_path),
                progress=progress,
                allow_empty=allow_empty,
            )
    typer.echo(summary.line())


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
    from tempo.core.cli.progress import Stage, stages
    from tempo.pipeline.cli import feed_anywhere

    settings = command_settings(database_url=database_url)

    async def run(progress: Stage) -> str:
        return (await feed_anywhere(settings, csv_path, progress, allow_empty=allow_empty)).line()

    with stages(log=False) as progress:
        line = run_with_database(run(progress))
    typer.echo(line)


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
    from tempo.core.cli.progress import counted
    from tempo.pipeline.sample import write_messages, write_users

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
