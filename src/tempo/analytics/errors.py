"""What an analysis can fail with, carrying the HTTP status a route answers with."""

from __future__ import annotations

from typing import Any


class AnalyticsError(Exception):
    def __init__(self, status_code: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details
