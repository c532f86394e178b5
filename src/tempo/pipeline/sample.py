"""Synthetic messages.csv + users.csv: demo data and inputs as large as a benchmark needs.

Written in batches, so generating a file larger than memory needs little of it. The
content column holds commas, quotes and CRLF line breaks on purpose.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

FIRST_NAMES = (
    "Ada", "Andre", "Bea", "Chidi", "Dana", "Emil", "Farah", "Goran", "Hana", "Ines",
    "Jonas", "Keiko", "Lars", "Maya", "Nico", "Olu", "Priya", "Quinn", "Rosa", "Sven",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Okafor", "Novak", "Tanaka", "Garcia", "Müller", "Haddad", "O'Brien",
    "Kowalski", "Silva", "Nguyen", "Larsen", "Rossi", "Dubois", "Ivanova", "Mensah",
)  # fmt: skip
CONTENTS = (
    "Hello, I can't log in since this morning.",
    'The "export" button does nothing, please help',
    "Refund request for order 1234, thanks",
    "Line one\r\nline two, after a CRLF",
    "Is the API down?\nI get 503s",
    "Great service 👍 — merci beaucoup",
)

Progress = Callable[[int, int], None]


def write_users(path: Path, users: int) -> None:
    ids = pl.int_range(0, users, eager=True).alias("user_id")
    first = pl.Series(FIRST_NAMES)
    last = pl.Series(LAST_NAMES)
    pl.DataFrame(
        {
            "user_id": ids,
            "first_name": first.gather(ids % len(first)),
            "last_name": last.gather((ids // len(first)) % len(last)),
        }
    ).write_csv(path)


def write_messages(
    path: Path,
    messages: int,
    users: int,
    *,
    seed: int = 42,
    orphan_every: int = 0,
    batch: int = 1_000_000,
    progress: Progress | None = None,
) -> None:
    """`messages` rows; authors skewed towards low user ids (a few users write most).

    With `orphan_every=n`, every n-th message comes from a user id not in users.csv.
    """
    contents = pl.Series(CONTENTS)
    with path.open("wb") as handle:
        for start in range(0, max(messages, 1), batch):
            stop = min(start + batch, messages)
            ids = pl.int_range(start, stop, eager=True, dtype=pl.Int64)
            uniform = (ids.hash(seed) % 1_000_003).cast(pl.Float64) / 1_000_003
            authors = (uniform.pow(3) * users).floor().cast(pl.Int64)
            if orphan_every:
                authors = pl.select(
                    pl.when(ids % orphan_every == orphan_every - 1)
                    .then(users + ids % 7)
                    .otherwise(authors)
                ).to_series()
            frame = pl.select(
                message_id=ids,
                author_id=authors,
                received_at=pl.datetime(2026, 1, 1) + pl.duration(seconds=pl.lit(ids)),
                content=contents.gather(ids.hash(seed + 1) % len(contents)),
            )
            frame.write_csv(handle, include_header=start == 0, datetime_format="%Y-%m-%d %H:%M:%S")
            if progress is not None:
                progress(stop, messages)
