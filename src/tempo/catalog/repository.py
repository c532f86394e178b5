"""Reading the catalog: by id, by "title – artist" text, by genre, and paged search.

Text is compared in its normalised form (see normalize.py): the query is normalised in
Python, the stored `search_text` was normalised by Polars at load time, and LIKE on it can
use the trigram index.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, Text, bindparam, false, func, or_, true
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from tempo.catalog.models import Track
from tempo.catalog.normalize import escape_like, normalize_text

# Between title and artist: a hyphen, en dash or em dash with whitespace around it.
_TITLE_ARTIST_SEPARATOR = re.compile(r"\s+[-\u2013\u2014]\s+")
SPOTIFY_ID = re.compile(r"[0-9A-Za-z]{22}")
_MATCH_BATCH = 500
# Rows per reading of a text fetched at once when many texts are matched together; the
# right one is nearly always among the first few.
_CANDIDATES = 50
# PostgreSQL text cannot hold NUL, so no stored value has one, and sending one is an error.
NUL = "\x00"


@dataclass(frozen=True, slots=True)  # slots: the in-memory catalog holds ~28k of them
class TrackInfo:
    track_id: str
    name: str | None
    artist: str | None
    duration_ms: int
    popularity: int
    genres: tuple[str, ...]
    # What tells apart tracks of one title and artist, for whoever shows the track.
    album_name: str | None = None
    release_date: date | None = None

    @classmethod
    def of(cls, track: Track) -> TrackInfo:
        return cls(
            track_id=track.track_id,
            name=track.name,
            artist=track.artist,
            duration_ms=track.duration_ms,
            popularity=track.popularity,
            genres=tuple(track.genres),
            album_name=track.album_name,
            release_date=track.release_date,
        )


def normalize_genre(genre: str) -> str:
    """Genres are stored lower-cased and stripped (see pipeline.py)."""
    return genre.strip().lower()


def _by_popularity(statement: SelectOfScalar[Track]) -> SelectOfScalar[Track]:
    return statement.order_by(col(Track.popularity).desc(), col(Track.track_id))


def _like(pattern: str) -> ColumnElement[bool]:
    return col(Track.search_text).like(pattern, escape="\\")


def _text_conditions(q: str | None) -> list[ColumnElement[bool]]:
    """Every word of `q` somewhere in "name artist", in any order."""
    if q is not None and NUL in q:
        return [false()]
    words = normalize_text(q).split()
    return [_like(f"%{escape_like(word)}%") for word in words]


def _genre_condition(genre: str) -> ColumnElement[bool]:
    if NUL in genre:
        return false()
    # `@>` rather than `= ANY(genres)`: the same test, and the one the GIN index serves.
    return col(Track.genres).contains([normalize_genre(genre)])


async def tracks_by_id(session: AsyncSession, ids: Sequence[str]) -> dict[str, TrackInfo]:
    """The known tracks among `ids`; unknown ids are simply absent."""
    wanted = sorted(i for i in set(ids) if NUL not in i)
    if not wanted:
        return {}
    found = await session.exec(select(Track).where(col(Track.track_id).in_(wanted)))
    return {track.track_id: TrackInfo.of(track) for track in found}


async def _first_accepted(
    session: AsyncSession,
    conditions: Sequence[ColumnElement[bool]],
    accept: Callable[[Track], bool],
    offset: int = 0,
) -> Track | None:
    """The most popular row meeting `conditions` that `accept` confirms, from `offset` on.

    SQL narrows the candidates with the index; Python confirms on the name and artist
    columns themselves, since `search_text` is the two run together.
    """
    statement = _by_popularity(select(Track).where(*conditions))
    while True:
        batch = (await session.exec(statement.limit(_MATCH_BATCH).offset(offset))).all()
        for track in batch:
            if accept(track):
                return track
        if len(batch) < _MATCH_BATCH:
            return None
        offset += _MATCH_BATCH


@dataclass(frozen=True)
class Probe:
    """One way of reading a text, as SQL narrows it (`search_text = equals OR search_text
    LIKE pattern`) and as Python confirms it."""

    text: str
    title: str
    artist: str | None
    exact: bool
    equals: str | None
    pattern: str

    def conditions(self) -> list[ColumnElement[bool]]:
        like = _like(self.pattern)
        return [like if self.equals is None else or_(col(Track.search_text) == self.equals, like)]

    def accept(self) -> Callable[[Track], bool]:
        return _names(self.title, self.artist, exact=self.exact)

    def narrows(self, search_text: str) -> bool:
        """`conditions` in Python, for the in-memory index (index.py): the pattern is
        the title and artist, escaped, between literal spaces and wildcards."""
        title, artist = self.title, self.artist
        if self.exact:  # "title %" or "title %artist%", or equal to the title
            if self.equals is not None and search_text == self.equals:
                return True
            prefix = title + " "
            return search_text.startswith(prefix) and (
                artist is None or artist in search_text[len(prefix) :]
            )
        at = search_text.find(title)  # "%title%" or "%title%artist%"
        return at >= 0 and (artist is None or artist in search_text[at + len(title) :])

    def accept_names(self, name: str, artist: str) -> bool:
        """`accept` on a track's name and artist already normalised."""
        title_fits = name == self.title if self.exact else self.title in name
        return title_fits and (self.artist is None or self.artist in artist)


def exact_probe(text: str, title: str, artist: str | None) -> Probe:
    prefix = escape_like(title)
    if artist is None:
        return Probe(text, title, None, True, title, f"{prefix} %")
    return Probe(text, title, artist, True, None, f"{prefix} %{escape_like(artist)}%")


def contains_probe(text: str, title: str, artist: str | None) -> Probe:
    pattern = f"%{escape_like(title)}%"
    if artist is not None:
        pattern += f"{escape_like(artist)}%"
    return Probe(text, title, artist, False, None, pattern)


async def _candidates(session: AsyncSession, probes: Sequence[Probe]) -> list[list[Track]]:
    """The `_CANDIDATES` most popular rows of every probe, in one statement: each probe is a
    row of an unnest, joined laterally to its own index search."""
    rows = (
        func.unnest(
            bindparam("equals", [p.equals for p in probes], type_=ARRAY(Text)),
            bindparam("patterns", [p.pattern for p in probes], type_=ARRAY(Text)),
        )
        .table_valued("equals", "pattern", with_ordinality="n")
        .render_derived()
    )
    search_text = col(Track.search_text)
    inner = (
        _by_popularity(
            select(Track).where(
                or_(search_text == rows.c.equals, search_text.like(rows.c.pattern, escape="\\"))
            )
        )
        .limit(_CANDIDATES)
        .lateral()
    )
    found = aliased(Track, inner)
    statement = select(rows.c.n, found).select_from(rows).join(inner, true()).order_by(rows.c.n)
    by_probe: list[list[Track]] = [[] for _ in probes]
    for n, track in (await session.exec(statement)).all():
        by_probe[int(n) - 1].append(track)
    return by_probe


async def _resolve(
    session: AsyncSession, probes: Sequence[Probe], found: dict[str, TrackInfo | None]
) -> None:
    """For every text not yet found, the track of its first probe that names one."""
    probes = [p for p in probes if found.get(p.text) is None]
    if not probes:
        return
    for probe, candidates in zip(probes, await _candidates(session, probes), strict=True):
        if found.get(probe.text) is not None:
            continue  # an earlier reading of the same text named a track
        accept = probe.accept()
        track = next((t for t in candidates if accept(t)), None)
        if track is None and len(candidates) == _CANDIDATES:
            # Many rows look alike and none of the first ones is it: page on, as for one text.
            track = await _first_accepted(session, probe.conditions(), accept, _CANDIDATES)
        if track is not None:
            found[probe.text] = TrackInfo.of(track)


def readings(text: str) -> list[tuple[str, str | None]]:
    """(title, artist) readings of `text`, normalised: split at a separator, else all title.

    Titles contain " - " too ("Memories - Dillon Francis Remix"), so every separator is a
    candidate, the last one first (artist names rarely contain one); the whole text last.
    """
    found: list[tuple[str, str | None]] = []
    for separator in reversed(list(_TITLE_ARTIST_SEPARATOR.finditer(text))):
        title = normalize_text(text[: separator.start()])
        artist = normalize_text(text[separator.end() :])
        if title and artist:
            found.append((title, artist))
    whole = normalize_text(text)
    if whole:
        found.append((whole, None))
    return found


def _names(title: str, artist: str | None, *, exact: bool) -> Callable[[Track], bool]:
    """Does a track's own name equal (or contain) `title`, and its artist contain `artist`?"""

    def accept(track: Track) -> bool:
        name = normalize_text(track.name)
        title_fits = name == title if exact else title in name
        return title_fits and (artist is None or artist in normalize_text(track.artist))

    return accept


async def match_track(session: AsyncSession, text: str) -> TrackInfo | None:
    """The track that `text` names: "Dance Monkey", "Dance Monkey - Tones and I" (or – / —).

    Case and accents do not matter. An exact title beats a title that merely contains the
    text; among equals the most popular track wins, then the smallest track_id.
    """
    return (await match_tracks(session, [text]))[text]


async def match_tracks(session: AsyncSession, texts: Sequence[str]) -> dict[str, TrackInfo | None]:
    """`match_track` for many texts at once, in a bounded number of statements however many
    there are: one for those that are Spotify ids, one for exact titles, one for titles
    that contain the text (more only when a text's first candidates all fail the check)."""
    found: dict[str, TrackInfo | None] = dict.fromkeys(texts)
    usable = [t for t in found if NUL not in t.strip()]
    ids = {t: t.strip() for t in usable if SPOTIFY_ID.fullmatch(t.strip())}
    if ids:
        by_id = await tracks_by_id(session, list(ids.values()))
        for text, track_id in ids.items():
            found[text] = by_id.get(track_id)
    # Punctuation alone would "match" every title that contains it.
    readable = [t for t in usable if found[t] is None and any(c.isalnum() for c in t.strip())]
    read = {text: readings(text) for text in readable}
    for probe in (exact_probe, contains_probe):
        await _resolve(
            session, [probe(t, title, artist) for t in readable for title, artist in read[t]],
            found,
        )  # fmt: skip
    return found


async def tracks_for_genre(session: AsyncSession, genre: str, limit: int = 200) -> list[TrackInfo]:
    """The most popular tracks of `genre` (case-insensitive), then by track_id."""
    return (await tracks_for_genres(session, [genre], limit))[genre]


async def tracks_for_genres(
    session: AsyncSession, genres: Sequence[str], limit: int = 200
) -> dict[str, list[TrackInfo]]:
    """`tracks_for_genre` for each of `genres`, in one statement."""
    result: dict[str, list[TrackInfo]] = {genre: [] for genre in genres}
    wanted = sorted({normalize_genre(g) for g in genres if NUL not in g})
    if not wanted:
        return result
    rows = (
        func.unnest(bindparam("genres", wanted, type_=ARRAY(Text)))
        .table_valued("genre", with_ordinality="n")
        .render_derived()
    )
    inner = (
        _by_popularity(select(Track).where(col(Track.genres).contains(array([rows.c.genre]))))
        .limit(limit)
        .lateral()
    )
    statement = (
        select(rows.c.genre, aliased(Track, inner))
        .select_from(rows)
        .join(inner, true())
        .order_by(rows.c.n)
    )
    by_genre: dict[str, list[TrackInfo]] = {g: [] for g in wanted}
    for genre, track in (await session.exec(statement)).all():
        by_genre[genre].append(TrackInfo.of(track))
    for genre in genres:
        if NUL not in genre:
            result[genre] = by_genre[normalize_genre(genre)]
    return result


async def known_genres(session: AsyncSession) -> list[str]:
    genre = func.unnest(col(Track.genres)).label("genre")
    statement = select(genre).distinct().order_by(genre)
    return [str(g) for g in await session.exec(statement)]


async def genre_exists(session: AsyncSession, genre: str) -> bool:
    statement = select(col(Track.track_id)).where(_genre_condition(genre)).limit(1)
    return (await session.exec(statement)).first() is not None


def search_statement(q: str | None, genre: str | None) -> SelectOfScalar[Track]:
    """Tracks whose "name artist" holds every word of `q`, of `genre`; most popular first."""
    conditions = _text_conditions(q)
    if genre is not None:
        conditions.append(_genre_condition(genre))
    return _by_popularity(select(Track).where(*conditions))


async def search(
    session: AsyncSession, q: str | None, genre: str | None, limit: int, offset: int
) -> tuple[list[Track], int]:
    """One page of matching tracks and how many match in all."""
    conditions = _text_conditions(q)
    if genre is not None:
        conditions.append(_genre_condition(genre))
    total = (await session.exec(select(func.count()).select_from(Track).where(*conditions))).one()
    rows = await session.exec(search_statement(q, genre).limit(limit).offset(offset))
    return list(rows), int(total)
