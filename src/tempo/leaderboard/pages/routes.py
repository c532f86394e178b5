"""The leaderboard's pages, under one router: /board, /datamart and /upload."""

from __future__ import annotations

from fastapi import APIRouter

from tempo.leaderboard.pages import board, datamart, upload

router = APIRouter(include_in_schema=False)
router.include_router(board.router)
router.include_router(datamart.router)
router.include_router(upload.router)
