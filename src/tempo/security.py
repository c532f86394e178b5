"""API token checks and confinement of client-given paths to the data directory."""

from __future__ import annotations

import secrets
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tempo.dependencies import SettingsDep
from tempo.errors import ApiError
from tempo.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="The service's API_TOKEN")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def require_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    if credentials is None:
        raise ApiError(
            401,
            "unauthorized",
            "missing 'Authorization: Bearer <token>' header",
            headers=_CHALLENGE,
        )
    if not token_matches(settings, credentials.credentials):
        raise ApiError(403, "forbidden", "the API token is not valid", headers=_CHALLENGE)


def token_matches(settings: Settings, given: str) -> bool:
    """Whether `given` is the API token, compared in constant time (the header, a form)."""
    expected = settings.api_token.get_secret_value().encode()
    return secrets.compare_digest(given.encode(), expected)


Authorized = Depends(require_token)


def resolve_data_path(data_dir: Path, requested: str) -> Path:
    """The file `requested` names inside `data_dir`, refusing anything that leads outside.

    Relative paths are taken from the data directory; an absolute path is accepted only if
    it lies inside it. `..` is refused outright, and symlinks are resolved before the check.
    """
    if "\x00" in requested:
        raise ApiError(400, "invalid_path", "the path contains a NUL byte")
    parts = PurePosixPath(requested).parts + PureWindowsPath(requested).parts
    if ".." in parts:
        raise ApiError(
            400, "invalid_path", "'..' is not allowed in data paths", {"path": requested}
        )
    root = data_dir.resolve()
    candidate = Path(requested)
    candidate = candidate if candidate.is_absolute() else root / candidate
    try:
        resolved = candidate.resolve()
        if not resolved.is_relative_to(root):
            raise ApiError(
                403,
                "outside_data_dir",
                "the path is outside the data directory",
                {"path": requested},
            )
        exists, is_file = resolved.exists(), resolved.is_file()
    except (OSError, RuntimeError) as error:
        # A name the file system refuses (too long, a symlink loop, …) is the client's
        # problem, not an unreachable database, which is what a bare OSError would answer.
        # (Python 3.11 raises RuntimeError for a symlink loop; later versions OSError.)
        # Only the reason: the error's own text names the server's folders.
        reason = error.strerror if isinstance(error, OSError) else None
        reason = (reason or "a symbolic link loop").lower()
        raise ApiError(
            400, "invalid_path", f"the path cannot be used: {reason}", {"path": requested}
        ) from None
    if not exists:
        raise ApiError(404, "file_not_found", f"no such file in the data directory: {requested}")
    if not is_file:
        raise ApiError(400, "not_a_file", f"not a regular file: {requested}")
    return resolved
