"""Builders for the catalog tests: songs CSV files, the real Spotify file, a local HTTP server."""

from __future__ import annotations

import csv
import gzip
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import pytest

# The real file, gzip-compressed as it ships (see samples/SOURCES.md).
SPOTIFY_CSV = Path(__file__).resolve().parents[1] / "samples" / "spotify_songs.csv.gz"

HEADER = [
    "track_id", "track_name", "track_artist", "track_popularity", "track_album_id",
    "track_album_name", "track_album_release_date", "playlist_name", "playlist_id",
    "playlist_genre", "playlist_subgenre", "danceability", "energy", "key", "loudness", "mode",
    "speechiness", "acousticness", "instrumentalness", "liveness", "valence", "tempo",
    "duration_ms",
]  # fmt: skip
FEATURES = [
    "danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
    "instrumentalness", "liveness", "valence", "tempo",
]  # fmt: skip
BASE = {
    "track_id": "t1", "track_name": "Song", "track_artist": "Artist",
    "track_popularity": "50", "track_album_id": "al1", "track_album_name": "Album",
    "track_album_release_date": "2019-06-14", "playlist_name": "Pop Remix",
    "playlist_id": "pl1", "playlist_genre": "pop", "playlist_subgenre": "dance pop",
    "danceability": "0.748", "energy": "0.916", "key": "6", "loudness": "-2.634", "mode": "1",
    "speechiness": "0.0583", "acousticness": "0.102", "instrumentalness": "0",
    "liveness": "0.0653", "valence": "0.518", "tempo": "122.036", "duration_ms": "194754",
}  # fmt: skip


def spotify_csv() -> Path:
    """The real file; a test that needs it fails (never skips) when it is not there."""
    if not SPOTIFY_CSV.is_file():
        pytest.fail(
            f"the real Spotify songs file is missing: expected {SPOTIFY_CSV} "
            "(TidyTuesday 2020-01-21 spotify_songs.csv, see samples/SOURCES.md)"
        )
    return SPOTIFY_CSV


def song(**overrides: str) -> dict[str, str]:
    return BASE | overrides


def songs_csv(
    path: Path,
    rows: list[dict[str, str]],
    *,
    header: list[str] = HEADER,
    bom: bool = False,
    newline: str = "\n",
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator=newline)
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(column, "") for column in header])
    return path


# --- an independent reference: what the tracks table must hold, by the csv module alone ---


def _missing(value: str) -> str | None:
    return None if value.strip() in ("NA", "") else value.strip()


def _release(value: str) -> tuple[date | None, str | None]:
    value = value.strip()
    if value == "NA":
        return None, None
    parts = [int(p) for p in value.split("-")]
    precision = {3: "day", 2: "month", 1: "year"}[len(parts)]
    return date(parts[0], *(parts[1:] + [1, 1])[:2]), precision


def open_text(path: Path) -> IO[str]:
    """A CSV file for the csv module, decompressed by the standard library when gzipped."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def read_rows(path: Path) -> list[dict[str, str]]:
    with open_text(path) as handle:
        return list(csv.DictReader(handle))


def reference_tracks(path: Path) -> dict[str, dict[str, Any]]:
    """track_id → expected columns: the first row's attributes, genres of every row."""
    first: dict[str, dict[str, str]] = {}
    genres: defaultdict[str, set[str]] = defaultdict(set)
    subgenres: defaultdict[str, set[str]] = defaultdict(set)
    for row in read_rows(path):
        first.setdefault(row["track_id"], row)
        genres[row["track_id"]].add(row["playlist_genre"].strip().lower())
        subgenres[row["track_id"]].add(row["playlist_subgenre"].strip().lower())
    expected = {}
    for track_id, row in first.items():
        release_date, precision = _release(row["track_album_release_date"])
        expected[track_id] = {
            "track_id": track_id,
            "name": _missing(row["track_name"]),
            "artist": _missing(row["track_artist"]),
            "popularity": int(row["track_popularity"]),
            "album_id": _missing(row["track_album_id"]),
            "album_name": _missing(row["track_album_name"]),
            "release_date": release_date,
            "release_precision": precision,
            "duration_ms": int(row["duration_ms"]),
            "genres": sorted(genres[track_id]),
            "subgenres": sorted(subgenres[track_id]),
            **{
                f: int(row[f]) if f in ("key", "mode") else float(row[f])
                for f in FEATURES
            },
        }  # fmt: skip
    return expected


# --- a local HTTP server for URL sources ----------------------------------------------

Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Server:
    base: str
    routes: dict[str, Route] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeouts, size caps) is expected here."""


@contextmanager
def http_server() -> Iterator[Server]:
    server_routes: dict[str, Route] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
            route = server_routes.get(self.path.split("?", 1)[0])
            if route is None:
                self.send_error(404, "Not Found")
                return
            route(self)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = _QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{server.server_address[1]}", server_routes)
    finally:
        server.shutdown()
        server.server_close()


def serve_bytes(body: bytes, *, content_length: bool = True, delay: float = 0.0) -> Route:
    """Answer 200 with `body`; without Content-Length, the end is marked by closing."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        import time

        handler.send_response(200)
        handler.send_header("Content-Type", "text/csv")
        if content_length:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.flush()
        if delay:
            time.sleep(delay)
        handler.wfile.write(body)

    return route
