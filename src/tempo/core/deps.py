"""Annotated dependency aliases shared by every domain's routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from tempo.core.settings import Settings
from tempo.core.sources import ObjectStorage


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.state.settings
    return settings


async def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.state.engine
    return engine


async def get_session(
    engine: Annotated[AsyncEngine, Depends(get_engine)],
) -> AsyncIterator[AsyncSession]:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        yield session


async def get_optional_storage(request: Request) -> ObjectStorage | None:
    storage: ObjectStorage | None = request.state.storage
    return storage


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
# None without object storage: S3 routes answer 503, the pipeline uses the data directory.
OptionalStorageDep = Annotated[ObjectStorage | None, Depends(get_optional_storage)]
