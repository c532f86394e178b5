"""The leaderboard as the API serves it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tempo.core.paging import Page, rows_named


class LeaderboardRow(BaseModel):
    rank: int = Field(description="1 = most messages; ties share a rank (1, 2, 2, 4)")
    user_id: int
    name: str = Field(description="Empty for messages from a user missing from users.csv")
    messages: int


class LeaderboardPage(Page[LeaderboardRow]):
    model_config = rows_named(
        "leaderboard",
        json_schema_extra={
            "examples": [
                {
                    "leaderboard": [
                        {"rank": 1, "user_id": 1, "name": "Matthew Meyer", "messages": 2},
                        {"rank": 1, "user_id": 2, "name": "Edward Kelly", "messages": 2},
                        {"rank": 3, "user_id": 3, "name": "Arthur Hamilton", "messages": 1},
                    ],
                    "total": 10,
                    "updated_at": "2026-11-22T09:30:00Z",
                }
            ]
        },
    )

    total: int = Field(description="Ranked users in the whole leaderboard")
    updated_at: datetime | None = Field(
        description="When the served ranking was fed; null if never"
    )
