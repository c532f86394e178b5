from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from tempo.core.paging import Page, rows_named

DANCE_MONKEY: dict[str, JsonValue] = {
    "track_id": "5ZULALImTm80tzUbYQYM9d",
    "name": "Dance Monkey",
    "artist": "Tones and I",
    "popularity": 92,
    "album_id": "2pJXQvY0YeDvVJ9gMU9G7j",
    "album_name": "The Kids Are Coming",
    "release_date": "2019-08-29",
    "release_precision": "day",
    "duration_ms": 209438,
    "genres": ["latin", "pop", "r&b"],
    "subgenres": ["dance pop", "hip pop", "latin hip hop", "latin pop"],
    "danceability": 0.824,
    "energy": 0.588,
    "key": 6,
    "loudness": -6.4,
    "mode": 0,
    "speechiness": 0.0924,
    "acousticness": 0.692,
    "instrumentalness": 0.000104,
    "liveness": 0.149,
    "valence": 0.513,
    "tempo": 98.027,
}


class TrackOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [DANCE_MONKEY]})

    track_id: str = Field(description="Spotify track id")
    name: str | None = Field(description="Null where the source says NA")
    artist: str | None
    popularity: int = Field(ge=0, le=100, description="Spotify popularity, 0 to 100")
    album_id: str | None
    album_name: str | None = Field(
        description="The album or single the track is on; with release_date, what tells apart "
        "tracks of the same title and artist"
    )
    release_date: date | None = Field(
        description="Album release; a partial date is the first day of its month or year"
    )
    release_precision: Literal["day", "month", "year"] | None = Field(
        description="How much of release_date the source gave"
    )
    duration_ms: int
    genres: list[str] = Field(description="Playlist genres of every playlist holding the track")
    subgenres: list[str]
    danceability: float | None
    energy: float | None
    key: int | None = Field(description="Pitch class 0 (C) to 11 (B); -1: no key detected")
    loudness: float | None = Field(description="dB")
    mode: int | None = Field(description="1 major, 0 minor")
    speechiness: float | None
    acousticness: float | None
    instrumentalness: float | None
    liveness: float | None
    valence: float | None
    tempo: float | None = Field(description="Beats per minute")


class TrackPage(Page[TrackOut]):
    model_config = rows_named(
        "tracks", json_schema_extra={"examples": [{"tracks": [DANCE_MONKEY], "total": 1}]}
    )

    total: int = Field(description="Tracks matching the query in the whole catalog")
