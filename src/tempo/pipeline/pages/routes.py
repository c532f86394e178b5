"""The pipeline's pages under one router: /datamart (the raw tables) and /upload."""

from __future__ import annotations

from fastapi import APIRouter

from tempo.pipeline.pages import datamart, upload

router = APIRouter(include_in_schema=False)
router.include_router(datamart.router)
router.include_router(upload.router)
