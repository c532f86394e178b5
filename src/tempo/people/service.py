"""`tempo etl people`: a sheet of people into the `people` table, without names or e-mails.

Read with Polars (an Excel workbook through fastexcel, or a CSV), every column as text.
Added: `full_name`, `is_public_ip` (the standard library's ipaddress: is the address
globally routable) and `obfuscated_email`. Dropped: first_name, last_name and email.

The e-mail address becomes HMAC-SHA256 under a secret key (PII_HMAC_KEY) by default. A
plain MD5 of an address is no protection: addresses are few and guessable, so a dictionary
of likely ones reverses it. `--hash md5` is there for compatibility with older pseudonyms.
Either way the address is trimmed and lower-cased first, so one mailbox gets one pseudonym.

A row that cannot be used (no e-mail address, an IP address that is not one) is an error
row: reported with its row number and reason, and left out; the rest is loaded. E-mail
addresses never appear in a report or a log line, not even a malformed one.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.core.csv_input import (
    ROW,
    CsvError,
    RowProblem,
    collect,
    refuse_unusable,
    require_columns,
    scan_text,
)
from tempo.core.db import Lock, replace_rows
from tempo.core.errors import TempoError
from tempo.core.settings import PLACEHOLDER_PII_KEY, Settings

HashMethod = Literal["hmac", "md5"]
HASH_NAMES: dict[HashMethod, str] = {"hmac": "hmac-sha256", "md5": "md5"}
REQUIRED_COLUMNS = ("first_name", "last_name", "email", "ip_address")
DROPPED_COLUMNS = ("first_name", "last_name", "email")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
PEOPLE_TABLE = "people"
PEOPLE_LOCK = Lock.PEOPLE  # pg_advisory_xact_lock key: one people import at a time, everywhere
TABLE_COLUMNS = (
    "source_row",
    "full_name",
    "obfuscated_email",
    "email_hash",
    "ip_address",
    "is_public_ip",
    "extra",
)

MISSING_EMAIL = "missing e-mail address"
BAD_EMAIL = "not an e-mail address (the value is withheld: it is personal data)"
MISSING_IP = "missing IP address"
BAD_IP = "not an IPv4 or IPv6 address"
SCOPED_IP = "an IPv6 address with a zone index (%…), which PostgreSQL cannot store"

Progress = Callable[[str], None]


class PiiKeyError(TempoError):
    """The HMAC key is missing or the placeholder where a real one is needed: the server is
    not configured for it (503), like object storage without its settings."""

    def __init__(self, message: str) -> None:
        super().__init__(503, "pii_key_not_configured", message)


@dataclass(frozen=True)
class People:
    people: pl.DataFrame  # TABLE_COLUMNS, in file order; `extra` as JSON text
    rows_read: int
    errors: tuple[RowProblem, ...]  # by row; an e-mail address is never a value here
    method: HashMethod

    @property
    def error_rows(self) -> int:
        return len({e.row for e in self.errors})


@dataclass(frozen=True)
class PeopleImport:
    source: str
    rows_read: int
    loaded: int
    public: int
    errors: tuple[RowProblem, ...]
    method: HashMethod
    seconds: float

    def lines(self, max_errors: int = 20) -> list[str]:
        error_rows = len({e.row for e in self.errors})
        lines = [
            f"imported {self.loaded:,} of {self.rows_read:,} people from {self.source} into "
            f"the {PEOPLE_TABLE} table in {self.seconds:.2f} s: {self.public:,} public and "
            f"{self.loaded - self.public:,} non-public IP addresses, e-mail addresses as "
            f"{HASH_NAMES[self.method]}, {error_rows:,} error rows left out"
        ]
        lines += [f"  {error.describe()}" for error in self.errors[:max_errors]]
        if len(self.errors) > max_errors:
            lines.append(f"  … and {len(self.errors) - max_errors:,} more")
        return lines


def hmac_key(settings: Settings) -> bytes:
    """The pseudonymisation key; the placeholder is refused outside development."""
    key = settings.pii_hmac_key.get_secret_value()
    if not key:
        raise PiiKeyError("PII_HMAC_KEY is empty; set a secret key")
    if settings.environment != "development" and settings.pii_hmac_key_is_placeholder:
        raise PiiKeyError(
            f"PII_HMAC_KEY is the placeholder {PLACEHOLDER_PII_KEY!r}; set a real secret "
            f"(for example `python -c 'import secrets; print(secrets.token_urlsafe(32))'`) "
            f"or run with ENVIRONMENT=development"
        )
    return key.encode()


def pseudonym(email: str, method: HashMethod, key: bytes | None) -> str:
    """The hex digest standing in for `email` (trimmed and lower-cased first)."""
    normalized = email.strip().lower().encode()
    if method == "md5":
        # Not for secrecy: only to match pseudonyms made elsewhere with plain MD5.
        return hashlib.md5(normalized, usedforsecurity=False).hexdigest()
    if key is None:
        raise PiiKeyError("HMAC-SHA256 needs a key")
    return hmac.new(key, normalized, hashlib.sha256).hexdigest()


def classify_ip(value: str) -> tuple[str, bool] | str:
    """(canonical address, globally routable), or the reason it cannot be used."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return BAD_IP
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        return SCOPED_IP
    return str(address), address.is_global


def read_sheet(path: Path, sheet: str | None = None) -> pl.DataFrame:
    """Every column of the sheet or CSV as text, with ROW; blank rows dropped."""
    if path.suffix.lower() in EXCEL_SUFFIXES:
        if not path.is_file():
            raise CsvError(path, "file not found" if not path.exists() else "not a file")
        try:
            frame = pl.read_excel(
                path, sheet_name=sheet, infer_schema_length=0, raise_if_empty=False
            )
        except Exception as exc:  # fastexcel raises its own types; all mean "unreadable"
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CsvError(path, f"cannot read the workbook: {first_line}") from None
        frame = frame.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.UInt32))
        frame = frame.with_columns(pl.exclude(ROW).cast(pl.String))
    else:
        if sheet is not None:
            raise CsvError(path, "--sheet is for Excel workbooks; this is read as a CSV file")
        frame = collect(path, scan_text(path))
    columns = [c for c in frame.columns if c != ROW]
    stripped = [pl.col(c).str.strip_chars() for c in columns]
    blank = pl.all_horizontal([s.is_null() | (s == "") for s in stripped]) if columns else None
    return frame.filter(~blank) if blank is not None else frame


def _required(path: Path, frame: pl.DataFrame) -> dict[str, str]:
    """Required column → the file's own spelling of it (case and spaces do not matter)."""
    columns = [c for c in frame.columns if c != ROW]
    spelled = {c.strip().lower(): c for c in columns}
    # What is missing is decided on the normalised names; the message shows the file's own.
    require_columns(path, columns, [c for c in REQUIRED_COLUMNS if c not in spelled])
    return {c: spelled[c] for c in REQUIRED_COLUMNS}


def _blank_to_null(column: str) -> pl.Expr:
    value = pl.col(column).str.strip_chars()
    return pl.when(value == "").then(None).otherwise(value)


def pseudonymise(path: Path, frame: pl.DataFrame, method: HashMethod, key: bytes | None) -> People:
    """The people of `frame` as the table stores them, and the rows that cannot be used."""
    names = _required(path, frame)
    extra_columns = [c for c in frame.columns if c != ROW and c not in names.values()]
    clean = frame.select(
        pl.col(ROW),
        *(_blank_to_null(names[c]).alias(c) for c in REQUIRED_COLUMNS),
        pl.struct(extra_columns).struct.json_encode().alias("extra")
        if extra_columns
        else pl.lit("{}").alias("extra"),
    )

    errors: list[RowProblem] = []
    pseudonyms: list[str | None] = []
    addresses: list[str | None] = []
    public: list[bool | None] = []
    for row, email, ip in clean.select(ROW, "email", "ip_address").iter_rows():
        problems = []
        if email is None:
            problems.append(RowProblem(row, MISSING_EMAIL, names["email"]))
        elif "@" not in email or any(c.isspace() for c in email):
            problems.append(RowProblem(row, BAD_EMAIL, names["email"]))
        ip_result = classify_ip(ip) if ip is not None else MISSING_IP
        if isinstance(ip_result, str):
            shown = ip if ip_result != MISSING_IP else None
            problems.append(RowProblem(row, ip_result, names["ip_address"], shown))
        if problems or email is None or isinstance(ip_result, str):
            errors.extend(problems)
            pseudonyms.append(None)
            addresses.append(None)
            public.append(None)
            continue
        pseudonyms.append(pseudonym(email, method, key))
        addresses.append(ip_result[0])
        public.append(ip_result[1])

    full_name = pl.concat_str(
        [pl.col("first_name"), pl.col("last_name")], separator=" ", ignore_nulls=True
    )
    people = (
        clean.with_columns(
            pl.Series("obfuscated_email", pseudonyms, dtype=pl.String),
            pl.Series("ip_canonical", addresses, dtype=pl.String),
            pl.Series("is_public_ip", public, dtype=pl.Boolean),
        )
        .filter(pl.col("obfuscated_email").is_not_null())
        .select(
            pl.col(ROW).cast(pl.Int64).alias("source_row"),
            pl.when(full_name == "").then(None).otherwise(full_name).alias("full_name"),
            pl.col("obfuscated_email"),
            pl.lit(HASH_NAMES[method]).alias("email_hash"),
            pl.col("ip_canonical").alias("ip_address"),
            pl.col("is_public_ip"),
            pl.col("extra"),
        )
    )
    return People(people=people, rows_read=clean.height, errors=tuple(errors), method=method)


def read_people(
    path: Path, method: HashMethod, key: bytes | None, sheet: str | None = None
) -> People:
    frame = read_sheet(path, sheet)
    if frame.is_empty():
        raise CsvError(path, "no data rows: the file has a header and nothing else")
    people = pseudonymise(path, frame, method, key)
    first = people.errors[0] if people.errors else None
    refuse_unusable(path, people.rows_read, people.people.height, first)
    return people


async def import_people(
    engine: AsyncEngine,
    settings: Settings,
    path: Path,
    *,
    method: HashMethod = "hmac",
    sheet: str | None = None,
    progress: Progress | None = None,
) -> PeopleImport:
    """Read, pseudonymise, then replace the people table in one transaction.

    Readers see the old table or the new one; a file that fails changes nothing.
    """
    started = time.perf_counter()
    say = progress or (lambda _: None)
    key = hmac_key(settings) if method == "hmac" else None
    say(f"reading {path}")
    people = await asyncio.to_thread(read_people, path, method, key, sheet)
    say(f"replacing the {PEOPLE_TABLE} table with {people.people.height:,} people")
    payload = people.people.select(TABLE_COLUMNS).write_csv(include_header=False).encode()
    async with engine.begin() as conn:
        await replace_rows(conn, PEOPLE_LOCK, PEOPLE_TABLE, TABLE_COLUMNS, payload)
    return PeopleImport(
        source=str(path),
        rows_read=people.rows_read,
        loaded=people.people.height,
        public=int(people.people["is_public_ip"].sum()),
        errors=people.errors,
        method=method,
        seconds=time.perf_counter() - started,
    )
