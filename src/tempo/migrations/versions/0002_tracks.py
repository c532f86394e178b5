"""music catalog: tracks and their load history

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracks",
        sa.Column("track_id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("artist", sa.Text(), nullable=True),
        sa.Column("popularity", sa.SmallInteger(), nullable=False),
        sa.Column("album_id", sa.Text(), nullable=True),
        sa.Column("album_name", sa.Text(), nullable=True),
        sa.Column("release_date", sa.Date(), nullable=True),
        sa.Column("release_precision", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("genres", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("subgenres", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("danceability", sa.Double(), nullable=True),
        sa.Column("energy", sa.Double(), nullable=True),
        sa.Column("key", sa.SmallInteger(), nullable=True),
        sa.Column("loudness", sa.Double(), nullable=True),
        sa.Column("mode", sa.SmallInteger(), nullable=True),
        sa.Column("speechiness", sa.Double(), nullable=True),
        sa.Column("acousticness", sa.Double(), nullable=True),
        sa.Column("instrumentalness", sa.Double(), nullable=True),
        sa.Column("liveness", sa.Double(), nullable=True),
        sa.Column("valence", sa.Double(), nullable=True),
        sa.Column("tempo", sa.Double(), nullable=True),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "release_precision IN ('day', 'month', 'year')", name="ck_tracks_release_precision"
        ),
    )
    op.create_index("ix_tracks_genres", "tracks", ["genres"], postgresql_using="gin")
    op.create_index(
        "ix_tracks_popularity_track_id", "tracks", [sa.text("popularity DESC"), "track_id"]
    )
    # pg_trgm is a contrib module: every packaged PostgreSQL server has it, but the embedded
    # server from the pgserver wheel does not. There, text search still works by scanning the
    # table (tens of thousands of rows), so the index is created wherever the module exists.
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
                CREATE EXTENSION IF NOT EXISTS pg_trgm;
                CREATE INDEX ix_tracks_search_text_trgm ON tracks
                    USING gin (search_text gin_trgm_ops);
            END IF;
        END
        $$
        """
    )
    op.create_table(
        "catalog_load",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("tracks", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
    )


def downgrade() -> None:
    op.drop_table("catalog_load")
    # The extension stays: other objects may have come to rely on it.
    op.drop_table("tracks")
