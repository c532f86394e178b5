"""Write Tempo's own sample files: the leaderboard sample and the people workbook.

    uv run python samples/make_samples.py            # rewrite them in place
    uv run python samples/make_samples.py --check    # exit 1 if a shipped file differs

Every value is written out here by hand (no random generator), so the output is the same
byte for byte on every run; tests/test_sample_data.py checks that the shipped files are
what this script writes, and samples/SOURCES.md lists their checksums.

The leaderboard sample has the shape and quirks of real exports Tempo must read: CRLF line
endings, three quoted contents that span lines with CRLF inside, naive timestamps, three
users with no message, and a users.csv without a final newline. Its ranking is: users 1, 2
and 8 with 2 messages each, 3, 4, 7 and 9 with 1, and 0, 5 and 6 with none.

The people are made up: the e-mail domains are reserved for examples (RFC 2606), and the
public addresses are well-known public DNS resolvers, not anyone's own. Four rows are bad
on purpose, so that `tempo etl people` shows its error report.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LEADERBOARD_DIR = ROOT / "src" / "tempo" / "bundled"
SAMPLES_DIR = ROOT / "samples"

USERS = [
    (0, "Ines", "Okafor"),
    (1, "Tomas", "Lindqvist"),
    (2, "Amara", "Haddad"),
    (3, "Jonas", "Petrov"),
    (4, "Keiko", "Brandt"),
    (5, "Rafael", "Moreau"),
    (6, "Lena", "Novak"),
    (7, "Omar", "Castillo"),
    (8, "Priya", "Sorensen"),
    (9, "Felix", "Tanaka"),
]

CRLF = "\r\n"
MESSAGES = [
    (
        0,
        2,
        "2026-01-05 08:12:09",
        "The invoice for December shows the wrong VAT rate. Could you send a corrected one?",
    ),
    (
        1,
        8,
        "2026-01-05 09:47:31",
        "Export to PDF has been spinning for ten minutes now. It is Chrome on Windows.",
    ),
    (
        2,
        4,
        "2026-01-06 14:03:55",
        f"Hello team,{CRLF}since the update I cannot see my saved reports.{CRLF}Thanks, Keiko",
    ),
    (
        3,
        1,
        "2026-01-07 10:20:00",
        "Please close my old account and keep the new one. Both use the same phone number.",
    ),
    (
        4,
        9,
        "2026-01-08 16:45:12",
        "The mobile app logs me out every hour. I stay signed in on the website without trouble.",
    ),
    (
        5,
        2,
        "2026-01-09 11:11:11",
        f"Follow-up on my VAT question:{CRLF}the credit note has the same mistake.",
    ),
    (
        6,
        3,
        "2026-01-12 07:58:40",
        "Can I change the e-mail address on my account myself? I could not find the setting.",
    ),
    (
        7,
        8,
        "2026-01-13 13:30:05",
        f"Export works again after clearing the cache.{CRLF}{CRLF}You can close the ticket.",
    ),
    (
        8,
        7,
        "2026-01-14 18:22:47",
        "Where do I find last year's statements? The archive page only goes back six months.",
    ),
    (
        9,
        1,
        "2026-01-15 09:05:19",
        "Thank you for the quick answer yesterday. Everything works as it should now.",
    ),
]

PEOPLE_HEADER = ["first_name", "last_name", "email", "ip_address", "team", "joined"]
PEOPLE = [
    ["Ada", "Fischer", "ada.fischer@example.com", "8.8.8.8", "support", "2024-03-01"],
    ["Bruno", "Keller", "Bruno.Keller@Example.org", "10.0.4.17", "billing", "2023-11-15"],
    ["Chen", "Wu", "chen.wu@example.net", "1.1.1.1", "support", "2025-01-20"],
    ["Dalia", "Mansour", "dalia@example.com", "192.168.1.20", "sales", "2022-06-30"],
    ["Emil", "Berg", "", "9.9.9.9", "sales", "2024-09-09"],  # bad: no e-mail address
    ["Farah", "Aziz", "farah.aziz@example.org", "2001:4860:4860::8888", "support", "2021-02-14"],
    ["Goran", "Ilic", "goran.ilic(at)example.com", "100.64.0.7", "billing", "2025-05-05"],  # bad
    ["Hana", "Sato", "hana.sato@example.net", "::1", "engineering", "2020-10-10"],
    ["Ivo", "Marin", "ivo.marin@example.com", "300.1.2.3", "engineering", "2023-04-04"],  # bad
    ["Jana", "Dvorak", "jana.dvorak@example.org", "fe80::1%eth0", "sales", "2024-12-24"],  # bad
    ["Kofi", "Mensah", "kofi.mensah@example.com", "208.67.222.222", "support", "2022-08-18"],
    ["Lea", "Roth", "lea.roth@example.net", "172.16.5.4", "billing", "2025-07-01"],
]
# A fixed creation time: xlsxwriter would otherwise stamp the current time into the file.
WORKBOOK_CREATED = datetime(2026, 1, 1)


def messages_csv() -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=CRLF)
    writer.writerow(["message_id", "author_id", "received_at", "content"])
    writer.writerows(MESSAGES)
    return out.getvalue().encode("ascii")


def users_csv() -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=CRLF)
    writer.writerow(["user_id", "first_name", "last_name"])
    writer.writerows(USERS)
    return out.getvalue().removesuffix(CRLF).encode("ascii")  # no final newline, on purpose


def people_csv() -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PEOPLE_HEADER)
    writer.writerows(PEOPLE)
    return out.getvalue().encode("utf-8")


def people_xlsx() -> bytes:
    import xlsxwriter  # a dev dependency: only this script writes workbooks

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "people.xlsx"
        workbook = xlsxwriter.Workbook(str(path))
        workbook.set_properties({"title": "Tempo sample people", "created": WORKBOOK_CREATED})
        sheet = workbook.add_worksheet("people")
        bold = workbook.add_format({"bold": True})
        sheet.write_row(0, 0, PEOPLE_HEADER, bold)
        for row, person in enumerate(PEOPLE, start=1):
            # Strings throughout: an IP address or a date must not become a number.
            for column, value in enumerate(person):
                sheet.write_string(row, column, value)
        sheet.set_column(0, len(PEOPLE_HEADER) - 1, 22)
        workbook.close()
        return path.read_bytes()


def expected_files() -> dict[Path, bytes]:
    return {
        LEADERBOARD_DIR / "messages.csv": messages_csv(),
        LEADERBOARD_DIR / "users.csv": users_csv(),
        SAMPLES_DIR / "people.csv": people_csv(),
        SAMPLES_DIR / "people.xlsx": people_xlsx(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    differ = []
    for path, data in expected_files().items():
        if args.check:
            if not path.is_file() or path.read_bytes() != data:
                differ.append(path.relative_to(ROOT))
        else:
            path.write_bytes(data)
            print(f"wrote {path.relative_to(ROOT)} ({len(data)} bytes)")
    for path in differ:
        print(f"differs from what make_samples.py writes: {path}", file=sys.stderr)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
