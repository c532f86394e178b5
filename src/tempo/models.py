"""Every table, imported in one place so migrations and metadata see them all."""

from sqlmodel import SQLModel

from tempo.analytics.models import MajorRow, Person
from tempo.catalog.models import CatalogLoad, Track
from tempo.leaderboard.models import LeaderboardEntry, LeaderboardFeed, PipelineRun

metadata = SQLModel.metadata

__all__ = [
    "CatalogLoad",
    "LeaderboardEntry",
    "LeaderboardFeed",
    "MajorRow",
    "Person",
    "PipelineRun",
    "Track",
    "metadata",
]
