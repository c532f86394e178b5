"""One normalisation for search text, in Polars at load time and in Python at query time.

Both sides must agree character for character, or a query would miss the rows it names:
compatibility decomposition (NFKD), combining marks (Unicode category M) removed, lower case,
runs of whitespace collapsed to one space, no leading or trailing space.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl


# Unicode White_Space spelled out: Python's \s also takes the ASCII separators \x1c-\x1f and
# Rust's (Polars') does not, and the two sides must split text identically.
WHITESPACE = r"[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"
_WHITESPACE = re.compile(WHITESPACE)


def normalize_text(value: str | None) -> str:
    """'Celébrate  Miki Núñez' → 'celebrate miki nunez'."""
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value)
    unmarked = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M"))
    return _WHITESPACE.sub(" ", unmarked.lower()).strip(" ")


def normalize_expr(expr: pl.Expr) -> pl.Expr:
    """The same normalisation as `normalize_text`, as a Polars expression (null stays null)."""
    return (
        expr.str.normalize("NFKD")
        .str.replace_all(r"\p{M}", "")
        .str.to_lowercase()
        .str.replace_all(WHITESPACE, " ")
        .str.strip_chars(" ")
    )


def escape_like(value: str) -> str:
    """`value` as a literal inside a LIKE pattern whose escape character is a backslash."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
