"""Page numbers from a query string, and the links between pages of a table."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from urllib.parse import urlencode

PAGE_SIZE = 25


@dataclass(frozen=True)
class Pager:
    """Page `number` (1-based) of `total` rows, `size` rows a page."""

    path: str
    number: int
    total: int
    size: int = PAGE_SIZE
    params: dict[str, str] = field(default_factory=dict)  # kept in every link (the table)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def exists(self) -> bool:
        return self.number <= self.pages

    @property
    def first_row(self) -> int:
        return self.offset + 1

    @property
    def last_row(self) -> int:
        return min(self.offset + self.size, self.total)

    def href(self, number: int) -> str:
        query = self.params | ({"page": str(number)} if number > 1 else {})
        return f"{self.path}?{urlencode(query)}" if query else self.path

    @property
    def previous(self) -> str | None:
        return self.href(min(self.number - 1, self.pages)) if self.number > 1 else None

    @property
    def next(self) -> str | None:
        return self.href(self.number + 1) if self.number < self.pages else None


def page_number(value: str) -> tuple[int, str | None]:
    """The page asked for, or page 1 and what to tell the reader about a value that is not
    a page number (a person typed it: a notice, not a 422)."""
    text = value.strip()
    if not text:
        return 1, None
    if text.isascii() and text.isdigit() and len(text) <= 9 and int(text) >= 1:
        return int(text), None
    return 1, f"“{text[:40]}” is not a page number; showing the first page."
