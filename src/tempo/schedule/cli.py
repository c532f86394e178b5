"""`tempo schedule`: plan a day from a JSON request, as a table or as .ics (light to import:
see tempo.core.cli.support)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tempo.core.cli.options import DatabaseUrlOption
from tempo.core.cli.support import cli_engine, command_settings, fail, run_with_database

if TYPE_CHECKING:
    from tempo.schedule.schemas import SchedulePlan


def schedule(
    file: Annotated[
        str | None,
        typer.Argument(
            metavar="FILE.json|-",
            help="A POST /schedule request body; - = stdin. Optional with --calendar",
        ),
    ] = None,
    calendar: Annotated[
        Path | None,
        typer.Option(
            "--calendar",
            metavar="FILE.ics",
            help="The day's calendar (iCalendar): its events on the date become appointments",
        ),
    ] = None,  # fmt: skip
    timezone: Annotated[
        str | None,
        typer.Option(
            "--timezone",
            metavar="ZONE",
            help="IANA zone for the calendar's times (default: its X-WR-TIMEZONE, else UTC)",
        ),
    ] = None,  # fmt: skip
    date: Annotated[
        str | None,
        typer.Option("--date", metavar="YYYY-MM-DD", help="The day planned (over the file's)"),
    ] = None,
    ics: Annotated[bool, typer.Option("--ics", help="Print an iCalendar file instead")] = False,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Plan a day from a JSON request (and the day's calendar) and print it as a table (or as
    .ics)."""
    import datetime as dt
    import json

    from pydantic import ValidationError
    from sqlmodel.ext.asyncio.session import AsyncSession

    from tempo.schedule.ics import to_ics
    from tempo.schedule.schemas import ScheduleRequest
    from tempo.schedule.service import needs_catalog, plan_day
    from tempo.schedule.text import format_plan

    if file is None and calendar is None:
        fail("give a request (FILE.json, or - for stdin), a --calendar, or both")
    try:
        if file is None:
            raw = "{}"
        else:
            raw = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{file}: cannot read the file: {exc.strerror or exc}")
    # What the options give goes over the file's own fields, as JSON, so that the same
    # validation names them.
    overrides: dict[str, str] = {}
    if calendar is not None:
        try:
            overrides["calendar"] = calendar.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 ({exc.reason})"
            fail(f"{calendar}: cannot read the calendar: {reason or exc}")
    if timezone is not None:
        overrides["timezone"] = timezone
    if date is not None:
        overrides["date"] = date
    name = file or str(calendar)
    try:
        if overrides:
            parsed = json.loads(raw)
            if not isinstance(parsed, dict):
                fail(f"{name}: invalid request: request: a JSON object is needed")
            raw = json.dumps(parsed | overrides)
        request = ScheduleRequest.model_validate_json(raw)
    except json.JSONDecodeError as exc:
        fail(f"{file}: not valid JSON: {exc}")
    except ValidationError as exc:
        errors = exc.errors()
        if errors[0]["type"] == "json_invalid":
            fail(f"{file}: not valid JSON: {errors[0]['ctx']['error']}")
        # A field an option set is named as the option, not as the file's.
        options = {field: f"--{field}" for field in overrides if field != "calendar"}

        def field(err: Any) -> str:
            dotted = ".".join(str(p) for p in err["loc"]) or "request"
            return options.get(dotted, dotted)

        def said(err: Any) -> str:
            return str(err["msg"]).removeprefix("Value error, ")

        problems = "; ".join(f"{field(err)}: {said(err)}" for err in errors)
        if all(field(err) in options.values() for err in errors):
            fail(f"invalid option: {problems}")
        fail(f"{name}: invalid request: {problems}")

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
