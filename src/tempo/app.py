"""The application factory: `uvicorn --factory tempo.app:create_app` or `tempo serve`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo import __version__
from tempo.catalog.routes import router as catalog_router
from tempo.db import create_engine, database_url, migrate
from tempo.errors import install_error_handlers
from tempo.leaderboard.routes import router as leaderboard_router
from tempo.logs import configure_logging, get_logger
from tempo.middleware import RequestContextMiddleware
from tempo.ops.routes import router as ops_router
from tempo.schedule.routes import router as schedule_router
from tempo.settings import Settings
from tempo.web.routes import router as web_router

log = get_logger(__name__)

DESCRIPTION = """
Tempo turns raw CSV data into served results: support messages and users become a ranked
**leaderboard**, loaded atomically into PostgreSQL and served as JSON.

Write routes need `Authorization: Bearer <API_TOKEN>`. Every error has the shape
`{"error": {"code": "…", "message": "…", "details": …}}`.
"""


class State(TypedDict):
    settings: Settings
    engine: AsyncEngine


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.resolved_log_format)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        engine = create_engine(database_url(settings))
        if settings.uses_embedded_database:
            await migrate(engine)
        if settings.api_token_is_placeholder:
            log.warning("api_token_is_placeholder", hint="set API_TOKEN before exposing Tempo")
        log.info("startup", environment=settings.environment, version=__version__)
        try:
            yield {"settings": settings, "engine": engine}
        finally:
            await engine.dispose()
            log.info("shutdown")

    app = FastAPI(
        title="Tempo",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.add_middleware(RequestContextMiddleware)
    install_error_handlers(app)
    app.include_router(ops_router)
    app.include_router(leaderboard_router)
    app.include_router(catalog_router)
    app.include_router(schedule_router)
    app.include_router(web_router)
    return app
