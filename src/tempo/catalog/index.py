"""The catalog in memory, per process: look-ups by id, text and genre without a query.

The catalog is small (the real Spotify file is ~28k tracks): one SELECT brings it in, on
first use, and a catalog load anywhere drops it (NOTIFY tempo_catalog, heard by the cache
listener, see tempo.core.cache). The answers are those of the SQL look-ups in repository.py
(the reference, kept for the command line and the tests): the same readings of a text, the
same narrowing on `search_text` and the same check on name and artist, in the database's
own order (popularity, then track_id as the database sorts it, read once at build time).

A snapshot is never changed: a request holds the one it got, and a load swaps in nothing
but drops the reference; the next request builds again.
"""

from __future__ import annotations

import asyncio
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from tempo.catalog.normalize import normalize_text
from tempo.catalog.repository import (
    NUL,
    SPOTIFY_ID,
    Probe,
    TrackInfo,
    contains_probe,
    exact_probe,
    normalize_genre,
    readings,
)
from tempo.core.logs import get_logger

log = get_logger(__name__)

GENRE_LIMIT = 200  # as repository.tracks_for_genres
# The database's order is the reference: collations sort track_ids differently from Python.
_SELECT = text(
    "SELECT track_id, name, artist, duration_ms, popularity, genres, album_name, release_date,"
    " search_text FROM tracks ORDER BY popularity DESC, track_id"
)
# Between two names in the joined text searched for a contained title: normalised text has
# no newline (it is whitespace, collapsed to a space), so no title can match across it.
_JOIN = "\n"


@dataclass(frozen=True)
class _Row:
    info: TrackInfo
    name: str  # normalised, as the check on a candidate compares it
    artist: str
    search_text: str


class CatalogIndex:
    """One snapshot of the catalog, in the database's order (most popular first)."""

    def __init__(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self._rows: list[_Row] = [
            _Row(
                TrackInfo(
                    track_id=r[0], name=r[1], artist=r[2], duration_ms=r[3], popularity=r[4],
                    genres=tuple(r[5]), album_name=r[6], release_date=r[7],
                ),
                normalize_text(r[1]),
                normalize_text(r[2]),
                r[8],
            )
            for r in rows
        ]  # fmt: skip
        self._by_id = {row.info.track_id: row.info for row in self._rows}
        # Exact titles: the rows of each normalised name, in order.
        self._by_name: dict[str, list[_Row]] = {}
        # Contained titles: every name in one string, found by str.find; the row of a
        # position is the last start at or before it.
        self._names = _JOIN.join(row.name for row in self._rows)
        self._starts: list[int] = []
        position = 0
        by_genre: dict[str, list[TrackInfo]] = {}
        for row in self._rows:
            self._by_name.setdefault(row.name, []).append(row)
            self._starts.append(position)
            position += len(row.name) + len(_JOIN)
            for genre in row.info.genres:
                by_genre.setdefault(genre, []).append(row.info)
        self._by_genre = {genre: tracks[:GENRE_LIMIT] for genre, tracks in by_genre.items()}
        self.genres = frozenset(by_genre)

    def __len__(self) -> int:
        return len(self._rows)

    def tracks_by_id(self, ids: Sequence[str]) -> dict[str, TrackInfo]:
        """As repository.tracks_by_id."""
        return {i: self._by_id[i] for i in set(ids) if i in self._by_id}

    def tracks_for_genres(
        self, genres: Sequence[str], limit: int = GENRE_LIMIT
    ) -> dict[str, list[TrackInfo]]:
        """As repository.tracks_for_genres (at most GENRE_LIMIT tracks a genre)."""
        if limit > GENRE_LIMIT:
            raise ValueError(f"at most {GENRE_LIMIT} tracks a genre are kept")
        return {
            genre: [] if NUL in genre else self._by_genre.get(normalize_genre(genre), [])[:limit]
            for genre in genres
        }

    def match_tracks(self, texts: Sequence[str]) -> dict[str, TrackInfo | None]:
        """As repository.match_tracks: ids first, then the exact titles of every reading of
        every text, then the titles that contain them."""
        found: dict[str, TrackInfo | None] = dict.fromkeys(texts)
        usable = [t for t in found if NUL not in t.strip()]
        for t in usable:
            if SPOTIFY_ID.fullmatch(t.strip()):
                found[t] = self._by_id.get(t.strip())
        readable = [t for t in usable if found[t] is None and any(c.isalnum() for c in t.strip())]
        read = {t: readings(t) for t in readable}
        for make, first in ((exact_probe, self._first_exact), (contains_probe, self._first_in)):
            for t in readable:
                for title, artist in read[t]:
                    if found[t] is not None:
                        break
                    row = first(make(t, title, artist))
                    if row is not None:
                        found[t] = row.info
        return found

    def _first_exact(self, probe: Probe) -> _Row | None:
        # The check wants the name equal to the title: only those rows can pass.
        accept = probe.accept_names
        return next(
            (
                row
                for row in self._by_name.get(probe.title, ())
                if probe.narrows(row.search_text) and accept(row.name, row.artist)
            ),
            None,
        )

    def _first_in(self, probe: Probe) -> _Row | None:
        # The check wants the title inside the name: find it in the joined names, in order.
        names, starts, title = self._names, self._starts, probe.title
        accept = probe.accept_names
        at = names.find(title)
        while at >= 0:
            n = _row_at(starts, at)
            row = self._rows[n]
            if probe.narrows(row.search_text) and accept(row.name, row.artist):
                return row
            following = n + 1
            if following >= len(starts):
                return None
            at = names.find(title, starts[following])
        return None


def _row_at(starts: list[int], position: int) -> int:
    return bisect_right(starts, position) - 1


def _build(rows: Sequence[tuple[Any, ...]]) -> CatalogIndex:
    return CatalogIndex(rows)


async def load_index(session: AsyncSession) -> CatalogIndex:
    """The catalog as it is now: one SELECT, then the index built off the event loop."""
    conn = await session.connection()
    rows = [tuple(r) for r in await conn.execute(_SELECT)]
    # Normalising ~56k names takes tens of milliseconds: not on the loop.
    return await asyncio.to_thread(_build, rows)


class CatalogIndexes:
    """This process's current snapshot: built once on first use, dropped on change.

    `listening` is the cache listener's: a snapshot built before LISTEN is in place (or
    while a change arrived, seen by the generation) answers the request that built it but
    is not kept, since a change may have gone unheard.
    """

    def __init__(
        self, listening: asyncio.Event, load: Callable[[AsyncSession], Any] | None = None
    ) -> None:
        self._listening = listening
        self._load = load  # None: load_index, looked up at each build
        self._current: CatalogIndex | None = None
        self._generation = 0
        self._lock = asyncio.Lock()
        self.builds = 0

    @property
    def current(self) -> CatalogIndex | None:
        return self._current

    def invalidate(self) -> None:
        self._generation += 1
        self._current = None

    async def get(self, session: AsyncSession) -> CatalogIndex:
        current = self._current
        if current is not None:
            return current
        # One build at a time: a burst of first requests waits for it rather than each
        # reading the whole catalog.
        async with self._lock:
            if self._current is not None:
                return self._current
            generation = self._generation
            started = time.perf_counter()
            index: CatalogIndex = await (self._load or load_index)(session)
            self.builds += 1
            kept = generation == self._generation and self._listening.is_set()
            if kept:
                self._current = index
            log.info(
                "catalog_index_built",
                tracks=len(index),
                seconds=round(time.perf_counter() - started, 3),
                kept=kept,
            )
            return index
