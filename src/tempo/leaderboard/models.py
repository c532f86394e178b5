from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, Text, func
from sqlmodel import Field, SQLModel


class LeaderboardEntry(SQLModel, table=True):
    """One ranked user of the leaderboard currently served."""

    __tablename__ = "leaderboard"
    __table_args__ = (Index("ix_leaderboard_rank_user_id", "rank", "user_id"),)

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    rank: int = Field(sa_column=Column(BigInteger, nullable=False))
    name: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    messages: int = Field(sa_column=Column(BigInteger, nullable=False))


class LeaderboardFeed(SQLModel, table=True):
    """Every successful feed; the latest one describes the leaderboard being served."""

    __tablename__ = "leaderboard_feed"

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(sa_column=Column(Text, nullable=False))
    rows: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(sa_column=Column(Text, nullable=False))
    loaded_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
