"""Every table, imported in one place so migrations and metadata see them all."""

from sqlmodel import SQLModel

from tempo.analytics.models import MajorRow
from tempo.catalog.models import CatalogLoad, Track
from tempo.leaderboard.models import LeaderboardEntry, LeaderboardFeed, PipelineRun
from tempo.people.models import Person

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
