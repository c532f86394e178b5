"""The way a leaderboard used to be served: Flask on gunicorn, one SQLAlchemy query and a
JSON encoding per request. Same table, same 100 rows, same document shape as Tempo."""

from __future__ import annotations

import os

from flask import Flask, request
from sqlalchemy import create_engine, text

engine = create_engine(
    os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1),
    pool_size=4,
)
app = Flask(__name__)
VERSION = text("SELECT rows, loaded_at FROM leaderboard_feed ORDER BY id DESC LIMIT 1")
PAGE = text(
    "SELECT rank, user_id, name, messages FROM leaderboard"
    " ORDER BY rank, user_id LIMIT :limit OFFSET :offset"
)


@app.get("/leaderboard")
def leaderboard() -> dict[str, object]:
    limit = min(int(request.args.get("limit", 100)), 1000)
    offset = int(request.args.get("offset", 0))
    with engine.connect() as conn:
        version = conn.execute(VERSION).one()
        rows = conn.execute(PAGE, {"limit": limit, "offset": offset}).mappings().all()
    return {
        "leaderboard": [dict(row) for row in rows],
        "total": version.rows,
        "updated_at": version.loaded_at.isoformat(),
    }
