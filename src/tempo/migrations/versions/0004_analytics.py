"""analytics: college majors (mirror of the Delta table) and imported people

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "majors",
        sa.Column("major_code", sa.Integer(), primary_key=True),
        sa.Column("major", sa.Text(), nullable=False),
        sa.Column("major_category", sa.Text(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("men", sa.BigInteger(), nullable=False),
        sa.Column("women", sa.BigInteger(), nullable=False),
        sa.Column("share_women", sa.Double(), nullable=False),
        sa.Column("median_earnings", sa.Integer(), nullable=False),
        sa.Column("delta_version", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "people",
        sa.Column("source_row", sa.Integer(), primary_key=True),
        sa.Column("full_name", sa.Text(), nullable=True),
        sa.Column("obfuscated_email", sa.Text(), nullable=False),
        sa.Column("email_hash", sa.Text(), nullable=False),
        sa.Column("ip_address", postgresql.INET(), nullable=False),
        sa.Column("is_public_ip", sa.Boolean(), nullable=False),
        sa.Column(
            "extra", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.CheckConstraint("email_hash IN ('hmac-sha256', 'md5')", name="ck_people_email_hash"),
    )
    op.create_index("ix_people_obfuscated_email", "people", ["obfuscated_email"])


def downgrade() -> None:
    op.drop_index("ix_people_obfuscated_email", table_name="people")
    op.drop_table("people")
    op.drop_table("majors")
