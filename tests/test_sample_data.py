"""The data Tempo ships: what SOURCES.md says about it, its shape, and self-sufficiency."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import runpy
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tempo.bundled import BUNDLED_DIR
from tests.fixtures.app import SAMPLE_DIR
from tests.fixtures.files import reference_ranking

ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = ROOT / "samples"
SOURCES = [BUNDLED_DIR / "SOURCES.md", SAMPLES_DIR / "SOURCES.md"]


def git_blob(data: bytes) -> str:
    """`git hash-object`: what a source repository's tree names the same bytes by."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def listed_files(sources: Path) -> list[tuple[str, dict[str, str]]]:
    """The rows of the SOURCES.md table: (first cell, {column: value})."""
    lines = [line for line in sources.read_text().splitlines() if line.startswith("|")]
    head = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = []
    for line in lines[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append((cells[0], dict(zip(head, cells, strict=True))))
    return rows


@pytest.mark.parametrize("sources", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_file_matches_its_sources_md(sources: Path) -> None:
    rows = listed_files(sources)
    checked = set()
    for first, row in rows:
        name = re.fullmatch(r"`([^`]+)`( gunzipped)?", first)
        assert name, f"{sources}: a row must start with a `file` name: {first!r}"
        data = (sources.parent / name[1]).read_bytes()
        if name[2]:
            data = gzip.decompress(data)
        assert len(data) == int(row["bytes"]), first
        assert hashlib.sha256(data).hexdigest() == row["sha256"], first
        assert git_blob(data) == row["git blob"], first
        assert row["origin"] and row["licence"], first
        checked.add(name[1])
    # Every data file beside SOURCES.md is listed (code and SOURCES.md itself are not data).
    beside = {
        p.name
        for p in sources.parent.iterdir()
        if p.is_file() and p.suffix not in (".py", ".md", ".pyc")
    }
    assert beside == checked


def test_the_spotify_sample_is_the_published_file() -> None:
    # The upstream checksums, as the TidyTuesday repository's tree has them.
    data = gzip.decompress((SAMPLES_DIR / "spotify_songs.csv.gz").read_bytes())
    assert git_blob(data) == "ee61502c75c7e9a3c68ecf689a9604c834d02139"
    assert hashlib.sha256(data).hexdigest() == (
        "9902920cfe4940f0914ebb6716801a42f7f19ac88fbd6693eaae7e2822b16845"
    )


def test_the_majors_file_is_fivethirtyeights() -> None:
    data = (BUNDLED_DIR / "women-stem.csv").read_bytes()
    assert git_blob(data) == "c4b3a95d8749660418bb3bfd07e49c57fee500b6"


def test_tempos_own_samples_are_what_make_samples_writes() -> None:
    script = runpy.run_path(str(SAMPLES_DIR / "make_samples.py"))
    files = script["expected_files"]()
    assert {p.name for p in files} == {"messages.csv", "users.csv", "people.xlsx", "people.csv"}
    for path, data in files.items():
        assert path.read_bytes() == data, f"{path} differs: run samples/make_samples.py"
    # The script is deterministic: a second run writes the very same bytes.
    assert script["expected_files"]() == files
    assert script["main"](["--check"]) == 0


def test_the_leaderboard_sample_has_the_quirks_it_stands_for() -> None:
    messages = (SAMPLE_DIR / "messages.csv").read_bytes()
    users = (SAMPLE_DIR / "users.csv").read_bytes()
    assert messages.startswith(b"message_id,author_id,received_at,content\r\n")
    assert messages.endswith(b"\r\n") and b"\n" not in messages.replace(b"\r\n", b"")
    assert users.startswith(b"user_id,first_name,last_name\r\n")
    assert not users.endswith(b"\n") and b"\n" not in users.replace(b"\r\n", b"")

    records = list(csv.reader(io.StringIO(messages.decode("ascii"), newline="")))[1:]
    assert [int(r[0]) for r in records] == list(range(10))
    multi_line = [r[3] for r in records if "\r\n" in r[3]]
    assert len(multi_line) == 3 and messages.count(b'"') == 6
    assert Counter(int(r[1]) for r in records) == {1: 2, 2: 2, 8: 2, 3: 1, 4: 1, 7: 1, 9: 1}
    ids = [int(r[0]) for r in list(csv.reader(io.StringIO(users.decode("ascii"))))[1:]]
    assert ids == list(range(10))


def test_the_leaderboard_sample_ranks_as_the_readme_says() -> None:
    ranking = reference_ranking(SAMPLE_DIR / "messages.csv", SAMPLE_DIR / "users.csv")
    by_rank: dict[int, list[int]] = {}
    for rank, user_id, name, _ in ranking:
        by_rank.setdefault(rank, []).append(user_id)
        assert name
    assert by_rank == {1: [1, 2, 8], 4: [3, 4, 7, 9], 8: [0, 5, 6]}


def test_the_people_sample_has_good_and_bad_rows() -> None:
    from tempo.people.service import read_people

    people = read_people(SAMPLES_DIR / "people.xlsx", "hmac", b"sample-key")
    from_csv = read_people(SAMPLES_DIR / "people.csv", "hmac", b"sample-key")
    assert people.people.to_dicts() == from_csv.people.to_dicts()
    assert (people.rows_read, people.people.height, people.error_rows) == (12, 8, 4)
    assert people.people["is_public_ip"].sum() == 4


def tracked_files() -> list[Path]:
    """The repository's files: tracked, or new and not ignored (about to be committed)."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    return [ROOT / name for name in listing.split("\0") if name]


# A checkout stands alone: nothing may point at data beside it. (Spelled in pieces so that
# this file does not match itself.)
SHARED = "sha" + "red"
OUTSIDE = re.compile("|".join([f"{SHARED}/data", rf"\.\./{SHARED}", f"[\"']{SHARED}[\"']"]))


def test_nothing_refers_to_data_outside_the_repository() -> None:
    files = tracked_files()
    assert ROOT / "README.md" in files and ROOT / "samples" / "SOURCES.md" in files
    found = []
    for path in files:
        if not path.is_file():  # deleted in the work tree, not yet committed
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary data
        for number, line in enumerate(text.splitlines(), start=1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
