from __future__ import annotations

from datetime import date

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Double,
    Index,
    Integer,
    SmallInteger,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from tempo.core.db import LoadRecord

# Declared here for the record; migration 0002 creates it only where pg_trgm is available
# (the embedded PostgreSQL wheel ships without it, and text search then scans the table).
SEARCH_TEXT_INDEX = "ix_tracks_search_text_trgm"
GENRES_INDEX = "ix_tracks_genres"
POPULARITY_INDEX = "ix_tracks_popularity_track_id"


class Track(SQLModel, table=True):
    """One track of the catalog: attributes of its first row in the file, genres of all rows."""

    __tablename__ = "tracks"
    __table_args__ = (
        Index(
            SEARCH_TEXT_INDEX,
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
        Index(GENRES_INDEX, "genres", postgresql_using="gin"),
        Index(POPULARITY_INDEX, text("popularity DESC"), "track_id"),
        CheckConstraint(
            "release_precision IN ('day', 'month', 'year')", name="ck_tracks_release_precision"
        ),
    )

    track_id: str = Field(sa_column=Column(Text, primary_key=True))
    name: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    artist: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    popularity: int = Field(sa_column=Column(SmallInteger, nullable=False))
    album_id: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    album_name: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # Partial dates are stored as the first day of their month or year; the precision says so.
    release_date: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    release_precision: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    duration_ms: int = Field(sa_column=Column(Integer, nullable=False))
    genres: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    subgenres: list[str] = Field(sa_column=Column(ARRAY(Text), nullable=False))
    danceability: float | None = Field(default=None, sa_column=Column(Double, nullable=True))
    energy: float | None = Field(default=None, sa_column=Column(Double, nullable=True))
    key: int | None = Field(default=None, sa_column=Column(SmallInteger, nullable=True))
    loudness: float | None = Field(default=None, sa_column=Column(Double, nullable=True))
    mode: int | None = Field(default=None, sa_column=Column(SmallInteger, nullable=True))
    speechiness: float | None = Field(default=None, sa_column=Column(Double, nullable=True))
    acousticness: float | None = Field(default=None, sa_column=Column(Double, nullable=True))
    instrumentalness: float | None = Field(default=None, sa_column=Column(Double, nullable=True))
    liveness: float | None = Field(default=None, sa_column=Column(Double, nullable=True))
    valence: float | None = Field(default=None, sa_column=Column(Double, nullable=True))
    tempo: float | None = Field(default=None, sa_column=Column(Double, nullable=True))
    # "name artist", accent-stripped and lower-cased at load time: what text search matches.
    search_text: str = Field(sa_column=Column(Text, nullable=False))


class CatalogLoad(LoadRecord, table=True):
    """Every successful catalog load; the latest one describes the catalog being served."""

    __tablename__ = "catalog_load"

    rows_read: int = Field(sa_column=Column(BigInteger, nullable=False))
    tracks: int = Field(sa_column=Column(BigInteger, nullable=False))
    rejected: int = Field(sa_column=Column(BigInteger, nullable=False))
