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

from sqlalchemy import ColumnElement, false, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from tempo.catalog.models import Track
from tempo.catalog.normalize import escape_like, normalize_text

# Between title and artist: a hyphen, en dash or em dash with whitespace around it.
_TITLE_ARTIST_SEPARATOR = re.compile(r"\s+[-\u2013\u2014]\s+")
_SPOTIFY_ID = re.compile(r"[0-9A-Za-z]{22}")
_MATCH_BATCH = 500
# PostgreSQL text cannot hold NUL, so no stored value has one, and sending one is an error.
NUL = "\x00"


@dataclass(frozen=True)
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
) -> Track | None:
    """The most popular row meeting `conditions` that `accept` confirms.

    SQL narrows the candidates with the index; Python confirms on the name and artist
    columns themselves, since `search_text` is the two run together.
    """
    statement = _by_popularity(select(Track).where(*conditions))
    offset = 0
    while True:
        batch = (await session.exec(statement.limit(_MATCH_BATCH).offset(offset))).all()
        for track in batch:
            if accept(track):
                return track
        if len(batch) < _MATCH_BATCH:
            return None
        offset += _MATCH_BATCH


def _readings(text: str) -> list[tuple[str, str | None]]:
    """(title, artist) readings of `text`, normalised: split at a separator, else all title.

    Titles contain " - " too ("Memories - Dillon Francis Remix"), so every separator is a
    candidate, the last one first (artist names rarely contain one); the whole text last.
    """
    readings: list[tuple[str, str | None]] = []
    for separator in reversed(list(_TITLE_ARTIST_SEPARATOR.finditer(text))):
        title = normalize_text(text[: separator.start()])
        artist = normalize_text(text[separator.end() :])
        if title and artist:
            readings.append((title, artist))
    whole = normalize_text(text)
    if whole:
        readings.append((whole, None))
    return readings


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
    stripped = text.strip()
    if NUL in stripped:
        return None
    if _SPOTIFY_ID.fullmatch(stripped):
        by_id = await tracks_by_id(session, [stripped])
        if by_id:
            return by_id[stripped]
    if not any(c.isalnum() for c in stripped):
        return None  # punctuation alone would "match" every title that contains it
    readings = _readings(text)
    for title, artist in readings:
        prefix = escape_like(title)
        if artist is None:
            conditions = [or_(col(Track.search_text) == title, _like(f"{prefix} %"))]
        else:
            conditions = [_like(f"{prefix} %{escape_like(artist)}%")]
        found = await _first_accepted(session, conditions, _names(title, artist, exact=True))
        if found is not None:
            return TrackInfo.of(found)
    for title, artist in readings:
        pattern = f"%{escape_like(title)}%"
        if artist is not None:
            pattern += f"{escape_like(artist)}%"
        found = await _first_accepted(session, [_like(pattern)], _names(title, artist, exact=False))
        if found is not None:
            return TrackInfo.of(found)
    return None


async def tracks_for_genre(session: AsyncSession, genre: str, limit: int = 200) -> list[TrackInfo]:
    """The most popular tracks of `genre` (case-insensitive), then by track_id."""
    statement = _by_popularity(select(Track).where(_genre_condition(genre))).limit(limit)
    return [TrackInfo.of(track) for track in await session.exec(statement)]


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
