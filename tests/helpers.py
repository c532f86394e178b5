"""Small builders for hand-made CSV files and an independent reference ranking."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def reference_ranking(messages: Path, users: Path) -> list[tuple[int, int, str, int]]:
    """The expected pipeline_result rows, computed with the csv module alone."""
    with messages.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    author = "author_id" if rows and "author_id" in rows[0] else "user_id"
    counts = Counter(int(row[author]) for row in rows)
    names: dict[int, str] = {}
    with users.open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            uid = int(row.get("user_id") or row["id"])
            if "name" in row:
                names[uid] = row["name"].strip()
            else:
                names[uid] = f"{row['first_name'].strip()} {row['last_name'].strip()}".strip()
    everyone = set(names) | set(counts)
    by_count = sorted(everyone, key=lambda uid: (-counts[uid], uid))
    result = []
    for uid in by_count:
        rank = 1 + sum(1 for other in everyone if counts[other] > counts[uid])
        result.append((rank, uid, names.get(uid, ""), counts[uid]))
    return result


def read_result(path: Path) -> list[tuple[int, int, str, int]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["rank", "user_id", "name", "messages"]
        return [(int(r["rank"]), int(r["user_id"]), r["name"], int(r["messages"])) for r in reader]
