"""structlog, configured once per process, also rendering stdlib records (uvicorn, SQLAlchemy).

Tempo's own loggers are structlog's, writing straight to stderr: no stdlib LogRecord,
handler or lock on the way, which makes a line about three times cheaper. Records from
other libraries go through `logging` and are rendered by the same processors.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sys
import threading
from contextvars import ContextVar
from json.encoder import encode_basestring_ascii
from typing import Any, Literal

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

SECRET_KEYS = frozenset({"authorization", "api_token", "token", "password", "database_url", "dsn"})
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]+):[^@\s]+@", re.IGNORECASE)
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")


# The id of the request being served, set by the request middleware. One ContextVar costs
# less than structlog's bound_contextvars, and every access line would pay for that.
REQUEST_ID: ContextVar[str | None] = ContextVar("tempo_request_id", default=None)


def _scrub(value: str) -> str:
    # The substring tests are cheap; most values (paths, names) need no regex at all.
    if "@" in value:
        value = _URL_PASSWORD.sub(r"\g<scheme>:[redacted]@", value)
    if "bearer" in value.lower():  # any case, as the regex matches
        value = _BEARER.sub(r"\1[redacted]", value)
    return value


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Never let a token or a connection-string password reach a log line."""
    for key, value in event_dict.items():
        if key.lower() in SECRET_KEYS:
            event_dict[key] = "[redacted]"
        elif isinstance(value, str):
            event_dict[key] = _scrub(value)
    return event_dict


def add_request_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def drop_color_message(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """uvicorn adds an ANSI-coloured copy of each message; the renderer has its own colours."""
    event_dict.pop("color_message", None)
    return event_dict


_lock = threading.Lock()  # lines written from worker threads must not interleave


def write_line(message: str) -> None:
    with _lock:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()


class StderrLogger:
    """Writes each rendered line to the current `sys.stderr`, looked up per line (a test's
    capture, a reconfigured stream) and carries the name `add_logger_name` adds to it."""

    def __init__(self, name: str | None = None, *_: Any) -> None:
        self.name = name

    def msg(self, message: str) -> None:
        write_line(message)

    debug = info = warning = warn = error = err = critical = exception = fatal = log = msg


ACCESS_LOGGER = "tempo.access"
_UTC = dt.UTC


class AccessLog:
    """The request middleware's access line, `request` at INFO on `tempo.access`.

    In JSON it is rendered here, from a template, rather than through structlog's processor
    chain: the same fields in the same order, the same JSON (ASCII-escaped strings, the
    same timestamp), but a quarter of the cost, and production samples one request in ten
    through it. The line carries exactly these fields: nothing binds structlog context
    variables around a request. The console format (development) goes through structlog.
    """

    def __init__(self) -> None:
        self.enabled = True  # INFO passes the configured level
        self.json = True

    def configure(self, level: str, fmt: Literal["json", "console"]) -> None:
        self.enabled = logging.getLevelNamesMapping()[level] <= logging.INFO
        self.json = fmt == "json"

    def write(
        self, method: str, path: str, status: int, duration_ms: float, client: str | None,
        request_id: str | None,
    ) -> None:  # fmt: skip
        if not self.enabled:
            return
        if not self.json:
            get_logger(ACCESS_LOGGER).info(
                "request", method=method, path=path, status=status,
                duration_ms=duration_ms, client=client,
            )  # fmt: skip
            return
        # As redact_secrets: none of these names is secret, every string is scrubbed.
        quoted = encode_basestring_ascii  # what json.dumps writes for a str
        who = "null" if client is None else quoted(_scrub(client))
        rid = "" if request_id is None else f'"request_id": {quoted(request_id)}, '
        # TimeStamper(fmt="iso", utc=True) writes exactly this timestamp.
        now = dt.datetime.now(tz=_UTC).isoformat().replace("+00:00", "Z")
        line = (
            f'{{"method": {quoted(_scrub(method))}, "path": {quoted(_scrub(path))}, '
            f'"status": {status}, "duration_ms": {duration_ms!r}, "client": {who}, '
            f'"event": "request", "logger": "{ACCESS_LOGGER}", {rid}'
            f'"level": "info", "timestamp": "{now}"}}'
        )
        write_line(line)


access_log = AccessLog()


def configure_logging(level: str = "INFO", fmt: Literal["json", "console"] = "json") -> None:
    shared: list[Processor] = [
        structlog.stdlib.add_logger_name,
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_secrets,
    ]
    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer()

    access_log.configure(level, fmt)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        logger_factory=StderrLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), drop_color_message],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)

    # uvicorn installs its own handlers; route its records through ours instead.
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # Its access log is replaced by the request middleware, which knows the request id. With
    # no handler on its way, uvicorn does not even build the line (it asks hasHandlers()).
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
    # Alembic narrates every context it opens, which /readyz does on each call; pgserver
    # narrates every pg_ctl call, some of them at interpreter exit.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    logging.getLogger("sqlalchemy.engine").setLevel(
        logging.INFO if level == "DEBUG" else logging.WARNING
    )


def get_logger(name: str | None = None, **initial: Any) -> structlog.typing.FilteringBoundLogger:
    """A logger for Tempo's own lines; its name goes into each line as `logger`."""
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name, **initial)
    return logger
