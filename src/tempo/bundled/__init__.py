"""Data files that ship inside the package, so an installed Tempo needs no download.

SOURCES.md beside them names each file's origin, licence, size and SHA-256.
"""

from __future__ import annotations

from pathlib import Path

BUNDLED_DIR = Path(__file__).resolve().parent
# Tempo's own leaderboard sample (written by samples/make_samples.py): the demo data.
SAMPLE_MESSAGES = BUNDLED_DIR / "messages.csv"
SAMPLE_USERS = BUNDLED_DIR / "users.csv"
# FiveThirtyEight's college-majors/women-stem.csv, unchanged (CC BY 4.0).
WOMEN_STEM = BUNDLED_DIR / "women-stem.csv"
