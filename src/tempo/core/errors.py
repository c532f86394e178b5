"""TempoError: the one base of every error that means something to a client.

Each carries what any surface answers with: a `status` (HTTP), a `code`, a `message`,
`details` and, where they help, `headers` (Retry-After). The JSON API answers them in
one shape (tempo.core.api_errors), a page shows them as its notice (tempo.site.chrome),
a command prints `error: <message>` (tempo.core.cli.support). A failing database becomes
one in tempo.core.db_errors.

Only the standard library is imported here: every layer raises these, and the command
line tells them apart without loading a web framework or a database driver.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, Self

# How long a client should wait after a 503 for something that is down or busy.
RETRY_AFTER_SECONDS = "5"


class Logger(Protocol):
    def log(self, level: int, event: str, **fields: Any) -> Any: ...


class TempoError(Exception):
    # Logged where it is answered only when the trouble is the server's (a lost database,
    # a busy job): a refused request says all it needs to in the access line.
    event: str | None = None
    level = logging.WARNING

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers

    def naming(self, **facts: Any) -> Self:
        """The same error with `facts` added to its details (a mapping, or none), such as
        the recorded run a failure ended; returned for `raise`."""
        self.details = {**(self.details or {}), **facts}
        return self

    def log_fields(self) -> dict[str, Any]:
        """What its log line says besides the event: the failure underneath, if any."""
        cause = self.__cause__
        if cause is None:
            return {}
        # SQLAlchemy appends a link to its documentation; the first line is the error.
        detail = (str(cause).strip().splitlines() or [""])[0].split(" (Background on")[0]
        return {"error": type(cause).__name__, "detail": detail}

    def log_to(self, log: Logger) -> None:
        if self.event is not None:
            log.log(self.level, self.event, **self.log_fields())
