from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Integer,
    Text,
)
from sqlmodel import Field, SQLModel


class MajorRow(SQLModel, table=True):
    """One college major, as of the Delta table version in `delta_version`."""

    __tablename__ = "majors"

    major_code: int = Field(sa_column=Column(Integer, primary_key=True))
    major: str = Field(sa_column=Column(Text, nullable=False))
    major_category: str = Field(sa_column=Column(Text, nullable=False))
    rank: int = Field(sa_column=Column(Integer, nullable=False))
    total: int = Field(sa_column=Column(BigInteger, nullable=False))
    men: int = Field(sa_column=Column(BigInteger, nullable=False))
    women: int = Field(sa_column=Column(BigInteger, nullable=False))
    share_women: float = Field(sa_column=Column(Double, nullable=False))
    median_earnings: int = Field(sa_column=Column(Integer, nullable=False))
    delta_version: int = Field(sa_column=Column(BigInteger, nullable=False))
