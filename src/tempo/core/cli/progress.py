"""Progress for the commands that can run long: drawn on a terminal, silent in a pipe.

On a terminal (stderr is a TTY), rich draws on stderr a bar where the amount of work is
known (`tempo sample`) and a spinner with the name of the running stage where it is not (a
Polars streaming aggregation says nothing until it is done). In a pipe, a CI log or a file
there is no bar and no control character: a command prints its stage lines as plain text
if it always did (catalog load, etl), and nothing otherwise. The summary lines stay on
stdout either way; only stderr carries progress.

rich is imported only on a terminal, when a command runs: `tempo --help` never pays for it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from rich.progress import Progress, ProgressColumn

Stage = Callable[[str], None]  # called with the name of the stage that starts
Count = Callable[[int, int], None]  # called with (done, total)

# Redraws per second: enough to look alive, too few to cost anything measurable.
REFRESH_PER_SECOND = 8

# The display on screen, if any: an error line must not be drawn over by it (see clear()).
_showing: list[Progress] = []


def clear() -> None:
    """Take the progress display off the screen, so that an error line printed next stands
    on its own line instead of being overdrawn by the next redraw."""
    while _showing:
        _showing.pop().stop()


def on_terminal() -> bool:
    """Whether stderr is a terminal that can redraw a line (not a pipe, not TERM=dumb)."""
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


@contextmanager
def stages(*, log: bool) -> Iterator[Stage]:
    """A callback that names each stage as it starts.

    With `log`, every stage is also a line: on a terminal each finished stage stays on
    screen with its duration, in a pipe each stage is a plain line as it starts. Without
    it, a terminal shows only the spinner of the running stage and a pipe shows nothing.
    The display is gone when the block ends, before the command prints its summary.
    """
    if not on_terminal():
        yield (lambda stage: typer.echo(stage, err=True)) if log else (lambda _: None)
        return

    from rich.markup import escape
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = _progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    task = progress.add_task("starting", total=None)
    running: list[tuple[str, float]] = []  # the stage on screen and when it started

    def finish_running() -> None:
        if running:
            name, started = running.pop()
            if log:
                seconds = time.perf_counter() - started
                progress.console.print(f"[green]✓[/] {escape(name)} [dim]({seconds:.1f} s)[/]")

    def start(stage: str) -> None:
        finish_running()
        running.append((stage, time.perf_counter()))
        progress.update(task, description=escape(stage))

    with _shown(progress):
        yield start
        # Only a stage that ended well is marked done; a failure's own line says the rest.
        finish_running()


@contextmanager
def counted(description: str, total: int, *, plain: Count | None = None) -> Iterator[Count | None]:
    """A callback that moves a bar of `total` steps, on a terminal; elsewhere `plain`."""
    if not on_terminal():
        yield plain
        return

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = _progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    task = progress.add_task(description, total=total)

    def advance(done: int, of: int) -> None:
        progress.update(task, completed=done, total=of)

    with _shown(progress):
        yield advance


@contextmanager
def _shown(progress: Progress) -> Iterator[None]:
    _showing.append(progress)
    try:
        # Started inside the try, not by `with progress`: a Ctrl-C that lands while the first
        # frame is drawn interrupts start() after rich has hidden the cursor, and a `with`
        # whose __enter__ raised never calls stop() to show it again.
        progress.start()
        yield
    finally:
        if progress in _showing:
            _showing.remove(progress)
        progress.stop()


def _progress(*columns: ProgressColumn) -> Progress:
    from rich.console import Console
    from rich.progress import Progress

    return Progress(
        *columns,
        console=Console(stderr=True, highlight=False),
        transient=True,  # the summary follows on a clean screen
        refresh_per_second=REFRESH_PER_SECOND,
        # stdout is the command's result (tests and scripts parse it): leave it alone.
        redirect_stdout=False,
    )
