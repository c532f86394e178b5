"""Reading the Spotify songs CSV with Polars: the real file, and hand-made nasty ones."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tempo.catalog import pipeline as p
from tempo.catalog.normalize import escape_like, normalize_expr, normalize_text
from tempo.catalog.pipeline import read_catalog
from tempo.core.csv_input import CsvError, RowProblem
from tests.fixtures.catalog import HEADER, read_rows, reference_tracks, song, songs_csv, spotify_csv
from tests.fixtures.files import write


def test_the_real_spotify_file_is_there() -> None:
    assert spotify_csv().stat().st_size > 0


def test_the_real_file_gives_one_row_per_track() -> None:
    path = spotify_csv()
    rows = read_rows(path)
    expected = reference_tracks(path)
    # What samples/SOURCES.md says about the file, checked with the csv module.
    assert len(rows) == 32833 and len(expected) == 28356
    for column in ("track_name", "track_artist", "track_album_name"):
        assert sum(r[column] == "NA" for r in rows) == 5
    lengths = Counter(len(r["track_album_release_date"]) for r in rows)
    assert lengths == {10: 30947, 4: 1855, 7: 31}
    assert len({r["playlist_genre"] for r in rows}) == 6

    result = read_catalog(path)
    assert result.rows_read == len(rows)
    assert result.rejected == {} and result.examples == ()
    tracks = result.tracks
    assert tracks.height == len(expected) and tracks["track_id"].is_unique().all()
    assert tuple(tracks.columns) == p.TRACK_COLUMNS

    for column, source in (("name", "track_name"), ("artist", "track_artist"),
                           ("album_name", "track_album_name")):  # fmt: skip
        nulls = set(tracks.filter(pl.col(column).is_null())["track_id"])
        assert nulls == {t for t, e in expected.items() if e[column] is None}
        # The 5 NA rows are 4 distinct tracks, each NA in the row the catalog keeps.
        assert nulls == {r["track_id"] for r in rows if r[source] == "NA"}
        assert len(nulls) == 4

    precisions = Counter(tracks["release_precision"].to_list())
    assert precisions == Counter(e["release_precision"] for e in expected.values())
    assert set(precisions) == {"day", "month", "year"}

    by_id = {row["track_id"]: row for row in tracks.iter_rows(named=True)}
    dance_monkey = by_id["5ZULALImTm80tzUbYQYM9d"]
    assert dance_monkey["genres"] == expected["5ZULALImTm80tzUbYQYM9d"]["genres"]
    assert dance_monkey["genres"] == ["latin", "pop", "r&b"]
    several = {t for t, e in expected.items() if len(e["genres"]) > 1}
    assert len(several) > 1000
    assert {t for t, row in by_id.items() if len(row["genres"]) > 1} == several
    assert all(by_id[t]["genres"] == expected[t]["genres"] for t in several)


def test_bom_crlf_quoted_commas_quotes_and_newlines(tmp_path: Path) -> None:
    rows = [
        song(track_id="a", track_name='Hello, "World"', track_artist="Crème, Brûlée & Co"),
        song(track_id="b", track_name="Two\r\nlines", track_artist="  Padded  "),
    ]
    path = songs_csv(tmp_path / "s.csv", rows, bom=True, newline="\r\n")
    result = read_catalog(path)
    assert result.rows_read == 2 and result.rejected == {}
    got = {r["track_id"]: r for r in result.tracks.iter_rows(named=True)}
    assert got["a"]["name"] == 'Hello, "World"'
    assert got["a"]["artist"] == "Crème, Brûlée & Co"
    assert got["a"]["search_text"] == 'hello, "world" creme, brulee & co'
    assert got["b"]["name"] == "Two\r\nlines" and got["b"]["artist"] == "Padded"
    assert got["b"]["search_text"] == "two lines padded"


def test_bad_rows_are_rejected_with_reasons_and_the_rest_is_kept(tmp_path: Path) -> None:
    rows = [
        song(track_id="ok1"),
        song(track_id="NA"),
        song(track_id=""),
        song(track_id="neg", duration_ms="-5", track_popularity="500"),  # counted once
        song(track_id="dna", duration_ms="NA"),
        song(track_id="dfl", duration_ms="3.5"),
        song(track_id="p101", track_popularity="101"),
        song(track_id="pword", track_popularity="high"),
        song(track_id="d13", track_album_release_date="2019-13-01"),
        song(track_id="d0230", track_album_release_date="2019-02-30"),
        song(track_id="dslash", track_album_release_date="14/06/2019"),
        song(track_id="d0000", track_album_release_date="0000"),
        song(track_id="energy", energy="loud"),
        song(track_id="tempo", tempo="inf"),
        song(track_id="key12", key="12"),
        song(track_id="mode2", mode="2"),
        song(track_id="nul", track_name="bad\x00name"),
        song(track_id="ok2", energy="NA", key="-1", track_album_release_date="2019-07"),
        song(track_id="ok3", track_album_release_date="2019", duration_ms=" 1000 "),
        song(track_id="ok4", track_album_release_date="NA", danceability="2.33e-5"),
    ]
    result = read_catalog(songs_csv(tmp_path / "s.csv", rows))
    assert result.rows_read == 20
    assert result.rejected == {
        p.BAD_RELEASE_DATE: 4,
        p.MISSING_TRACK_ID: 2,
        p.BAD_DURATION: 3,
        p.BAD_POPULARITY: 2,
        p.BAD_FEATURE: 2,
        p.BAD_KEY: 1,
        p.BAD_MODE: 1,
        p.NUL_CHARACTER: 1,
    }
    assert list(result.rejected)[0] == p.BAD_RELEASE_DATE  # most frequent first
    assert result.rejected_rows == 16
    assert sorted(result.tracks["track_id"]) == ["ok1", "ok2", "ok3", "ok4"]

    examples = {(e.row, e.column): e for e in result.examples}
    assert examples[(4, "duration_ms")] == RowProblem(4, p.BAD_DURATION, "duration_ms", "-5")
    assert examples[(2, "track_id")].value == "NA"
    assert examples[(3, "track_id")].value is None
    assert examples[(9, "track_album_release_date")].value == "2019-13-01"
    assert examples[(13, "energy")].reason == p.BAD_FEATURE
    assert examples[(17, "track_name")].reason == p.NUL_CHARACTER
    assert len([e for e in result.examples if e.reason == p.BAD_RELEASE_DATE]) == 3
    assert [e.row for e in result.examples] == sorted(e.row for e in result.examples)
    assert examples[(4, "duration_ms")].describe() == (
        "row 4, column 'duration_ms': duration_ms is not a positive integer (value '-5')"
    )

    got = {r["track_id"]: r for r in result.tracks.iter_rows(named=True)}
    assert (got["ok2"]["release_date"], got["ok2"]["release_precision"]) == (
        date(2019, 7, 1), "month",
    )  # fmt: skip
    assert got["ok2"]["energy"] is None and got["ok2"]["key"] == -1
    assert (got["ok3"]["release_date"], got["ok3"]["release_precision"]) == (
        date(2019, 1, 1), "year",
    )  # fmt: skip
    assert got["ok3"]["duration_ms"] == 1000
    assert got["ok4"]["release_date"] is None and got["ok4"]["release_precision"] is None
    assert got["ok4"]["danceability"] == 2.33e-5


def test_a_track_in_several_playlists_keeps_its_first_row_and_all_genres(tmp_path: Path) -> None:
    rows = [
        song(track_id="other", playlist_genre="edm"),
        song(track_id="x", track_name="First", track_popularity="10", playlist_genre="Pop"),
        song(track_id="x", track_name="Second", playlist_genre="rock",
             playlist_subgenre="hard rock"),
        song(track_id="x", track_name="Rejected", playlist_genre="latin", duration_ms="-1"),
        song(track_id="x", playlist_genre="pop", playlist_subgenre="Dance Pop"),
        song(track_id="x", playlist_genre="NA", playlist_subgenre="NA"),
    ]  # fmt: skip
    result = read_catalog(songs_csv(tmp_path / "s.csv", rows))
    assert result.rows_read == 6 and result.rejected == {p.BAD_DURATION: 1}
    assert result.tracks["track_id"].to_list() == ["other", "x"]
    x = result.tracks.row(1, named=True)
    assert x["name"] == "First" and x["popularity"] == 10
    assert x["genres"] == ["pop", "rock"]
    assert x["subgenres"] == ["dance pop", "hard rock"]


def test_the_same_file_always_gives_the_same_frame(tmp_path: Path) -> None:
    rows = [song(track_id=f"t{i % 37}", playlist_genre=f"g{i % 5}") for i in range(500)]
    path = songs_csv(tmp_path / "s.csv", rows)
    assert read_catalog(path).tracks.equals(read_catalog(path).tracks)


def test_a_blank_last_line_is_not_a_row(tmp_path: Path) -> None:
    path = songs_csv(tmp_path / "s.csv", [song(track_id="a"), song(track_id="b")])
    path.write_text(path.read_text() + "\n")
    result = read_catalog(path)
    assert result.rows_read == 2 and result.rejected == {}


@pytest.mark.parametrize(
    ("content", "message", "column", "row"),
    [
        ("", "the file is empty", None, None),
        (",".join(HEADER) + "\n", "no data rows", None, None),
        (
            ",".join(h for h in HEADER if h != "duration_ms") + "\nx\n",
            "missing column 'duration_ms'",
            "duration_ms",
            None,
        ),
        (
            "track_id,track_name\nx,y\n",
            "missing column 'track_artist', 'track_popularity', 'track_album_id', "
            "'track_album_name' and 15 more of the Spotify songs CSV; "
            "the header has 'track_id', 'track_name'",
            "track_artist",
            None,
        ),
        (
            ",".join(HEADER) + "\n" + ",".join(song().values()) + "\n"
            + ",".join(song().values()) + ",extra\n",
            "malformed CSV: 24 fields where the header has 23",
            None,
            2,
        ),
        (
            ",".join(HEADER) + "\n" + ",".join(song(duration_ms="0").values()) + "\n",
            "no usable rows: all 1 rows were rejected",
            "duration_ms",
            1,
        ),
        (
            ",".join(HEADER) + '\n"unclosed,' + ",".join(song().values()) + "\n",
            "malformed CSV",
            None,
            None,
        ),
    ],
)  # fmt: skip
def test_an_unusable_file_is_refused_whole(
    tmp_path: Path, content: str, message: str, column: str | None, row: int | None
) -> None:
    path = write(tmp_path / "songs.csv", content)
    with pytest.raises(CsvError) as caught:
        read_catalog(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))
    assert caught.value.problem.column == column
    if row is not None:
        assert caught.value.problem.row == row


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CsvError, match="nowhere.csv: file not found"):
        read_catalog(tmp_path / "nowhere.csv")


def test_progress_names_the_stages(tmp_path: Path) -> None:
    stages: list[str] = []
    read_catalog(songs_csv(tmp_path / "s.csv", [song()]), stages.append)
    assert [s.split()[0] for s in stages] == ["reading", "validating"]


# --- the normalisation shared by loading (Polars) and querying (Python) ---------------


def test_normalisation_strips_accents_case_and_extra_space() -> None:
    assert normalize_text("  Celébrate \t Miki   Núñez ") == "celebrate miki nunez"
    assert normalize_text("ＤＡＮＣＥ ﬁre İstanbul") == "dance fire istanbul"
    assert normalize_text(None) == "" and normalize_text("") == ""
    assert escape_like(r"100%_\x") == r"100\%\_\\x"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(st.characters(exclude_categories=["Cs", "Cn", "Co"])), max_size=40))
def test_polars_and_python_normalise_alike(values: list[str]) -> None:
    polars = pl.DataFrame({"v": values}, schema={"v": pl.String}).select(
        normalize_expr(pl.col("v"))
    )
    assert polars["v"].to_list() == [normalize_text(v) if v else v for v in values]
