"""What an analysis can fail with: a TempoError, answered like any other."""

from __future__ import annotations

from tempo.core.errors import TempoError


class AnalyticsError(TempoError):
    """Data an analysis needs that is missing or cannot be used (no songs file, no such
    table version); the pages tell the codes apart (`not_loaded`: say how to load)."""
