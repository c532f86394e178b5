"""The README's shell examples, run as written against a served Tempo.

Every ```sh block of README.md runs with bash, in order, from the root of a copy of the
repository's files (what a fresh clone holds), against `tempo serve` on a free port with a
database of its own. `uv run CMD` runs CMD from the installed environment, through a `uv`
on PATH that does only that. A block preceded by `<!-- readme-test: skip (reason) -->` is
left out; the reason must be there, and the block must need something this machine lacks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.processes import find_uv, tempo_serve

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_BASE = "http://127.0.0.1:8000"
FENCE = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
SKIP = re.compile(r"<!-- readme-test: skip \(([^)]+)\) -->\n\Z")
# Only these may justify a skip: the rest of the README must run here.
NEEDS_ELSEWHERE = re.compile(
    r"^(make|docker|spark-submit|databricks) |s3://|example\.org", re.MULTILINE
)
STATUS = re.compile(r"^readme-test: HTTP (\d{3})$", re.MULTILINE)

# Each curl also reports its HTTP status (on stderr), and an error status fails the block.
PRELUDE = """\
curl() {
  command curl --fail-with-body --show-error \\
    --write-out '%{stderr}readme-test: HTTP %{http_code}\\n' "$@"
}
"""
# `uv run …` as written: the entry points are installed already, so run the command itself.
UV_SHIM = """\
#!/bin/sh
if [ "$1" != run ]; then
  echo "readme-test: only 'uv run' is available here, not 'uv $1'" >&2
  exit 2
fi
shift
exec "$@"
"""


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    code: str
    skip: str | None

    def __str__(self) -> str:
        return f"README.md:{self.line}"


def readme_blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        skip = SKIP.search(text, 0, match.start())
        blocks.append(
            Block(
                line=text.count("\n", 0, match.start()) + 1,
                code=match.group(1),
                skip=skip.group(1) if skip else None,
            )
        )
    return blocks


def commands(code: str, name: str) -> int:
    """How many commands of the block start with `name` (continuation lines excluded)."""
    return len(re.findall(rf"^{re.escape(name)} ", code, re.MULTILINE))


def test_the_readme_has_runnable_examples_and_few_justified_skips() -> None:
    blocks = readme_blocks()
    runnable = [b for b in blocks if b.skip is None]
    text = "\n".join(b.code for b in runnable)
    for command in ("aggregate", "feed", "schedule", "etl people", "etl majors",
                    "catalog load", "analyze spotify"):  # fmt: skip
        assert f"uv run tempo {command} " in text or f"uv run tempo {command}\n" in text
    for block in blocks:
        if block.skip is not None:
            assert NEEDS_ELSEWHERE.search(block.code), f"{block} is skipped but runs here"
    assert len(blocks) - len(runnable) <= 7


def test_the_readme_says_where_make_put_uv() -> None:
    # The examples run `uv run …`; without uv on PATH, `make` bootstrapped its own copy, and a
    # newcomer who is not told where it is gets "uv: command not found".
    bootstrap = re.search(r"^BOOTSTRAP_UV := (\S+)/uv$", (ROOT / "Makefile").read_text(), re.M)
    assert bootstrap is not None
    text = README.read_text(encoding="utf-8")
    assert f'`export PATH="$PWD/{bootstrap.group(1)}:$PATH"`' in text


def test_uv_run_keeps_to_the_runtime_packages_make_run_installed() -> None:
    # The README's examples are `uv run tempo …` right after `make run`, which installed the
    # runtime packages only: what uv syncs by default must not pull in the dev group.
    def synced(*groups: str) -> str:
        command = [str(find_uv()), "export", "--locked", "--no-hashes", "--offline", *groups]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    by_default = synced()
    assert "fastapi==" in by_default and "polars==" in by_default
    for dev_only in ("pytest==", "ruff==", "locust==", "playwright==", "checkov=="):
        assert dev_only not in by_default
        assert dev_only in synced("--group", "dev")
    # …and `make install`, which the tests and linters need, asks for the dev group.
    install = re.search(r"^install:.*\n\t(.*)$", (ROOT / "Makefile").read_text(), re.M)
    assert install is not None and "--group dev" in install.group(1)


def test_day_json_is_the_body_of_the_readmes_schedule_example() -> None:
    (block,) = [b for b in readme_blocks() if "tempo schedule samples/day.json" in b.code]
    body = re.search(r"-d '(\{.*?\})'", block.code, re.DOTALL)
    assert body is not None
    assert json.loads((ROOT / "samples" / "day.json").read_text()) == json.loads(body.group(1))


def copy_of_the_repository(target: Path) -> Path:
    """The repository's files (tracked, or new and not ignored), as a fresh clone has them."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    for name in filter(None, listing.split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted in the work tree is not part of the next commit
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def uv_shim(folder: Path) -> Path:
    folder.mkdir()
    shim = folder / "uv"
    shim.write_text(UV_SHIM)
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return folder


@pytest.mark.slow
def test_every_readme_example_runs_as_written(database_url: str, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.fail("the README's examples use curl: install it (apt-get install curl)")
    clone = copy_of_the_repository(tmp_path / "tempo")
    shims = uv_shim(tmp_path / "bin")
    # Tempo's defaults, stated: whatever this shell has set must not leak into the examples.
    settings = {
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "development",
        "API_TOKEN": "change-me",
        "DATA_DIR": "data",
        "DELTA_DIR": ".tempo/delta",
        "SPOTIFY_SOURCE": "",
        "PII_HMAC_KEY": "change-me-pii",
    }
    path = os.pathsep.join([str(shims), str(Path(sys.executable).parent), os.environ["PATH"]])
    blocks = [b for b in readme_blocks() if b.skip is None]
    with tempo_serve(database_url, clone, **settings) as base:
        env = os.environ | settings | {"PATH": path}
        outputs = {}
        for block in blocks:
            code = block.code.replace(README_BASE, base)
            result = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", PRELUDE + code],
                cwd=clone, env=env, capture_output=True, text=True, timeout=300,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
            report = f"{block} failed:\n{block.code}\n--- stdout\n{result.stdout[-3000:]}"
            report += f"\n--- stderr\n{result.stderr[-3000:]}"
            assert result.returncode == 0, report
            statuses = STATUS.findall(result.stderr)
            assert len(statuses) == commands(block.code, "curl"), report
            assert all(s.startswith("2") for s in statuses), report
            outputs[block.line] = result.stdout

    # What the README says the leaderboard answers is what it answered.
    text = README.read_text(encoding="utf-8")
    example = re.search(r'\{"leaderboard":\[(\{[^}]*\})', text)
    assert example is not None
    leaderboard = next(out for out in outputs.values() if '{"leaderboard":' in out)
    assert example.group(1) in leaderboard
    # What the README says the bundled model answers for samples/digit-3.png is what it did.
    classified = re.search(r'^\{"model":\{"name":"digits".*\}$', text, re.MULTILINE)
    assert classified is not None
    assert any(classified.group(0) in out for out in outputs.values())
    # The files the examples write.
    assert (clone / "data" / "pipeline_result.csv").is_file()
    assert (clone / "day.ics").read_text().startswith("BEGIN:VCALENDAR")
    assert (clone / "genres.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
