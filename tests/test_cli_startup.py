"""`tempo --help` stays instant: it imports none of the heavy libraries a command needs.

Checked by what a fresh interpreter has imported, not by a stopwatch: a timing would fail
on a busy machine and pass on a fast one, while one stray module-level `import polars`
(0.3 s) shows up here on every machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer.main

from tempo.cli import app

# Each costs from tens of milliseconds (httpx, structlog) to a third of a second (polars).
HEAVY = (
    "polars", "pyarrow", "numpy", "sqlalchemy", "sqlmodel", "asyncpg", "fastapi",
    "starlette", "uvicorn", "granian", "matplotlib", "deltalake", "httpx", "obstore",
    "pydantic_settings", "structlog", "alembic", "openpyxl", "rich", "tempo.core.settings",
    "tempo.app", "tempo.core.db", "tempo.core.csv_input", "tempo.core.sources",
    "tempo.schedule.schemas", "tempo.analytics.schemas", "tempo.catalog.schemas",
    "tempo.leaderboard.schemas",
)  # fmt: skip

# Runs `tempo <args> --help` for every command in one interpreter, then reports what it
# imported: the union of all of them must stay light, so each one does.
PROBE = """
import io, json, sys
from contextlib import redirect_stdout
from tempo.cli import main

commands = json.loads(sys.argv[1])
outputs, codes = [], []
for args in commands:
    sys.argv = ["tempo", *args, "--help"]
    buffer = io.StringIO()
    try:
        with redirect_stdout(buffer):
            main()
        codes.append(None)
    except SystemExit as exc:
        codes.append(exc.code)
    outputs.append(buffer.getvalue())
print(json.dumps({"codes": codes, "outputs": outputs, "modules": sorted(sys.modules)}))
"""


def command_paths() -> list[list[str]]:
    def walk(command: Any, prefix: list[str]) -> Iterator[list[str]]:
        yield prefix
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*prefix, name])

    return list(walk(typer.main.get_command(app), []))


def heavy(modules: list[str], also: tuple[str, ...] = ()) -> list[str]:
    names = (*HEAVY, *also)
    return [m for m in modules if any(m == h or m.startswith(f"{h}.") for h in names)]


def test_every_help_imports_no_heavy_module() -> None:
    paths = command_paths()
    expected = [
        ["aggregate"], ["feed"], ["pipeline", "run"], ["pipeline", "runs"], ["serve"],
        ["migrate"], ["sample"], ["schedule"], ["catalog", "load"], ["analyze", "spotify"],
        ["etl", "majors"], ["etl", "people"],
    ]  # fmt: skip
    assert all(path in paths for path in expected), paths

    probe = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(paths)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    report = json.loads(probe.stdout.splitlines()[-1])
    assert report["codes"] == [0] * len(paths), probe.stderr
    for path, output in zip(paths, report["outputs"], strict=True):
        assert output.startswith(f"Usage: tempo {' '.join(path)}".rstrip()), (path, output)
    assert "tempo.cli" in report["modules"]
    assert heavy(report["modules"]) == []


def test_the_installed_command_imports_no_heavy_module() -> None:
    # The console script itself, with `-X importtime` listing every module it imports.
    tempo = Path(sys.executable).with_name("tempo")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(tempo), "--help"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "aggregate" in result.stdout
    imported = [
        line.split("|")[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    ]
    assert "tempo.cli" in imported and "typer" in imported
    # Nor pydantic: typer 0.29 imports it to coerce a sub-command's parameters (a group's
    # unset --help flag goes through a TypeAdapter), but `tempo --help` has no sub-command.
    assert heavy(imported, also=("pydantic", "pydantic_core")) == []
