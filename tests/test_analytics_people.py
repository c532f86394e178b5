"""`tempo etl people`: names and e-mail addresses out, pseudonyms and IP classes in.

The workbook is written by the test itself (Polars + xlsxwriter); the expected pseudonyms
are computed here with hmac and hashlib, and the IP classes are known facts about the
addresses (8.8.8.8 is Google's public resolver, 10/8 and 192.168/16 are private, and so on).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import xlsxwriter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tempo.core.csv_input import CsvError
from tempo.core.logs import configure_logging
from tempo.core.settings import Settings
from tempo.people import service as people
from tempo.people.service import PiiKeyError, hmac_key, import_people, read_people
from tests.fixtures.files import write

KEY = "test-pii-key-0123456789"
PEOPLE = [
    # id, first_name, last_name, email, gender, ip_address, public?
    ("1", "Ada", "Lovelace", "Ada@Example.COM ", "F", "8.8.8.8", True),
    ("2", "Alan", "Turing", "alan@example.org", "M", "10.0.0.7", False),
    ("3", "Grace", None, "grace@example.net", "F", "2001:4860:4860::8888", True),
    ("4", None, "Hopper", "hopper@example.net", "F", "192.168.1.20", False),
    ("5", "Edsger", "Dijkstra", "edsger@example.nl", "M", "::1", False),
    ("6", "Barbara", "Liskov", "barbara@example.com", "F", "100.64.0.1", False),
    ("7", "Ken", "Thompson", "ken@example.com", "M", "999.1.1.1", None),  # not an address
    ("8", "Dennis", "Ritchie", None, "M", "1.1.1.1", None),  # no e-mail address
    ("9", "Linus", "Torvalds", "linus at example.org", "M", "9.9.9.9", None),  # not an address
    ("10", "Margaret", "Hamilton", "margaret@example.com", "F", None, None),  # no IP
]
EMAILS = [p[3] for p in PEOPLE if p[3]]


def settings(**values: object) -> Settings:
    base: dict[str, object] = {"environment": "development", "pii_hmac_key": KEY}
    return Settings(_env_file=None, **(base | values))  # type: ignore[call-arg]


def frame() -> pl.DataFrame:
    columns = ["id", "first_name", "last_name", "email", "gender", "ip_address"]
    return pl.DataFrame([list(p[:6]) for p in PEOPLE], schema=columns, orient="row")


def workbook(path: Path) -> Path:
    frame().write_excel(path, worksheet="people")
    return path


def people_csv(path: Path) -> Path:
    frame().write_csv(path)
    return path


def expected_hmac(email: str) -> str:
    return hmac.new(KEY.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


def expected_md5(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


async def table(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT source_row, full_name, obfuscated_email, email_hash, host(ip_address) "
                "AS ip_address, is_public_ip, extra FROM people ORDER BY source_row"
            )
        )
        return [dict(row._mapping) for row in rows]


def expected_table(digest: Any, method: str) -> list[dict[str, Any]]:
    rows = []
    for number, (pid, first, last, email, gender, ip, public) in enumerate(PEOPLE, start=1):
        if public is None or email is None:
            continue
        name = " ".join(part for part in (first, last) if part)
        rows.append(
            {
                "source_row": number,
                "full_name": name or None,
                "obfuscated_email": digest(email),
                "email_hash": method,
                "ip_address": ip,
                "is_public_ip": public,
                "extra": {"id": pid, "gender": gender},
            }
        )
    return rows


@pytest.mark.parametrize("make", [workbook, people_csv], ids=["xlsx", "csv"])
async def test_an_import_drops_names_and_emails(
    engine: AsyncEngine, tmp_path: Path, make: Any
) -> None:
    source = make(tmp_path / f"people.{'xlsx' if make is workbook else 'csv'}")
    result = await import_people(engine, settings(), source)
    assert (result.rows_read, result.loaded, result.public) == (10, 6, 2)
    assert await table(engine) == expected_table(expected_hmac, "hmac-sha256")

    async with engine.connect() as conn:
        columns = (
            await conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = 'people'"
                )
            )
        ).scalars()
        assert not {"first_name", "last_name", "email"} & set(columns)

    errors = [(e.row, e.column, e.reason, e.value) for e in result.errors]
    assert errors == [
        (7, "ip_address", people.BAD_IP, "999.1.1.1"),
        (8, "email", people.MISSING_EMAIL, None),
        (9, "email", people.BAD_EMAIL, None),
        (10, "ip_address", people.MISSING_IP, None),
    ]
    report = "\n".join(result.lines())
    assert "6 of 10 people" in report and "4 error rows" in report
    assert "row 7, column 'ip_address': not an IPv4 or IPv6 address (value '999.1.1.1')" in report
    for email in [*EMAILS, "linus"]:
        assert email.strip().lower() not in report.lower()


async def test_md5_is_there_for_compatibility(engine: AsyncEngine, tmp_path: Path) -> None:
    source = workbook(tmp_path / "people.xlsx")
    await import_people(engine, settings(), source, method="md5")
    assert await table(engine) == expected_table(expected_md5, "md5")
    # The same mailbox gets the same pseudonym however it is typed.
    assert people.pseudonym(" ADA@example.com", "md5", None) == expected_md5("ada@example.com")


async def test_each_import_replaces_the_table_and_a_refused_one_changes_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await import_people(engine, settings(), workbook(tmp_path / "all.xlsx"))
    two = write(
        tmp_path / "two.csv",
        "first_name,last_name,email,ip_address\nA,B,a@b.c,8.8.4.4\nC,D,c@d.e,172.16.0.1\n",
    )
    await import_people(engine, settings(), two)
    rows = await table(engine)
    assert [(r["source_row"], r["ip_address"], r["is_public_ip"]) for r in rows] == [
        (1, "8.8.4.4", True),
        (2, "172.16.0.1", False),
    ]
    assert rows[0]["extra"] == {}

    every_row_bad = write(
        tmp_path / "bad.csv", "first_name,last_name,email,ip_address\nA,B,,8.8.4.4\n"
    )
    with pytest.raises(CsvError, match="no usable rows: all 1 rows were rejected"):
        await import_people(engine, settings(), every_row_bad)
    missing_column = write(tmp_path / "cols.csv", "first_name,last_name,email\nA,B,a@b.c\n")
    with pytest.raises(CsvError, match="missing column 'ip_address'"):
        await import_people(engine, settings(), missing_column)
    assert len(await table(engine)) == 2


def test_sheets_headers_and_blank_rows(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("Notes").write_row(0, 0, ["nothing here"])
    sheet = book.add_worksheet("People")
    # Header spellings vary in real sheets; a number typed in a cell stays as it was typed.
    sheet.write_row(0, 0, ["First_Name ", "LAST_NAME", "Email", "IP_Address", "score"])
    sheet.write_row(1, 0, ["Ann", "Lee", "ann@x.org", "8.8.8.8", 7])
    sheet.write_row(3, 0, ["Bo", "Yu", "bo@x.org", "fe80::1", 9.5])  # row 3 left blank
    book.close()
    found = read_people(path, "hmac", KEY.encode(), sheet="People")
    assert found.people["source_row"].to_list() == [1, 2]
    assert found.people["is_public_ip"].to_list() == [True, False]
    assert [json.loads(e) for e in found.people["extra"]] == [{"score": "7"}, {"score": "9.5"}]
    with pytest.raises(CsvError, match="cannot read the workbook"):
        read_people(path, "hmac", KEY.encode(), sheet="Missing")
    with pytest.raises(CsvError, match="cannot read the workbook"):
        read_people(write(tmp_path / "fake.xlsx", "not a workbook"), "md5", None)
    with pytest.raises(CsvError, match="--sheet is for Excel"):
        read_people(people_csv(tmp_path / "p.csv"), "md5", None, sheet="People")


def test_the_placeholder_key_is_refused_outside_development() -> None:
    production = settings(
        environment="production",
        database_url="postgresql://u@h/d",
        api_token="s3cr3t-value",
        pii_hmac_key="change-me-pii",
    )
    with pytest.raises(PiiKeyError, match="PII_HMAC_KEY is the placeholder"):
        hmac_key(production)
    assert hmac_key(settings(pii_hmac_key="change-me-pii")) == b"change-me-pii"
    assert hmac_key(settings()) == KEY.encode()
    assert "test-pii-key" not in repr(settings())


def test_ip_addresses_are_classified_by_the_standard_library() -> None:
    assert people.classify_ip("8.8.8.8") == ("8.8.8.8", True)
    assert people.classify_ip("2001:4860:4860:0000::8888") == ("2001:4860:4860::8888", True)
    assert people.classify_ip("127.0.0.1") == ("127.0.0.1", False)
    assert people.classify_ip("169.254.1.1") == ("169.254.1.1", False)
    assert people.classify_ip("fe80::1%eth0") == people.SCOPED_IP
    assert people.classify_ip("010.1.1.1") == people.BAD_IP
    assert people.classify_ip("8.8.8") == people.BAD_IP


async def test_no_email_address_reaches_a_log_line(
    engine: AsyncEngine, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    configure_logging("DEBUG", "json")
    caplog.set_level(logging.DEBUG)
    try:
        result = await import_people(engine, settings(), workbook(tmp_path / "people.xlsx"))
        for line in result.lines():
            logging.getLogger("tempo.test").info(line)
    finally:
        configure_logging("INFO", "json")
    captured = capsys.readouterr()
    logged = caplog.text + captured.err + captured.out
    assert logged.strip(), "nothing was logged: the check would prove nothing"
    for email in EMAILS:
        assert email.strip().lower() not in logged.lower()
