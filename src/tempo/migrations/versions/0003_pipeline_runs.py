"""pipeline runs: when, inputs, rows, status, error

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pipeline_run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "started_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),  # running | succeeded | failed
        sa.Column("trigger", sa.Text(), nullable=False),  # api | upload | lambda | cli
        sa.Column("inputs", postgresql.JSONB(), nullable=False, server_default="{}"),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("messages", sa.BigInteger(), nullable=True),
        sa.Column("users", sa.BigInteger(), nullable=True),
        sa.Column("ranked_users", sa.BigInteger(), nullable=True),
        sa.Column("orphan_messages", sa.BigInteger(), nullable=True),
        sa.Column("feed_id", sa.Integer(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed')", name="ck_pipeline_run_status"
        ),
    )
    op.create_index("ix_pipeline_run_started_at", "pipeline_run", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_pipeline_run_started_at", table_name="pipeline_run")
    op.drop_table("pipeline_run")
