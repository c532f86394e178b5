"""The embedded PostgreSQL (the `pgserver` wheel) used when no DATABASE_URL is configured."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tempo.core.logs import get_logger

log = get_logger(__name__)

_servers: dict[Path, Any] = {}


def embedded_database_url(directory: Path) -> str:
    """Start (or join) the embedded server under `directory` and return its asyncpg URL.

    The server stops when the last process using it exits; its data stays on disk.
    """
    pgdata = (directory / "pgdata").resolve()
    if pgdata not in _servers:
        with warnings.catch_warnings():
            # platformdirs warns about an unset XDG_RUNTIME_DIR, normal on servers and in CI.
            warnings.simplefilter("ignore")
            import pgserver  # imported lazily: it is only needed without DATABASE_URL

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        log.info("embedded_postgres_starting", pgdata=str(pgdata))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _servers[pgdata] = pgserver.get_server(pgdata, cleanup_mode="stop")
    server = _servers[pgdata]
    socket_dir = server.get_postmaster_info().socket_dir
    if socket_dir is not None:
        return f"postgresql+asyncpg://postgres@/postgres?host={quote(str(socket_dir))}"
    return f"postgresql+asyncpg://postgres@127.0.0.1:{server.get_postmaster_info().port}/postgres"
