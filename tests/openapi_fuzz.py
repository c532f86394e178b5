"""Schemathesis against a real `tempo serve`: every check (`--checks all`) on every operation
of /openapi.json, once with the API token and once without.

`make fuzz` runs it in full (`python -m tests.openapi_fuzz`, 2,000+ requests a pass);
tests/test_openapi_fuzz.py runs it with fewer examples. Either way the server has data to
answer from (a ranking, the demo catalog, the majors table), no object storage, and
Schemathesis has a
settings file of its own (tests/schemathesis.toml: where a correct answer cannot follow from
the schema alone). A pass is clean when Schemathesis reports no failure and no response is
a 5xx, except the deliberate 503 of `POST /feed/s3` without object storage.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIG = Path(__file__).with_name("schemathesis.toml")
BIN = Path(sys.executable).parent
SCHEMATHESIS = shutil.which("st", path=str(BIN)) or "st"
TOKEN = "fuzz-token-0123456789abcdef"
# The one 5xx the schema promises on purpose: S3 routes on a server without object storage.
DELIBERATE = {("POST", "/feed/s3", 503, "object_storage_not_configured")}
LOCAL_POSTGRES = ("127.0.0.1", 5432)


@dataclass
class Pass:
    """One Schemathesis run: what it sent, what came back, what it found."""

    label: str
    exit_code: int
    generated: int  # test cases Schemathesis generated
    requests: int  # requests it sent (the HAR report's entries)
    statuses: Counter[int]
    failures: list[dict[str, Any]]  # Schemathesis' own findings, by kind
    errors: list[dict[str, Any]]  # what stopped Schemathesis itself (network, its own bugs)
    server_errors: Counter[tuple[str, str, int, str]]  # 5xx other than the deliberate one
    deliberate: int  # deliberate 503s
    output: str = field(repr=False)

    @property
    def schema_violations(self) -> int:
        return sum(f["count"] for f in self.failures)

    @property
    def clean(self) -> bool:
        return (
            self.exit_code == 0 and not self.failures and not self.errors and not self.server_errors
        )

    def summary(self) -> str:
        five = sum(n for status, n in self.statuses.items() if status >= 500)
        kinds = ", ".join(f"{f['code']} {f['title']} ×{f['count']}" for f in self.failures)
        errors = ", ".join(f"{e['title']} ×{e['count']}" for e in self.errors)
        return (
            f"{self.label}: {self.generated:,} test cases, {self.requests:,} requests; "
            f"5xx: {five:,} ({self.deliberate:,} deliberate 503); "
            f"failures: {self.schema_violations} {('(' + kinds + ')') if kinds else ''}"
        ).rstrip() + (f"; errors: {errors}" if errors else "")


def _error_code(text: str) -> str:
    try:
        return str(json.loads(text)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


def run_schemathesis(
    base_url: str,
    reports: Path,
    *,
    max_examples: int,
    token: str | None,
    seed: int | None = None,
    # One: Hypothesis parses source code while it generates, and on Python 3.11 parsing in
    # two threads at once can fail ("AST constructor recursion depth mismatch", CPython
    # gh-106905), which Schemathesis reports as an error of its own.
    workers: int = 1,
) -> Pass:
    """`st run` with every check against `base_url`, with `token` or without one."""
    label = "with the token" if token else "without a token"
    reports.mkdir(parents=True, exist_ok=True)
    har, summary = reports / "requests.har.json", reports / "run.json"
    command = [
        SCHEMATHESIS, "--config-file", str(CONFIG), "--no-color", "run",
        f"{base_url}/openapi.json", "--checks", "all", "--max-examples", str(max_examples),
        "--workers", str(workers), "--request-timeout", "30", "--generation-database", "none",
        "--report", "har,json", "--report-har-path", str(har), "--report-json-path", str(summary),
    ]  # fmt: skip
    if token:
        command += ["--header", f"Authorization: Bearer {token}"]
    if seed is not None:
        command += ["--seed", str(seed)]
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    output = done.stdout + done.stderr
    if not summary.is_file() or not har.is_file():
        raise RuntimeError(f"Schemathesis wrote no report ({done.returncode}):\n{output}")
    report = json.loads(summary.read_text())
    entries = json.loads(har.read_text())["log"]["entries"]
    statuses: Counter[int] = Counter()
    server_errors: Counter[tuple[str, str, int, str]] = Counter()
    deliberate = 0
    for entry in entries:
        status = int(entry["response"]["status"])
        statuses[status] += 1
        if status < 500:
            continue
        method = entry["request"]["method"]
        path = "/" + entry["request"]["url"].split("/", 3)[3].split("?")[0]
        code = _error_code(entry["response"].get("content", {}).get("text", ""))
        if (method, path, status, code) in DELIBERATE:
            deliberate += 1
        else:
            server_errors[(method, path, status, code)] += 1
    return Pass(
        label=label,
        exit_code=done.returncode,
        generated=int(report["test_cases"]["generated"]),
        requests=len(entries),
        statuses=statuses,
        failures=list(report["failures"]),
        errors=list(report["errors"]),
        server_errors=server_errors,
        deliberate=deliberate,
        output=output,
    )


def prepare(folder: Path, database_url: str, *, migrate: bool = True) -> dict[str, str]:
    """The environment for `tempo serve` in `folder`, with data for every read route to
    answer from: the majors Delta table (and its PostgreSQL copy) loaded here, and the demo
    ranking (its inputs left in the data directory) and catalog that the server seeds."""
    env = {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(folder / "data"),
        "DELTA_DIR": str(folder / "delta"),
        "API_TOKEN": TOKEN,
        "SEED_DEMO_DATA": "true",
    }
    tempo = shutil.which("tempo", path=str(BIN)) or "tempo"
    for step in ([["migrate"]] if migrate else []) + [["etl", "majors"]]:
        subprocess.run(
            [tempo, *step], cwd=folder, env=os.environ | env, check=True, capture_output=True
        )
    return env


def fuzz(base_url: str, reports: Path, *, max_examples: int, seed: int | None = None) -> list[Pass]:
    """Both passes: with the token (the write routes do their work) and without (401s)."""
    return [
        run_schemathesis(
            base_url, reports / name, max_examples=max_examples, token=token, seed=seed
        )
        for name, token in (("with-token", TOKEN), ("without-token", None))
    ]


# --- `make fuzz`: a scratch database, a served Tempo, both passes ------------------------


def _server_url() -> str:
    """DATABASE_URL; else the PostgreSQL on 127.0.0.1:5432 when one listens; else the
    embedded one (pgserver, under ./.tempo/)."""
    from tempo.core.db import database_url, normalize_url
    from tempo.core.settings import Settings

    settings = Settings()
    if settings.database_url is None:
        try:
            socket.create_connection(LOCAL_POSTGRES, timeout=1).close()
        except OSError:
            pass
        else:
            return normalize_url("postgresql://postgres@{}:{}/postgres".format(*LOCAL_POSTGRES))
    return database_url(settings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=100, help="per operation and phase")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run exactly")
    parser.add_argument("--reports", type=Path, default=Path("fuzz-results"))
    args = parser.parse_args()

    from loadtest.bench_http import scratch_database

    from tests.browser_support import tempo_serve

    database = scratch_database(_server_url(), prefix="tempo_fuzz")
    with tempfile.TemporaryDirectory(prefix="tempo-fuzz-") as tmp, database as url:
        folder = Path(tmp)
        env = prepare(folder, url)
        with tempo_serve(url, folder, **env) as base:
            passes = fuzz(base, args.reports, max_examples=args.max_examples, seed=args.seed)
        log = (folder / "serve.log").read_text()
    for run in passes:
        print(run.summary())
        for (method, path, status, code), count in run.server_errors.items():
            print(f"  {status} {code or '?'} from {method} {path}: {count}")
        if not run.clean:
            print(run.output)
    tracebacks = log.count("unhandled_error")
    print(f"server log: {tracebacks} unhandled errors; reports in {args.reports}/")
    return 0 if all(run.clean for run in passes) and not tracebacks else 1


if __name__ == "__main__":
    sys.exit(main())
