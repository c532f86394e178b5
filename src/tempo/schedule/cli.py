"""`tempo schedule`: plan a day from a JSON request, as a table or as .ics (light to import:
see tempo.core.cli.support)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tempo.core.cli.options import DatabaseUrlOption
from tempo.core.cli.support import cli_engine, command_settings, fail, run_with_database

if TYPE_CHECKING:
    from tempo.schedule.schemas import SchedulePlan


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
    from tempo.schedule.schemas import ScheduleRequest
    from tempo.schedule.service import needs_catalog, plan_day
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
        settings = command_settings(database_url=database_url)
        async with cli_engine(settings) as engine, AsyncSession(engine) as session:
            return await plan_day(request, session)

    plan = run_with_database(run())
    if ics:
        sys.stdout.write(to_ics(plan, request.date or dt.date.today()).decode())
    else:
        typer.echo(format_plan(plan))
