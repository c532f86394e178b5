"""Progress of the long commands: drawn on a terminal, absent from pipes.

The terminal is a real pseudo-terminal (the `pty` module): the command's stderr is its
slave end, so `isatty()` is true as in an interactive shell, and what rich draws is read
back from the master end. stdout stays a pipe, as in `tempo aggregate … > summary.txt`, so
the test also sees that the summary line carries no drawing.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import tempfile
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tempo.catalog.demo import DEMO_TRACKS
from tests.fixtures.catalog import HEADER
from tests.fixtures.files import read_result, reference_ranking, write
from tests.fixtures.processes import TEMPO, tempo

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True)
class TerminalRun:
    returncode: int
    terminal: str  # everything drawn on the terminal (stderr), escape codes included
    stdout: str

    @property
    def text(self) -> str:
        """The terminal's text without escape codes, one string per redraw or line."""
        return ANSI.sub("", self.terminal)


def on_terminal(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> TerminalRun:
    primary, secondary = pty.openpty()
    # A known size, as a terminal window has one: rich lays the bar out to its width.
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NO_COLOR")}
    proc = subprocess.Popen(
        [TEMPO, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=secondary,
        env=base | {"TERM": "xterm-256color"} | (env or {}),
    )  # fmt: skip
    os.close(secondary)
    drawn = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 1)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not chunk:
                break
            drawn += chunk
        assert proc.stdout is not None
        stdout = proc.stdout.read().decode()
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(primary)
        if proc.poll() is None:
            proc.kill()
    return TerminalRun(proc.returncode, drawn.decode(errors="replace"), stdout)


def assert_plain(*outputs: str) -> None:
    for output in outputs:
        assert "\x1b" not in output and "\r" not in output, repr(output[:300])


@pytest.mark.slow
def test_in_a_pipe_nothing_is_drawn_and_the_output_is_unchanged(
    database_url: str, tmp_path: Path
) -> None:
    made = tempo("sample", str(tmp_path / "in"), "--messages", "1000000", "--users", "500")
    assert made.returncode == 0, made.stderr
    assert_plain(made.stdout, made.stderr)
    assert made.stdout == f"wrote 1,000,000 messages and 500 users to {tmp_path / 'in'}\n"
    assert made.stderr == "messages: 1,000,000/1,000,000 (100%)\n"

    messages, users = tmp_path / "in" / "messages.csv", tmp_path / "in" / "users.csv"
    ranked = tempo("aggregate", str(messages), str(users), str(tmp_path / "out"))
    assert ranked.returncode == 0, ranked.stderr
    assert_plain(ranked.stdout, ranked.stderr)
    assert ranked.stderr == ""
    assert ranked.stdout.startswith("read 1,000,500 rows (1,000,000 messages, 500 users)")
    assert len(ranked.stdout.splitlines()) == 1

    fed = tempo("feed", str(tmp_path / "out" / "pipeline_result.csv"), "--database-url",
                database_url)  # fmt: skip
    assert fed.returncode == 0, fed.stderr
    assert_plain(fed.stdout, fed.stderr)
    assert fed.stderr == "" and fed.stdout.startswith("fed 500 rows from ")

    loaded = tempo("catalog", "load", str(DEMO_TRACKS), "--database-url", database_url)
    assert loaded.returncode == 0, loaded.stderr
    assert_plain(loaded.stdout, loaded.stderr)
    assert [line.split()[0] for line in loaded.stderr.splitlines()] == [
        "reading", "validating", "loading",
    ]  # fmt: skip


def test_sample_draws_a_bar_on_a_terminal(tmp_path: Path) -> None:
    run = on_terminal("sample", str(tmp_path), "--messages", "2000000", "--users", "100")
    assert run.returncode == 0, run.text
    assert "writing messages.csv" in run.text
    assert "━" in run.text  # the bar itself
    assert "100%" in run.text and "2000000/2000000" in run.text
    # The plain lines are for pipes only, and the summary stays on stdout, undrawn.
    assert "messages: " not in run.text
    assert run.stdout == f"wrote 2,000,000 messages and 100 users to {tmp_path}\n"
    assert sum(1 for _ in (tmp_path / "messages.csv").open("rb")) > 2_000_000


@pytest.fixture
def short_tmp_path() -> Iterator[Path]:
    """A folder whose path a drawn stage shows whole: rich cuts a long description (as
    tmp_path is under an xdist worker's popen-gwN/) at the width it finds."""
    with tempfile.TemporaryDirectory(prefix="tempo-") as folder:
        yield Path(folder)


def test_aggregate_and_feed_show_their_stages_on_a_terminal(
    database_url: str, sample_dir: Path, short_tmp_path: Path
) -> None:
    messages, users = sample_dir / "messages.csv", sample_dir / "users.csv"
    out = short_tmp_path
    ranked = on_terminal("aggregate", str(messages), str(users), str(out))
    assert ranked.returncode == 0, ranked.text
    # The last stage is always drawn, however fast the run: rich redraws once as it stops.
    assert f"writing {out / 'pipeline_result.csv'}" in ranked.text
    assert ranked.stdout.startswith("read ") and len(ranked.stdout.splitlines()) == 1
    assert_plain(ranked.stdout)
    assert read_result(out / "pipeline_result.csv") == reference_ranking(messages, users)

    fed = on_terminal("feed", str(out / "pipeline_result.csv"), "--database-url",
                      database_url)  # fmt: skip
    assert fed.returncode == 0, fed.text
    assert "loading 10 rows (COPY) and swapping them in" in fed.text
    assert fed.stdout.startswith("fed 10 rows from ")
    assert_plain(fed.stdout)


def test_catalog_load_keeps_each_finished_stage_on_a_terminal(
    database_url: str, tmp_path: Path
) -> None:
    loaded = on_terminal("catalog", "load", str(DEMO_TRACKS), "--database-url", database_url)
    assert loaded.returncode == 0, loaded.text
    done = [line for line in loaded.text.replace("\r", "\n").splitlines() if "✓" in line]
    assert [line.split()[1] for line in done] == ["reading", "validating", "loading"]
    assert all(re.search(r"\(\d+\.\d s\)$", line.rstrip()) for line in done), done
    assert loaded.stdout.startswith("read ") and loaded.stdout.rstrip().endswith("catalog load #1")

    # A failure: the display is taken down first, so the error line is drawn on its own
    # and nothing redraws over it.
    bad = write(tmp_path / "bad.csv", ",".join(HEADER[:-1]) + "\n" + "x," * 21 + "x\n")
    failed = on_terminal("catalog", "load", str(bad), "--database-url", database_url)
    assert failed.returncode == 1
    after = failed.terminal.rsplit("error: ", 1)[1]
    assert "missing column 'duration_ms'" in after
    assert "\r" not in after.rstrip("\r\n") and "\x1b[2K" not in after


def test_ctrl_c_takes_the_display_down_and_says_so_on_one_line(tmp_path: Path) -> None:
    """Ctrl-C while the bar is drawn: exit 130, the cursor shown again, one error line."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NO_COLOR")}
    # Far more messages than it can write before the signal: the command is stopped mid-bar.
    proc = subprocess.Popen(
        [TEMPO, "sample", str(tmp_path / "out"), "--messages", "200000000"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=secondary,
        env=base | {"TERM": "xterm-256color"},
    )  # fmt: skip
    os.close(secondary)
    drawn, sent = bytearray(), None
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                drawn += chunk
            if sent is None and b"messages" in drawn:  # the bar is on screen
                proc.send_signal(signal.SIGINT)
                sent = time.monotonic()
            if proc.poll() is not None and not ready:
                break
        assert proc.stdout is not None
        stdout = proc.stdout.read().decode()
        proc.wait(timeout=30)
    finally:
        os.close(primary)
        if proc.poll() is None:
            proc.kill()
    assert sent is not None, drawn.decode(errors="replace")
    assert proc.returncode == 130
    assert stdout == ""  # no summary: nothing was finished
    terminal = drawn.decode(errors="replace")
    # rich hid the cursor for the bar; it is shown again before the command says why it stopped.
    assert terminal.rindex("\x1b[?25h") > terminal.rindex("\x1b[?25l")
    lines = [line for line in ANSI.sub("", terminal.split("\x1b[?25h")[-1]).splitlines() if line]
    assert lines == ["error: interrupted"]
