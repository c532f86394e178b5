"""API token checks and confinement of client-given paths to the data directory."""

from __future__ import annotations

import errno
import math
import secrets
import time
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.types import Scope

from tempo.core.errors import TempoError
from tempo.core.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="The service's API_TOKEN")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    # The admission layer (tempo.core.admission) has run this same check before the body was
    # read; here it documents the route's security in OpenAPI and guards any other caller.
    guard: TokenGuard = request.state.token_guard
    guard.check(client_address(request.scope), credentials.credentials if credentials else None)


def token_matches(settings: Settings, given: str) -> bool:
    """Whether `given` is the API token, compared in constant time (the header, a form)."""
    expected = settings.api_token.get_secret_value().encode()
    return secrets.compare_digest(given.encode(), expected)


Authorized = Depends(require_token)

# Wrong tokens one client address may send per minute before it is refused (429). Enough
# for a person who mistypes; a guesser gets 10 tries a minute instead of thousands a second.
WRONG_TOKENS_PER_MINUTE = 10


class TokenGuard:
    """The API token check, with a limit on wrong tokens per client address.

    The address is the one the server trusts: uvicorn (and `create_app_behind_proxy` for
    granian) replace the peer with X-Forwarded-For only when the peer is listed in
    FORWARDED_ALLOW_IPS. Only wrong tokens count, so clients that send the right one, or
    none, are never slowed; a client over the limit is refused without its token being
    compared, since answering a right guess would make the limit pointless. The counts
    live in this process (a moving window from the `limits` package), per worker.
    """

    def __init__(self, settings: Settings, per_minute: int = WRONG_TOKENS_PER_MINUTE) -> None:
        self.settings = settings
        self._item = RateLimitItemPerMinute(per_minute)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, client: str | None, given: str | None) -> None:
        """Return if `given` is the token; else raise the 401, 403 or 429 to answer."""
        key = client or "unknown"
        if not self._limiter.test(self._item, key):
            reset, _ = self._limiter.get_window_stats(self._item, key)
            wait = max(1, math.ceil(reset - time.time()))
            raise TempoError(
                429,
                "too_many_attempts",
                f"too many wrong API tokens from this address; try again in {wait} s",
                {"retry_after": wait},
                headers={"Retry-After": str(wait)},
            )
        if not given:
            raise TempoError(
                401,
                "unauthorized",
                "missing 'Authorization: Bearer <token>' header",
                headers=_CHALLENGE,
            )
        if not token_matches(self.settings, given):
            self._limiter.hit(self._item, key)
            raise TempoError(403, "forbidden", "the API token is not valid", headers=_CHALLENGE)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, read as HTTPBearer reads it."""
    scheme, token = get_authorization_scheme_param(authorization)
    return token if scheme.lower() == "bearer" and token else None


def client_address(scope: Scope) -> str | None:
    """The client's address as the server trusts it (see TokenGuard)."""
    client = scope.get("client")
    return str(client[0]) if client else None


def resolve_data_path(data_dir: Path, requested: str) -> Path:
    """The file `requested` names inside `data_dir`, refusing anything that leads outside.

    Relative paths are taken from the data directory; an absolute path is accepted only if
    it lies inside it. `..` is refused outright, and symlinks are resolved before the check.
    """
    if "\x00" in requested:
        raise TempoError(400, "invalid_path", "the path contains a NUL byte")
    parts = PurePosixPath(requested).parts + PureWindowsPath(requested).parts
    if ".." in parts:
        raise TempoError(
            400, "invalid_path", "'..' is not allowed in data paths", {"path": requested}
        )
    root = data_dir.resolve()
    candidate = Path(requested)
    candidate = candidate if candidate.is_absolute() else root / candidate
    try:
        resolved = candidate.resolve()
        if not resolved.is_relative_to(root):
            raise TempoError(
                403,
                "outside_data_dir",
                "the path is outside the data directory",
                {"path": requested},
            )
        exists, regular = resolved.exists(), resolved.is_file()
    except (OSError, RuntimeError) as exc:
        # The file system refused the name itself: the client's to fix, never a 500 (or,
        # as an OSError, the 503 of a lost database). Its message names a server path.
        raise TempoError(
            400, "invalid_path", f"the path cannot be used: {_why(exc)}", {"path": requested}
        ) from None
    if not exists:
        raise TempoError(404, "file_not_found", f"no such file in the data directory: {requested}")
    if not regular:
        raise TempoError(400, "not_a_file", f"not a regular file: {requested}")
    return resolved


def _why(exc: OSError | RuntimeError) -> str:
    if isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP:
        return "it leads into a symbolic link loop"
    if exc.errno == errno.ENAMETOOLONG:
        return "a name in it is longer than the file system allows (255 bytes)"
    return (exc.strerror or type(exc).__name__).lower()
