"""A demo leaderboard for a fresh development database, so `make run` shows data at once."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.bundled import SAMPLE_MESSAGES, SAMPLE_USERS
from tempo.pipeline.aggregate import RESULT_FILE, aggregate
from tempo.pipeline.feed import feed_file


async def seed_demo_leaderboard(engine: AsyncEngine, data_dir: Path) -> str | None:
    """Aggregate and feed demo CSVs unless a leaderboard was ever fed; say what was done."""
    async with engine.connect() as conn:
        if (await conn.execute(text("SELECT EXISTS (SELECT 1 FROM leaderboard_feed)"))).scalar():
            return None
    data_dir.mkdir(parents=True, exist_ok=True)
    messages, users = data_dir / "messages.csv", data_dir / "users.csv"
    # Files already in DATA_DIR are the user's own; the sample only fills an empty one.
    if not messages.exists() or not users.exists():
        shutil.copyfile(SAMPLE_USERS, users)
        shutil.copyfile(SAMPLE_MESSAGES, messages)
    summary = await asyncio.to_thread(aggregate, messages, users, data_dir)
    fed = await feed_file(engine, data_dir / RESULT_FILE, source=RESULT_FILE)
    return f"demo data: {summary.line()}\ndemo data: {fed.line()}"
