"""The application factory: `tempo serve`, or `uvicorn --factory tempo.app:create_app`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypedDict

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from tempo import __version__
from tempo.analytics.pages.routes import router as analytics_page_router
from tempo.analytics.routes import router as analytics_router
from tempo.catalog.index import CatalogIndexes
from tempo.catalog.routes import router as catalog_router
from tempo.core.admission import AdmissionMiddleware, BodyPace, token_routes
from tempo.core.api_errors import install_error_handlers
from tempo.core.cache import CHANNELS, ResponseCache, ResponseCacheMiddleware, listen_for_changes
from tempo.core.db import asyncpg_dsn, create_engine, database_url, migrate
from tempo.core.json_body import document_models
from tempo.core.limits import ConcurrencyLimitMiddleware, install_limits
from tempo.core.logs import configure_logging, get_logger
from tempo.core.metrics import Metrics
from tempo.core.middleware import RequestContextMiddleware
from tempo.core.security import TokenGuard
from tempo.core.settings import Settings
from tempo.core.sources import ObjectStorage
from tempo.images.pages.routes import router as images_page_router
from tempo.images.routes import router as images_router
from tempo.images.upload import body_limit as image_body_limit
from tempo.leaderboard.pages.routes import router as leaderboard_pages_router
from tempo.leaderboard.routes import router as leaderboard_router
from tempo.ops.routes import router as ops_router
from tempo.pipeline.pages.routes import router as pipeline_pages_router
from tempo.pipeline.routes import router as pipeline_router
from tempo.pipeline.uploads import upload_ceiling
from tempo.schedule.pages.routes import router as schedule_pages_router
from tempo.schedule.routes import MAX_BODY_BYTES as SCHEDULE_MAX_BODY_BYTES
from tempo.schedule.routes import router as schedule_router
from tempo.schedule.schemas import ScheduleRequest
from tempo.site.api_docs import install_api_docs
from tempo.site.chrome import router as site_router

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
    cache: ResponseCache
    catalog_index: CatalogIndexes
    storage: ObjectStorage | None  # None: object storage is not configured
    token_guard: TokenGuard
    metrics: Metrics | None  # None: METRICS=false


# Read-mostly GET routes answered from the response cache, by topic …
CACHED_READS = {"/leaderboard": "leaderboard", "/tracks": "catalog"}
# … and the writes that change a topic (other processes learn of them by NOTIFY).
TOPIC_WRITES = {
    "/feed": "leaderboard",
    "/feed/s3": "leaderboard",
    "/pipeline/run": "leaderboard",
    "/uploads": "leaderboard",
    "/upload": "leaderboard",  # the upload page
}

# The largest body each route reads; every other route takes DEFAULT_BODY_LIMIT, which is
# far more than the JSON of POST /feed, /feed/s3 or /pipeline/run needs. The uploads'
# limit depends on MAX_UPLOAD_BYTES (see `body_limits`).
DEFAULT_BODY_LIMIT = 64 * 1024
PLANNER_FORM_LIMIT = 1024 * 1024  # the planner page's form: 50 rows a section at most


def body_limits(settings: Settings) -> dict[str, int]:
    uploads = upload_ceiling(settings.max_upload_bytes)
    images = image_body_limit(settings.image_max_bytes)
    return {
        "/schedule": SCHEDULE_MAX_BODY_BYTES,
        "/": PLANNER_FORM_LIMIT,
        "/plan.ics": PLANNER_FORM_LIMIT,
        "/uploads": uploads,
        "/upload": uploads,  # the upload page
        "/images/classify": images,
        "/classify": images,  # the classify page
    }


class TempoAPI(FastAPI):
    """FastAPI with Tempo's request layers outside FastAPI's own middleware stack.

    Every request gets its id and access line, and a cached answer is sent, before FastAPI's
    error-page, body-limit and exception layers: on a cache hit those cost about as much as
    the rest of its way through Python (~5 µs), and a 500 from them still gets an id and a
    line. Between the cache and FastAPI, the admission layer checks the token and caps the
    body before FastAPI reads it (tempo.core.admission); cache hits never pass through it.
    """

    def __init__(self, *, response_cache: ResponseCache, catalog_index: CatalogIndexes,
                 access_log_sample_rate: float, token_guard: TokenGuard,
                 body_limits: dict[str, int], body_pace: BodyPace,
                 metrics: Metrics | None = None, **kwargs: Any) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.body_pace = body_pace
        self.metrics = metrics
        self.response_cache = response_cache
        self.catalog_index = catalog_index
        self.access_log_sample_rate = access_log_sample_rate
        self.token_guard = token_guard
        self.body_limits = body_limits

    def build_middleware_stack(self) -> ASGIApp:
        fastapi_stack = super().build_middleware_stack()
        # Inside the cache: only misses count against the limits on expensive routes.
        limited = ConcurrencyLimitMiddleware(fastapi_stack)
        admitted = AdmissionMiddleware(
            limited,
            self.token_guard,
            tokens=token_routes(self.routes),
            limits=self.body_limits,
            default_limit=DEFAULT_BODY_LIMIT,
            pace=self.body_pace,
        )
        cached = ResponseCacheMiddleware(
            admitted, self.response_cache, reads=CACHED_READS, writes=TOPIC_WRITES
        )
        return RequestContextMiddleware(
            cached, sample_rate=self.access_log_sample_rate, metrics=self.metrics,
            routes=self.routes,
        )  # fmt: skip


def create_app(settings: Settings | None = None) -> TempoAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.resolved_log_format)
    cache = ResponseCache(CHANNELS.values())
    # The catalog in memory for POST /schedule's look-ups, dropped whenever the catalog
    # topic is (a load's NOTIFY, a reconnected listener).
    catalog_index = CatalogIndexes(cache.listening)
    cache.watch("catalog", catalog_index.invalidate)
    guard = TokenGuard(settings)
    metrics = Metrics.from_environment() if settings.metrics else None

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[State]:
        url = database_url(settings)
        engine = create_engine(url)
        storage = ObjectStorage.from_settings(settings) if settings.object_storage_enabled else None
        if settings.uses_embedded_database:
            await migrate(engine)
        listener = asyncio.create_task(listen_for_changes(asyncpg_dsn(url), cache))
        flusher = None
        if metrics is not None:
            metrics.bind(engine, cache)
            flusher = asyncio.create_task(metrics.flush_forever())
        # Start caching with the first requests, unless the database is not there yet.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(cache.listening.wait(), timeout=2)
        # What exists now lives as long as the process: keep it out of every later garbage
        # collection, which would otherwise walk all ~200k objects (~0.2 s of this worker).
        gc.freeze()
        if settings.api_token_is_placeholder:
            log.warning("api_token_is_placeholder", hint="set API_TOKEN before exposing Tempo")
        log.info("startup", environment=settings.environment, version=__version__)
        try:
            yield {
                "settings": settings,
                "engine": engine,
                "cache": cache,
                "catalog_index": catalog_index,
                "storage": storage,
                "token_guard": guard,
                "metrics": metrics,
            }
        finally:
            for task in (listener, flusher):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if metrics is not None:
                metrics.flush()  # this worker's last requests, for the next scrape
            await engine.dispose()
            log.info("shutdown")

    app = TempoAPI(
        response_cache=cache,
        catalog_index=catalog_index,
        access_log_sample_rate=settings.resolved_access_log_sample_rate,
        token_guard=guard,
        body_limits=body_limits(settings),
        body_pace=BodyPace(settings.body_timeout_seconds, settings.body_min_rate),
        metrics=metrics,
        title="Tempo",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # FastAPI's own /docs and /redoc load Swagger UI and ReDoc from a CDN: Tempo serves
        # them from a package instead (install_api_docs below).
        docs_url=None,
        redoc_url=None,
        # FastAPI's OpenTelemetry bridge asks the global providers on every request whether
        # anyone configured them (~12 µs, as long as a whole cached answer); Tempo exports
        # no traces; its metrics are its own (tempo.core.metrics, GET /metrics).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    install_error_handlers(app)
    install_limits(app)
    # FastAPI tries routers in this order on every request that misses the response
    # cache: the busiest uncached route first (each router passed costs ~10 µs).
    app.include_router(schedule_router)
    app.include_router(ops_router)
    app.include_router(leaderboard_router)
    app.include_router(pipeline_router)
    app.include_router(catalog_router)
    app.include_router(schedule_pages_router)
    app.include_router(site_router)
    app.include_router(analytics_router)
    app.include_router(analytics_page_router)
    app.include_router(leaderboard_pages_router)
    app.include_router(pipeline_pages_router)
    app.include_router(images_router)
    app.include_router(images_page_router)
    install_api_docs(app)
    # Bodies that routes read with tempo.core.json_body rather than from their signature.
    document_models(app, ScheduleRequest)
    return app


def create_app_behind_proxy() -> ASGIApp:
    """`create_app()` for granian, which leaves proxy headers to the app: the client address
    and scheme come from X-Forwarded-For/-Proto when the peer is trusted (FORWARDED_ALLOW_IPS,
    default 127.0.0.1; `*` behind a load balancer), as uvicorn does by itself."""
    from granian.utils.proxies import wrap_asgi_with_proxy_headers

    trusted = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
    return wrap_asgi_with_proxy_headers(create_app(), trusted)  # type: ignore[no-any-return]
