"""The Spotify analyses: a hand-made file with answers worked out by hand, and the real file
checked against the csv module and `statistics`."""

from __future__ import annotations

import math
import os
import statistics
from collections import Counter
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tempo.analytics import service, spotify
from tempo.analytics.errors import AnalyticsError
from tempo.analytics.spotify import SpotifyData, read_cached, read_spotify
from tempo.core.csv_input import CsvError
from tests.fixtures.analytics import (
    FEATURES,
    first_rows,
    genre_popularity,
    ranks,
    read_rows,
    spotify_csv,
    summary,
)
from tests.fixtures.catalog import song, songs_csv
from tests.fixtures.files import write
from tests.fixtures.http_server import serve_bytes

T_1 = 12.7062047361747  # t(0.975, 1), from the printed table


def known_rows() -> list[dict[str, str]]:
    """Five tracks whose answers are worked out by hand in the tests below.

    danceability = popularity / 100 and energy = 1 − popularity / 100 on every track, so
    their correlations with popularity are exactly +1 and −1; tempo never changes.
    """

    def track(
        track_id: str, popularity: int, playlist: str = "pl1", genre: str = "pop",
        date: str = "2019-06-14", **overrides: str,
    ) -> dict[str, str]:  # fmt: skip
        values = {
            "track_id": track_id,
            "track_popularity": str(popularity),
            "playlist_id": playlist,
            "playlist_genre": genre,
            "track_album_release_date": date,
            "danceability": str(popularity / 100),
            "energy": str(1 - popularity / 100),
            "tempo": "120.0",
        }
        return song(**(values | overrides))

    return [
        # t1 sits in two pop playlists and a rock one.
        track("t1", 80, "p1", "pop"),
        track("t1", 80, "p2", "pop"),
        track("t1", 80, "p3", "rock"),
        track("t2", 80, "p1", "Pop", "2019-06"),
        # t3 is listed twice in the same rock playlist, under two subgenres.
        track("t3", 20, "p4", "rock", "2001", playlist_subgenre="hard rock"),
        track("t3", 20, "p4", "rock", "2001", playlist_subgenre="album rock"),
        track("t4", 50, "p5", "rap", "NA"),
        track("t5", 100, "p6", "edm", "2019-13-01"),
        # Not usable at all: counted and reported, never in an answer.
        track("t6", 0, track_popularity="high"),
        track("NA", 40),
    ]


@pytest.fixture
def known(tmp_path: Path) -> SpotifyData:
    return read_spotify(songs_csv(tmp_path / "songs.csv", known_rows()))


def test_bad_rows_are_counted_with_their_reasons(known: SpotifyData) -> None:
    dataset = known.dataset()
    assert (dataset.rows_read, dataset.rows_used, dataset.tracks) == (10, 8, 5)
    reasons = {r.reason: (r.rows, r.first_rows) for r in dataset.rejected}
    assert reasons == {
        spotify.BAD_POPULARITY: (1, [9]),
        spotify.MISSING_TRACK_ID: (1, [10]),
    }


def test_the_most_popular_tracks_keep_their_ties(known: SpotifyData) -> None:
    top = spotify.top_tracks(known, 1)
    assert [t.track_id for t in top.tracks] == ["t5"]
    two = spotify.top_tracks(known, 2)
    # t1 and t2 tie at 80 for second place: both are kept, by track_id.
    assert [(t.track_id, t.popularity) for t in two.tracks] == [("t5", 100), ("t1", 80), ("t2", 80)]
    assert two.popularity_cutoff == 80
    t1 = two.tracks[1]
    assert (t1.genres, t1.playlists, t1.release_date) == (["pop", "rock"], 3, "2019-06-14")
    assert len(spotify.top_tracks(known, 50).tracks) == 5


def test_genres_count_each_track_once_or_once_per_playlist(known: SpotifyData) -> None:
    per_track = {g.genre: g for g in spotify.genre_stats(known, "track").genres}
    # pop: t1 and t2 (80, 80); rock: t1 and t3 (80, 20); rap: t4; edm: t5.
    assert {g: (s.count, s.mean, s.median) for g, s in per_track.items()} == {
        "pop": (2, 80.0, 80.0), "rock": (2, 50.0, 50.0), "rap": (1, 50.0, 50.0),
        "edm": (1, 100.0, 100.0),
    }  # fmt: skip
    rock = per_track["rock"]
    # s = 30·√2 and s/√n = 30, so the interval is 50 ± 30·t(0.975, 1).
    assert rock.sd == pytest.approx(30 * math.sqrt(2))
    assert rock.ci_low == pytest.approx(50 - 30 * T_1)
    assert rock.ci_high == pytest.approx(50 + 30 * T_1)
    assert (per_track["pop"].ci_low, per_track["pop"].ci_high) == (80.0, 80.0)
    assert per_track["rap"].sd is None and per_track["rap"].ci_low is None

    per_playlist = spotify.genre_stats(known, "playlist")
    counts = {g.genre: g.count for g in per_playlist.genres}
    # t1 in p1 and p2 counts twice in pop; t3's repeat in p4 counts once.
    assert counts == {"pop": 3, "rock": 2, "rap": 1, "edm": 1}
    assert per_playlist.entries == 7 and per_playlist.per == "playlist"
    assert [g.genre for g in per_playlist.genres] == ["edm", "pop", "rap", "rock"]  # by mean


def test_release_months_count_only_dates_that_name_a_month(known: SpotifyData) -> None:
    answer = spotify.release_months(known)
    assert [(m.month, m.name, m.count, m.mean) for m in answer.months] == [(6, "June", 2, 80.0)]
    excluded = {e.reason: (e.tracks, e.rows) for e in answer.excluded}
    assert excluded == {
        spotify.EXCLUDED_REASONS["year"]: (1, 2),
        spotify.EXCLUDED_REASONS["invalid"]: (1, 1),
        spotify.EXCLUDED_REASONS["missing"]: (1, 1),
    }
    assert answer.counted_tracks == 2 and answer.notes == []


def test_the_histogram_includes_100_in_its_last_bin(known: SpotifyData) -> None:
    answer = spotify.popularity_histogram(known, 4)
    assert [(b.label, b.count) for b in answer.bins] == [
        ("[0, 25)", 1), ("[25, 50)", 0), ("[50, 75)", 1), ("[75, 100]", 3),
    ]  # fmt: skip
    assert answer.tracks == 5 and answer.mean == pytest.approx(66.0) and answer.median == 80.0
    assert sum(b.share for b in answer.bins) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="bins"):
        spotify.popularity_histogram(known, 0)


def test_correlations_are_exact_where_the_answer_is_known(known: SpotifyData) -> None:
    answer = spotify.feature_correlations(known)
    by_feature = {f.feature: f for f in answer.with_popularity}
    assert by_feature["danceability"].pearson == pytest.approx(1.0)
    assert by_feature["danceability"].spearman == pytest.approx(1.0)
    assert by_feature["energy"].pearson == pytest.approx(-1.0)
    # A feature that never changes has no correlation, rather than a made-up number.
    assert by_feature["tempo"].pearson is None and by_feature["tempo"].spearman is None
    assert [f.feature for f in answer.with_popularity][:2] == ["danceability", "energy"]
    matrix = answer.matrix
    assert matrix.columns[0] == "popularity"
    energy = matrix.columns.index("energy")
    assert matrix.values[0][energy] == pytest.approx(-1.0)
    assert matrix.values[energy][energy] == 1.0


def test_a_file_without_the_columns_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "other.csv", "track_id,track_popularity\nt1,50\n")
    with pytest.raises(CsvError, match="missing column 'track_name'"):
        read_spotify(path)
    header_only = songs_csv(tmp_path / "empty.csv", [])
    with pytest.raises(CsvError, match="no data rows"):
        read_spotify(header_only)
    all_bad = songs_csv(tmp_path / "bad.csv", [song(track_popularity="101")])
    with pytest.raises(CsvError, match="no usable rows"):
        read_spotify(all_bad)


def test_a_parsed_file_is_kept_until_it_changes(tmp_path: Path) -> None:
    path = songs_csv(tmp_path / "songs.csv", known_rows())
    first = read_cached(path)
    assert read_cached(path) is first
    songs_csv(path, [song(track_id="only", track_popularity="7")])
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    changed = read_cached(path)
    assert changed is not first and changed.dataset().tracks == 1


# --- the real file, against an independent computation --------------------------------


@pytest.fixture(scope="module")
def real() -> SpotifyData:
    return read_cached(spotify_csv())


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return read_rows(spotify_csv())


def test_the_real_file_is_read_whole(real: SpotifyData, rows: list[dict[str, str]]) -> None:
    # What samples/SOURCES.md says about the file, and what the csv module finds.
    assert len(rows) == 32833 and len({r["track_id"] for r in rows}) == 28356
    dataset = real.dataset()
    assert (dataset.rows_read, dataset.rows_used, dataset.tracks) == (32833, 32833, 28356)
    assert dataset.rejected == []


def test_the_real_top_track(real: SpotifyData, rows: list[dict[str, str]]) -> None:
    best = max(int(r["track_popularity"]) for r in rows)
    expected = sorted({r["track_id"] for r in rows if int(r["track_popularity"]) == best})
    top = spotify.top_tracks(real)
    assert [t.track_id for t in top.tracks] == expected
    assert top.popularity_cutoff == best == 100
    assert [(t.name, t.artist) for t in top.tracks] == [("Dance Monkey", "Tones and I")]
    assert top.tracks[0].playlists == len(
        {r["playlist_id"] for r in rows if r["track_id"] == expected[0]}
    )


@pytest.mark.parametrize("per", ["track", "playlist"])
def test_the_real_genre_table(real: SpotifyData, rows: list[dict[str, str]], per: str) -> None:
    expected = {g: summary(values) for g, values in genre_popularity(rows, per).items()}
    answer = spotify.genre_stats(real, "track" if per == "track" else "playlist")
    assert {g.genre for g in answer.genres} == set(expected) == {
        "edm", "latin", "pop", "r&b", "rap", "rock",
    }  # fmt: skip
    for got in answer.genres:
        want = expected[got.genre]
        assert got.count == want.n
        assert got.mean == pytest.approx(want.mean, rel=1e-12)
        assert got.median == want.median
        assert got.sd == pytest.approx(want.sd, rel=1e-9)
        assert got.ci_low == pytest.approx(want.low, rel=1e-9)
        assert got.ci_high == pytest.approx(want.high, rel=1e-9)
    assert answer.entries == sum(s.n for s in expected.values())
    assert answer.entries == (30385 if per == "track" else 32510)
    means = [g.mean for g in answer.genres]
    assert means == sorted(means, reverse=True) and answer.genres[0].genre == "pop"


def test_the_real_release_months(real: SpotifyData, rows: list[dict[str, str]]) -> None:
    tracks = first_rows(rows)
    by_month: dict[int, list[int]] = {}
    for row in tracks.values():
        date = row["track_album_release_date"]
        if len(date) in (7, 10):
            by_month.setdefault(int(date[5:7]), []).append(int(row["track_popularity"]))
    answer = spotify.release_months(real)
    assert [m.month for m in answer.months] == sorted(by_month) == list(range(1, 13))
    for got in answer.months:
        want = summary(by_month[got.month]) if len(by_month[got.month]) > 1000 else None
        values = by_month[got.month]
        assert got.count == len(values)
        assert got.mean == pytest.approx(statistics.fmean(values), rel=1e-12)
        assert got.median == statistics.median(values)
        if want is not None:
            assert got.ci_low == pytest.approx(want.low, rel=1e-9)
    year_only_tracks = sum(len(r["track_album_release_date"]) == 4 for r in tracks.values())
    year_only_rows = sum(len(r["track_album_release_date"]) == 4 for r in rows)
    assert year_only_rows == 1855  # as SOURCES.md says
    assert [(e.tracks, e.rows) for e in answer.excluded] == [(year_only_tracks, year_only_rows)]
    assert answer.counted_tracks == sum(len(v) for v in by_month.values())
    january_first = sum(r["track_album_release_date"].endswith("-01-01") for r in tracks.values())
    assert len(answer.notes) == 1 and f"{january_first:,} of the" in answer.notes[0]


def test_the_real_histogram(real: SpotifyData, rows: list[dict[str, str]]) -> None:
    popularity = [int(r["track_popularity"]) for r in first_rows(rows).values()]
    counts = Counter(min(p // 10, 9) for p in popularity)
    answer = spotify.popularity_histogram(real, 10)
    assert [b.count for b in answer.bins] == [counts[i] for i in range(10)]
    assert answer.zero_popularity == popularity.count(0)
    assert answer.mean == pytest.approx(statistics.fmean(popularity))
    assert answer.median == statistics.median(popularity)
    seven = spotify.popularity_histogram(real, 7)
    assert sum(b.count for b in seven.bins) == len(popularity) == 28356


def test_the_real_feature_correlations(real: SpotifyData, rows: list[dict[str, str]]) -> None:
    tracks = list(first_rows(rows).values())
    popularity = [float(r["track_popularity"]) for r in tracks]
    answer = {f.feature: f for f in spotify.feature_correlations(real).with_popularity}
    assert set(answer) == set(FEATURES)
    for feature in FEATURES:
        values = [float(r[feature]) for r in tracks]
        assert answer[feature].n == len(values)
        pearson = statistics.correlation(values, popularity)
        assert answer[feature].pearson == pytest.approx(pearson, abs=1e-9)
        spearman = statistics.correlation(ranks(values), ranks(popularity))
        assert answer[feature].spearman == pytest.approx(spearman, abs=1e-9)
    # Every audio feature is at best weakly related to popularity in this data.
    assert max(abs(f.pearson or 0) for f in answer.values()) < 0.2


async def test_a_url_is_downloaded_once_per_process(tmp_path: Path, httpserver: HTTPServer) -> None:
    path = songs_csv(tmp_path / "songs.csv", known_rows())
    httpserver.expect_request("/songs.csv").respond_with_handler(serve_bytes(path.read_bytes()))
    url = httpserver.url_for("/songs.csv?signature=s3cret")
    first = await service.spotify_data(url)
    again = await service.spotify_data(url)
    assert again is first and [r.path for r, _ in httpserver.log] == ["/songs.csv"]
    # The answer names the URL without its query string, which may hold a secret.
    assert first.dataset().source == httpserver.url_for("/songs.csv")
    assert first.dataset().tracks == 5
    with pytest.raises(AnalyticsError) as missing:
        await service.spotify_data(httpserver.url_for("/nothing.csv"))
    assert (missing.value.status, missing.value.code) == (404, "source_unavailable")
