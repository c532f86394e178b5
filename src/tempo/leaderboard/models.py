from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from tempo.core.db import LoadRecord


class LeaderboardEntry(SQLModel, table=True):
    """One ranked user of the leaderboard currently served."""

    __tablename__ = "leaderboard"
    __table_args__ = (Index("ix_leaderboard_rank_user_id", "rank", "user_id"),)

    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    rank: int = Field(sa_column=Column(BigInteger, nullable=False))
    name: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    messages: int = Field(sa_column=Column(BigInteger, nullable=False))


class LeaderboardFeed(LoadRecord, table=True):
    """Every successful feed; the latest one describes the leaderboard being served."""

    __tablename__ = "leaderboard_feed"

    rows: int = Field(sa_column=Column(BigInteger, nullable=False))


class PipelineRun(SQLModel, table=True):
    """One aggregation run (raw messages + users → pipeline_result.csv → feed), newest last."""

    __tablename__ = "pipeline_run"
    __table_args__ = (
        Index("ix_pipeline_run_started_at", "started_at"),
        CheckConstraint(
            "status IN ('running', 'succeeded', 'failed')", name="ck_pipeline_run_status"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    finished_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    status: str = Field(sa_column=Column(Text, nullable=False))
    trigger: str = Field(sa_column=Column(Text, nullable=False))
    # name → {"location": …, "bytes": …}: where each input was read from, and its size.
    inputs: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
    output: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    messages: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    users: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    ranked_users: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    orphan_messages: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    feed_id: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    seconds: float | None = Field(default=None, sa_column=Column(Double, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
