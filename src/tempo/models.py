"""Every table, imported in one place so migrations and metadata see them all."""

from sqlmodel import SQLModel

from tempo.leaderboard.models import LeaderboardEntry, LeaderboardFeed

metadata = SQLModel.metadata

__all__ = ["LeaderboardEntry", "LeaderboardFeed", "metadata"]
