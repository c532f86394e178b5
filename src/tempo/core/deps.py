"""Annotated dependency aliases shared by every domain's routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from tempo.core.metrics import Metrics
from tempo.core.settings import Settings
from tempo.core.sources import ObjectStorage


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


async def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.state.engine
    return engine


def open_session(request: Request) -> AsyncSession:
    """The one way a route reaches the database: a session on the app's engine, which
    takes a connection at its first statement. Routes declare it (`SessionDep`, closed
    after the answer); one that needs it only sometimes and is too busy to pay for the
    declaration (POST /schedule) opens it here itself."""
    return AsyncSession(request.state.engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with open_session(request) as session:
        yield session


async def get_optional_storage(request: Request) -> ObjectStorage | None:
    storage: ObjectStorage | None = request.state.storage
    return storage


async def get_metrics(request: Request) -> Metrics | None:
    metrics: Metrics | None = request.state.metrics
    return metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
# Only for work a session cannot do: COPY and the pipeline's lock, which hold connections of
# their own, and probes that must give theirs back within a timeout. Each use says why.
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
# None without object storage: S3 routes answer 503, the pipeline uses the data directory.
OptionalStorageDep = Annotated[ObjectStorage | None, Depends(get_optional_storage)]
# None when METRICS=false.
MetricsDep = Annotated[Metrics | None, Depends(get_metrics)]
