"""Every table, imported in one place so migrations and metadata see them all."""

from sqlmodel import SQLModel

from tempo.catalog.models import CatalogLoad, Track
from tempo.leaderboard.models import LeaderboardEntry, LeaderboardFeed

metadata = SQLModel.metadata

__all__ = ["CatalogLoad", "LeaderboardEntry", "LeaderboardFeed", "Track", "metadata"]
