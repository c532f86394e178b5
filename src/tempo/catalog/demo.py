"""A demo catalog for a fresh development database, so `make run` can search and plan music.

`demo_tracks.csv` (300 rows, 151 distinct tracks) is a subset of the real
`spotify_songs.csv` of TidyTuesday 2020-01-21 ("30000 Spotify Songs",
rfordatascience/tidytuesday, data/2020/2020-01-21/spotify_songs.csv): for each of the 6
playlist genres, the 50 most popular distinct tracks (ties by track_id), each given by its
first row in that genre. Rows are byte-for-byte copies of the source lines, in source order,
under the source header. Top tracks are shared between genres, hence 151 tracks; "Dance
Monkey" by Tones and I (5ZULALImTm80tzUbYQYM9d) is among them.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.catalog.load import load_catalog

DEMO_TRACKS = Path(__file__).with_name("demo_tracks.csv")


async def seed_demo_catalog(engine: AsyncEngine) -> str | None:
    """Load the demo catalog into an empty tracks table; say what was done."""
    async with engine.connect() as conn:
        if (await conn.execute(text("SELECT EXISTS (SELECT 1 FROM tracks)"))).scalar():
            return None
    loaded = await load_catalog(engine, DEMO_TRACKS, source=DEMO_TRACKS.name)
    return f"demo catalog: {loaded.summary()}"
