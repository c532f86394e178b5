"""structlog, configured once per process, also rendering stdlib records (uvicorn, SQLAlchemy)."""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

SECRET_KEYS = frozenset({"authorization", "api_token", "token", "password", "database_url", "dsn"})
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]+):[^@\s]+@", re.IGNORECASE)
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")


def _scrub(value: str) -> str:
    return _BEARER.sub(r"\1[redacted]", _URL_PASSWORD.sub(r"\g<scheme>:[redacted]@", value))


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Never let a token or a connection-string password reach a log line."""
    for key, value in event_dict.items():
        if key.lower() in SECRET_KEYS:
            event_dict[key] = "[redacted]"
        elif isinstance(value, str):
            event_dict[key] = _scrub(value)
    return event_dict


def drop_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """uvicorn adds an ANSI-coloured copy of each message; the renderer has its own colours."""
    event_dict.pop("color_message", None)
    return event_dict


def configure_logging(level: str = "INFO", fmt: Literal["json", "console"] = "json") -> None:
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        drop_color_message,
        redact_secrets,
    ]
    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer()

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)

    # uvicorn installs its own handlers; route its records through ours instead. Its access
    # log is replaced by the request middleware, which knows the request id.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic narrates every context it opens, which /readyz does on each call; pgserver
    # narrates every pg_ctl call, some of them at interpreter exit.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    logging.getLogger("sqlalchemy.engine").setLevel(
        logging.INFO if level == "DEBUG" else logging.WARNING
    )


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **initial)
    return logger
