"""Page numbers from a query string, and the links between pages of a table."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from urllib.parse import urlencode

PAGE_SIZE = 25
SHOWN_CHARACTERS = 40  # of a value that is not a page number, quoted back on the 404 page


@dataclass(frozen=True)
class Pager:
    """Page `number` (1-based) of `total` rows, `size` rows a page.

    `number` is 0 when the query asked for something that is not a page number at all;
    `asked` is then what was asked, to quote it back."""

    path: str
    number: int
    total: int
    size: int = PAGE_SIZE
    params: dict[str, str] = field(default_factory=dict)  # kept in every link (the table)
    asked: str = ""

    @property
    def pages(self) -> int:
        # An empty table still has its page 1, which says it is empty.
        return max(1, math.ceil(self.total / self.size))

    @property
    def exists(self) -> bool:
        return 1 <= self.number <= self.pages

    @property
    def status(self) -> int:
        """The page's HTTP status: a page that is not there is a 404, like any missing page."""
        return 200 if self.exists else 404

    @property
    def wanted(self) -> str:
        """The page asked for, as the reader typed it (for the page that says it is not there)."""
        if self.number >= 1:
            return f"{self.number:,}"
        text = self.asked.strip()
        return text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS] + "…"

    @property
    def offset(self) -> int:
        return (max(self.number, 1) - 1) * self.size

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
        return self.href(self.number - 1) if self.exists and self.number > 1 else None

    @property
    def next(self) -> str | None:
        return self.href(self.number + 1) if self.exists and self.number < self.pages else None


def page_number(value: str) -> int:
    """The page asked for in `?page=`: 1 when none is given (an empty "Go to page" box),
    0 when the value is not a page number (0, -1, 2.5, abc, ²), which no table has."""
    text = value.strip()
    if not text:
        return 1
    # Bounded, so that a long run of digits is not turned into a huge offset.
    if text.isascii() and text.isdigit() and len(text) <= 9:
        return int(text)
    return 0
