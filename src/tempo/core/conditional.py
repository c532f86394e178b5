"""Conditional GETs (RFC 9110 §8.8.3, §13.1.2, §15.4.5): the one reading of If-None-Match
for every route and the response cache, the ETags they send, and the 304s they answer.

If-None-Match is `*` or a comma-separated list of entity tags, each `"opaque"` or weak
`W/"opaque"`; a GET is answered 304 when any of them matches the current ETag by the weak
comparison (the opaque parts are equal, weak or not), or for `*`. A field that breaks the
grammar matches nothing: the client gets the whole answer, never a wrong 304.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.responses import Response

# etagc (RFC 9110 §8.8.3): any visible character but DQUOTE, or obs-text; no spaces.
_ETAGC = r"[\x21\x23-\x7e\x80-\xff]*"
_OPAQUE_TAG = re.compile(_ETAGC)
_ENTITY_TAG = rf'(?:W/)?"{_ETAGC}"'
# A list (RFC 9110 §5.6.1) may hold empty elements: `, "a",, "b"` is two tags.
_TAG_LIST = re.compile(rf"[ \t,]*{_ENTITY_TAG}(?:[ \t]*,[ \t,]*{_ENTITY_TAG})*[ \t,]*")
_OPAQUE = re.compile(rf'"({_ETAGC})"')

# What a 304 keeps of the 200 it stands for (RFC 9110 §15.4.5): not the content's type or
# length, which the client's stored copy already has.
NOT_MODIFIED_FIELDS = frozenset(
    {b"cache-control", b"content-location", b"date", b"etag", b"expires", b"vary"}
)


def entity_tag(opaque: str) -> str:
    """A strong ETag header value: `opaque` in double quotes."""
    if _OPAQUE_TAG.fullmatch(opaque) is None:
        raise ValueError(f"an entity tag cannot hold {opaque!r}")
    return f'"{opaque}"'


def content_tag(content: bytes) -> str:
    """A strong ETag for exactly these bytes."""
    return f'"{hashlib.sha256(content).hexdigest()[:32]}"'


def read_if_none_match(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """If-None-Match from raw (ASGI) headers. Several lines are one list (RFC 9110 §5.3):
    they are joined by commas."""
    lines = [value for name, value in headers if name == b"if-none-match"]
    if not lines:
        return None
    return lines[0].decode("latin-1") if len(lines) == 1 else b", ".join(lines).decode("latin-1")


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Does the If-None-Match field name `etag`? True: the client's copy is current, and a
    GET is answered 304."""
    if if_none_match is None:
        return False
    if if_none_match == etag:  # what nearly every revalidation sends: no parsing
        return True
    if if_none_match.strip(" \t") == "*":
        return True
    if _TAG_LIST.fullmatch(if_none_match) is None:
        return False
    current = _OPAQUE.search(etag)
    return current is not None and current.group(1) in _OPAQUE.findall(if_none_match)


def not_modified(if_none_match: str | None, headers: Mapping[str, str]) -> Response | None:
    """A 304 carrying `headers` (the ETag among them) when If-None-Match names that ETag;
    None when the route answers in full, with the same `headers`."""
    if not none_match(if_none_match, headers["ETag"]):
        return None
    return Response(status_code=304, headers=dict(headers))


def not_modified_headers(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The raw headers of a 200 that its 304 keeps."""
    return [(name, value) for name, value in headers if name in NOT_MODIFIED_FIELDS]


async def _if_none_match(
    request: Request, if_none_match: Annotated[str | None, Header()] = None
) -> str | None:
    # The parameter puts the header in the OpenAPI document; its value would be the first
    # line only, so every line is read from the request.
    if if_none_match is None:
        return None
    return read_if_none_match(request.scope["headers"])


# If-None-Match, documented: for routes that send an ETag.
IfNoneMatch = Annotated[str | None, Depends(_if_none_match)]
