"""Query parameters that mean exactly what the OpenAPI document says, and the paging of
every list route: its `limit` and `offset` (`paging`), and its answer (`Page`).

An integer parameter is `Annotated[int, Field(ge=…, le=…), WHOLE_NUMBER, Query(…)]`: bounds
come before the validator, so that the document shows them as `minimum` and `maximum`.
"""

# No `from __future__ import annotations` here: `paging` builds its parameters' annotations
# from its arguments, and FastAPI reads them from the function it returns, so they must be
# objects rather than names to look up in this module.

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar, Unpack

from fastapi import Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from tempo.core.db import MAX_OFFSET

_DIGITS = re.compile(r"-?[0-9]+")


def _whole_number(value: Any) -> Any:
    # pydantic reads "2.0", " 2" and "2_000" as integers; the document promises an integer,
    # written as one, so those are refused like any other non-integer (422).
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise PydanticCustomError(
            "int_parsing", "Input should be a valid integer, unable to parse string as an integer"
        )
    return value


WHOLE_NUMBER = BeforeValidator(_whole_number)

# PostgreSQL takes OFFSET as a bigint.
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET), WHOLE_NUMBER]


@dataclass(frozen=True, slots=True)
class Paging:
    limit: int
    offset: int


def paging(*, default: int, maximum: int, rows: str = "Rows") -> Callable[..., Awaitable[Paging]]:
    """The dependency that reads a list route's `limit` (1 to `maximum`, else 422; `default`
    when absent) and `offset` (0 to PostgreSQL's largest), documented as `rows` per page and
    `rows` to skip: `page: Annotated[Paging, Depends(paging(default=20, maximum=100))]`."""

    async def read_paging(
        limit: Annotated[
            int, Field(ge=1, le=maximum), WHOLE_NUMBER, Query(description=f"{rows} per page")
        ] = default,
        offset: Annotated[Offset, Query(description=f"{rows} to skip")] = 0,
    ) -> Paging:
        return Paging(limit, offset)

    return read_paging


Row = TypeVar("Row")


class Page(BaseModel, Generic[Row]):
    """What a list route answers: one page of its rows, then how many there are in all.

    In JSON the rows are under the route's own name (`leaderboard`, `tracks`, `runs`), given
    by `rows_named` in the subclass's config; a subclass also says what its `total` counts.
    """

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    rows: list[Row]
    total: int


def rows_named(name: str, **config: Unpack[ConfigDict]) -> ConfigDict:
    """A `Page` subclass's config: its rows are `name` in JSON and in the OpenAPI document."""
    return ConfigDict(alias_generator=lambda field: name if field == "rows" else field, **config)
