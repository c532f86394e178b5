"""The people table: imported people without first name, last name or e-mail address."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, CheckConstraint, Column, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlmodel import Field, SQLModel

HASHES = ("hmac-sha256", "md5")


class Person(SQLModel, table=True):
    """One imported person, without first name, last name or e-mail address."""

    __tablename__ = "people"
    __table_args__ = (
        Index("ix_people_obfuscated_email", "obfuscated_email"),
        CheckConstraint("email_hash IN ('hmac-sha256', 'md5')", name="ck_people_email_hash"),
    )

    # The data row of the imported file (header not counted), so an error report and the
    # table point at the same rows.
    source_row: int = Field(sa_column=Column(Integer, primary_key=True))
    full_name: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    obfuscated_email: str = Field(sa_column=Column(Text, nullable=False))
    email_hash: str = Field(sa_column=Column(Text, nullable=False))
    ip_address: str = Field(sa_column=Column(INET, nullable=False))
    is_public_ip: bool = Field(sa_column=Column(Boolean, nullable=False))
    # Every other column of the file, as text, under its own name.
    extra: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
