"""Reading the served leaderboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from tempo.leaderboard.models import LeaderboardEntry, LeaderboardFeed


@dataclass(frozen=True)
class FeedVersion:
    feed_id: int
    rows: int
    loaded_at: datetime


async def current_version(session: AsyncSession) -> FeedVersion | None:
    statement = select(LeaderboardFeed).order_by(col(LeaderboardFeed.id).desc()).limit(1)
    feed = (await session.exec(statement)).first()
    if feed is None or feed.id is None:
        return None
    return FeedVersion(feed_id=feed.id, rows=feed.rows, loaded_at=feed.loaded_at)


async def page(session: AsyncSession, *, limit: int, offset: int) -> list[LeaderboardEntry]:
    statement = (
        select(LeaderboardEntry)
        .order_by(col(LeaderboardEntry.rank), col(LeaderboardEntry.user_id))
        .limit(limit)
        .offset(offset)
    )
    return list((await session.exec(statement)).all())
