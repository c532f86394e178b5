"""A failing database as a client is told of it, once for the API, the pages and the CLI.

`database_error(exc)` is the TempoError (always a 503) that a lost, silent, busy or
unmigrated database means, or None when `exc` is some other failure:

- unreachable, refusing or silent past COMMAND_TIMEOUT: `database_unavailable`, Retry-After
- a statement cancelled at the server's statement limit: `statement_timeout`, Retry-After
- a table or column missing (not migrated): `schema_missing`, no Retry-After (waiting
  does not help; `tempo migrate` does)
- every pooled connection in use for the pool's whole wait: `database_busy`, Retry-After 1
- the server answered but refused the login or has no such database: `database_misconfigured`,
  no Retry-After (waiting does not help; DATABASE_URL does)
"""

from __future__ import annotations

import logging

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from tempo.core.db import COMMAND_TIMEOUT, STATEMENT_TIMEOUT_MS, driver_errors
from tempo.core.errors import RETRY_AFTER_SECONDS, TempoError

# What a lost, unreachable or refusing database raises, through SQLAlchemy or from asyncpg.
DATABASE_DOWN_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.exceptions.OperatorInterventionError,  # 57: shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # 53: too many connections, disk full
    asyncpg.exceptions.ObjectNotInPrerequisiteStateError,  # database not accepting connections
    asyncpg.exceptions.InvalidCatalogNameError,  # the database does not exist
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,  # 28: login refused
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
)
SCHEMA_MISSING_ERRORS = (
    asyncpg.exceptions.UndefinedTableError,
    asyncpg.exceptions.UndefinedColumnError,
)
# Every class `database_error` may recognise …
DATABASE_FAILURES: tuple[type[Exception], ...] = (
    DBAPIError,
    asyncpg.PostgresError,
    PoolTimeoutError,
    *DATABASE_DOWN_ERRORS,
)
# … and with TempoError, every one a surface may answer as a TempoError: for a page's
# `except`, and for the API's handler, registered per class (see tempo.core.api_errors).
KNOWN_FAILURES: tuple[type[Exception], ...] = (TempoError, *DATABASE_FAILURES)

SCHEMA_MISSING_MESSAGE = "the database schema is missing or behind; run `tempo migrate`"
STATEMENT_TIMEOUT_MESSAGE = (
    f"the database is up, but this request's work took over {STATEMENT_TIMEOUT_MS / 1000:g} s "
    "and was stopped (the server is busy, or the request asks for much); try again shortly"
)


class DatabaseUnavailable(TempoError):
    """The database cannot be reached or stopped answering. `reason` is the driver's own
    line, which tells whoever runs a command more than the API's wording."""

    event = "database_unavailable"

    def __init__(
        self,
        reason: str,
        code: str = "database_unavailable",
        message: str = "the database is unreachable; try again shortly",
    ) -> None:
        super().__init__(503, code, message, headers={"Retry-After": RETRY_AFTER_SECONDS})
        self.reason = reason


class StatementTimeout(DatabaseUnavailable):
    """The server cancelled a statement at its statement limit (SQLSTATE 57014): the
    database answered, the work was too slow. Still a 503 everywhere (it is usually load,
    and passes), but not worded as a lost database where a surface can say more."""

    event = "statement_timeout"

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "statement_timeout", STATEMENT_TIMEOUT_MESSAGE)


class SchemaMissing(TempoError):
    event = "database_schema_missing"
    level = logging.ERROR

    def __init__(self) -> None:
        super().__init__(503, "schema_missing", SCHEMA_MISSING_MESSAGE)


class DatabaseMisconfigured(TempoError):
    """The server is up and says no: the database in DATABASE_URL does not exist, or the
    login is refused. Not "try again": it stays so until an operator changes something.
    The driver's line (naming the database or role) goes to the log, not to the client."""

    event = "database_misconfigured"
    level = logging.ERROR

    def __init__(self, reason: str) -> None:
        super().__init__(
            503,
            "database_misconfigured",
            "the database server refused the connection (no such database, or the login "
            "was refused); check DATABASE_URL",
        )
        self.reason = reason


MISCONFIGURED_ERRORS = (
    asyncpg.exceptions.InvalidCatalogNameError,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
)


class DatabaseBusy(TempoError):
    """Every pooled connection stayed in use for the whole wait: overload, not a fault."""

    event = "database_busy"

    def __init__(self) -> None:
        super().__init__(
            503,
            "database_busy",
            "every database connection is busy; try again shortly",
            headers={"Retry-After": "1"},
        )


def database_error(exc: BaseException) -> TempoError | None:
    """What `exc` means to a client if the database caused it (its __cause__ is `exc`)."""
    error: TempoError
    if isinstance(exc, PoolTimeoutError):
        error = DatabaseBusy()
    elif is_schema_missing(exc):
        error = SchemaMissing()
    elif not is_database_unavailable(exc):
        return None
    elif any(isinstance(e, MISCONFIGURED_ERRORS) for e in driver_errors(exc)):
        error = DatabaseMisconfigured(database_failure(exc))
    elif is_statement_timeout(exc):
        error = StatementTimeout(database_failure(exc))
    else:
        error = DatabaseUnavailable(database_failure(exc))
    error.__cause__ = exc
    return error


def is_schema_missing(exc: BaseException) -> bool:
    return any(isinstance(e, SCHEMA_MISSING_ERRORS) for e in driver_errors(exc))


def is_statement_timeout(exc: BaseException) -> bool:
    return any(isinstance(e, asyncpg.exceptions.QueryCanceledError) for e in driver_errors(exc))


def is_database_unavailable(exc: BaseException) -> bool:
    """Lost, unreachable, refusing or silent; a statement timeout counts (asyncpg's
    QueryCanceledError is an OperatorInterventionError)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return any(
        isinstance(e, DATABASE_DOWN_ERRORS) and not _names_a_file(e) for e in driver_errors(exc)
    )


def _names_a_file(exc: BaseException) -> bool:
    """An OSError about a file (it carries the file's name): the file system's problem, not
    a lost connection, so not a 503 "database unavailable"."""
    return isinstance(exc, OSError) and exc.filename is not None


def database_failure(exc: BaseException) -> str:
    """One line on a lost or silent database; a driver timeout has no message of its own."""
    causes = driver_errors(exc)
    if any(isinstance(e, TimeoutError) for e in causes):
        return f"the database did not answer within {COMMAND_TIMEOUT} s"
    # The driver's own error says most (not a wrapper such as a failed pipeline run).
    driver = next((e for e in causes if isinstance(e, DATABASE_DOWN_ERRORS)), exc)
    first_line = (str(driver).strip().splitlines() or [""])[0]
    return f"{type(driver).__name__}: {first_line}".rstrip(": ")
