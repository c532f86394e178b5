"""Tempo: CSV pipelines with Polars, PostgreSQL and an async FastAPI service."""

from __future__ import annotations

from functools import cache


@cache
def _version() -> str:
    from importlib.metadata import version

    return version("tempo")


def __getattr__(name: str) -> str:
    # `__version__` is read from the installed metadata on first use: importlib.metadata
    # costs some 30 ms, which every `tempo --help` would pay for nothing.
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
