"""Query parameters that mean exactly what the OpenAPI document says.

An integer parameter is `Annotated[int, Field(ge=…, le=…), WHOLE_NUMBER, Query(…)]`: bounds
come before the validator, so that the document shows them as `minimum` and `maximum`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
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

# `offset` of every list route: PostgreSQL takes OFFSET as a bigint. A route adds its own
# description: `Annotated[Offset, Query(description=…)]`.
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET), WHOLE_NUMBER]
