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
from collections.abc import Awaitable, Callable, Sequence
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
# Memory bound: an index holds ~0.9 KiB a track (26 MiB for the 28,356 Spotify tracks), so
# this is ~180 MiB a worker at most. A larger catalog is looked up in SQL, as before.
MAX_TRACKS = 200_000
# The database's order is the reference: collations sort track_ids differently from Python.
_SELECT = text(
    "SELECT track_id, name, artist, duration_ms, popularity, genres, album_name, release_date,"
    " search_text FROM tracks ORDER BY popularity DESC, track_id"
)
# Rows read and indexed at once while building: a few milliseconds of the event loop.
_CHUNK = 500
# Between two names in the joined text searched for a contained title: normalised text has
# no newline (it is whitespace, collapsed to a space), so no title can match across it.
_JOIN = "\n"


class CatalogIndex:
    """One snapshot of the catalog, in the database's order (most popular first): rows are
    added in that order (`add`), then `finish` makes it ready.

    Row n is in parallel lists (its track, its normalised name and artist as the check on
    a candidate compares them, its `search_text`) rather than an object per row: fewer
    objects for the garbage collector to walk, in this process, for as long as it lives.
    """

    def __init__(self, rows: Sequence[Sequence[Any]] = ()) -> None:
        self._infos: list[TrackInfo] = []
        self._names: list[str] = []
        self._artists: list[str] = []
        self._search: list[str] = []
        self._by_id: dict[str, TrackInfo] = {}
        # Exact titles: the first row of each normalised name, and the rest of them in
        # order (few names are shared: a list only for those).
        self._first_of: dict[str, int] = {}
        self._more_of: dict[str, list[int]] = {}
        # Contained titles: every name in one string, found by str.find; the row of a
        # position is the last start at or before it.
        self._joined = ""
        self._starts: list[int] = []
        self._by_genre: dict[str, list[TrackInfo]] = {}
        self.genres: frozenset[str] = frozenset()
        if rows:
            self.add(rows)
            self.finish()

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        """Rows of `_SELECT`, after those added before."""
        first_of, more_of, by_id, by_genre = (
            self._first_of, self._more_of, self._by_id, self._by_genre,
        )  # fmt: skip
        for r in rows:
            info = TrackInfo(
                track_id=r[0], name=r[1], artist=r[2], duration_ms=r[3], popularity=r[4],
                genres=tuple(r[5]), album_name=r[6], release_date=r[7],
            )  # fmt: skip
            n = len(self._infos)
            name = normalize_text(r[1])
            self._infos.append(info)
            self._names.append(name)
            self._artists.append(normalize_text(r[2]))
            self._search.append(r[8])
            by_id[info.track_id] = info
            if name in first_of:
                more_of.setdefault(name, []).append(n)
            else:
                first_of[name] = n
            for genre in info.genres:
                tracks = by_genre.setdefault(genre, [])
                if len(tracks) < GENRE_LIMIT:
                    tracks.append(info)

    def finish(self) -> CatalogIndex:
        self._joined = _JOIN.join(self._names)
        self._starts = []
        position = 0
        for name in self._names:
            self._starts.append(position)
            position += len(name) + len(_JOIN)
        self.genres = frozenset(self._by_genre)
        return self

    def __len__(self) -> int:
        return len(self._infos)

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
                    found[t] = first(make(t, title, artist))
        return found

    def _fits(self, n: int, probe: Probe) -> bool:
        return probe.narrows(self._search[n]) and probe.accept_names(
            self._names[n], self._artists[n]
        )

    def _first_exact(self, probe: Probe) -> TrackInfo | None:
        # The check wants the name equal to the title: only those rows can pass.
        first = self._first_of.get(probe.title)
        if first is None:
            return None
        rest: Sequence[int] = self._more_of.get(probe.title, ())
        for n in (first, *rest):
            if self._fits(n, probe):
                return self._infos[n]
        return None

    def _first_in(self, probe: Probe) -> TrackInfo | None:
        # The check wants the title inside the name: find it in the joined names, in order.
        joined, starts, title = self._joined, self._starts, probe.title
        at = joined.find(title)
        while at >= 0:
            n = bisect_right(starts, at) - 1
            if self._fits(n, probe):
                return self._infos[n]
            if n + 1 >= len(starts):
                return None
            at = joined.find(title, starts[n + 1])
        return None


async def load_index(session: AsyncSession, limit: int = MAX_TRACKS) -> CatalogIndex | None:
    """The catalog as it is now: one SELECT, read and indexed `_CHUNK` rows at a time;
    None for a catalog of more than `limit` tracks (which stays in SQL).

    The work is ~0.4 s of CPU for the 28k-track Spotify catalog, mostly normalising names:
    done on the event loop but in slices of a few milliseconds (a server-side cursor, one
    fetch per slice), so that other requests keep being served while it is built. A thread
    would not help: the work is Python, and holds the GIL.
    """
    conn = await session.connection()
    index = CatalogIndex()
    result = await conn.stream(_SELECT)
    try:
        async for rows in result.partitions(_CHUNK):
            index.add(rows)
            if len(index) > limit:
                return None
    finally:
        await result.close()
    return index.finish()


class CatalogIndexes:
    """This process's current snapshot: built once on first use, dropped on change.

    `listening` is the cache listener's: a snapshot built before LISTEN is in place (or
    while a change arrived, seen by the generation) answers the request that built it but
    is not kept, since a change may have gone unheard.
    """

    def __init__(
        self, listening: asyncio.Event,
        load: Callable[[AsyncSession], Awaitable[CatalogIndex | None]] | None = None,
    ) -> None:  # fmt: skip
        self._listening = listening
        self._load = load  # None: load_index, looked up at each build
        self._current: CatalogIndex | None = None
        self._generation = 0
        self._too_large: int | None = None  # the generation found over MAX_TRACKS
        self._lock = asyncio.Lock()
        self.builds = 0

    @property
    def current(self) -> CatalogIndex | None:
        return self._current

    def invalidate(self) -> None:
        self._generation += 1
        self._current = None

    async def get(self, session: AsyncSession) -> CatalogIndex | None:
        """The snapshot to answer from; None when the catalog is too large to hold."""
        current = self._current
        if current is not None or self._too_large == self._generation:
            return current
        # One build at a time: a burst of first requests waits for it rather than each
        # reading the whole catalog.
        async with self._lock:
            if self._current is not None or self._too_large == self._generation:
                return self._current
            generation = self._generation
            started = time.perf_counter()
            index = await (self._load or load_index)(session)
            self.builds += 1
            kept = generation == self._generation and self._listening.is_set()
            if kept and index is None:
                self._too_large = generation
                log.warning("catalog_index_too_large", max_tracks=MAX_TRACKS)
            elif kept:
                self._current = index
            log.info(
                "catalog_index_built",
                tracks=None if index is None else len(index),
                seconds=round(time.perf_counter() - started, 3),
                kept=kept,
            )
            return index
