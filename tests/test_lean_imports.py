"""Workers and the serving process stay lean: the heavy libraries are imported by the route
or command that first needs them, not by the app factory nor by `tempo serve`'s supervisor.

Checked by what a fresh interpreter has imported (its `sys.modules`), not by measuring
memory, which a busy machine disturbs (loadtest/memory.py measures it, README Performance).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

from tempo.core.db import MIGRATIONS_DIR, head_revisions

# Each costs a worker from a few MB (httpx, Alembic) to some 60 MB (Polars).
HEAVY = ("polars", "pyarrow", "numpy", "matplotlib", "deltalake", "obstore", "alembic",
         "mako", "httpx", "icalendar", "onnxruntime", "PIL")  # fmt: skip

APP = """
import json, sys
import tempo.app
tempo.app.create_app()
print(json.dumps(sorted(sys.modules)))
"""

# One chart drawn in a fresh interpreter: what it imported before and after.
CHART = """
import json, sys
from tempo.analytics import charts
from tempo.analytics.schemas import BIOLOGY, DELTA, LargestMajors

before = sorted(sys.modules)
svg = charts.largest_majors(LargestMajors(delta=DELTA, limit=1, majors=[BIOLOGY]), "svg")
print(json.dumps({"before": before, "after": sorted(sys.modules), "svg": svg.decode()}))
"""

# `tempo serve` itself up to the moment it hands over to uvicorn: settings, the database
# prepared (in a child process), then the modules this process holds as uvicorn's
# supervisor would start with them.
SUPERVISOR = """
import json, sys
import tempo.cli

def report(host, port, workers):
    print(json.dumps(sorted(sys.modules)))

tempo.cli._serve_uvicorn = report
sys.argv = ["tempo", "serve", "--workers", "2"]
tempo.cli.main()
"""


def modules_of(program: str, env: dict[str, str] | None = None) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120,
        env=os.environ | (env or {}),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout.splitlines()[-1]))


def heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in HEAVY]


def test_the_app_factory_imports_no_heavy_module() -> None:
    modules = modules_of(APP)
    assert "tempo.app" in modules and "tempo.analytics.charts" in modules
    assert heavy(modules) == []


def test_drawing_a_chart_imports_matplotlib() -> None:
    result = subprocess.run([sys.executable, "-c", CHART], capture_output=True, text=True,
                            timeout=120, check=True)  # fmt: skip
    drawn = json.loads(result.stdout)
    assert "matplotlib" not in drawn["before"] and "numpy" not in drawn["before"]
    assert "matplotlib" in drawn["after"]
    assert "<svg" in drawn["svg"]


def test_the_serving_process_imports_no_heavy_module(database_url: str, tmp_path: Path) -> None:
    # Development settings: the child migrates nothing here (DATABASE_URL is given) but
    # seeds the demo leaderboard and catalog, with Polars, in its own process.
    result = subprocess.run(
        [sys.executable, "-c", SUPERVISOR], capture_output=True, text=True, timeout=180,
        env=os.environ | {"DATABASE_URL": database_url, "ENVIRONMENT": "development"},
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("demo data: fed 10 rows") for line in lines), result.stdout
    assert any(line.startswith("demo catalog: read 300 rows") for line in lines), result.stdout
    modules = json.loads(lines[-1])
    assert "tempo.cli" in modules
    light = [m for m in modules if m.split(".")[0] in ("sqlalchemy", "sqlmodel", "asyncpg")]
    assert heavy(modules) == [] and light == []


def test_serve_stops_with_the_preparations_error() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SUPERVISOR], capture_output=True, text=True, timeout=120,
        env=os.environ | {"DATABASE_URL": "postgresql://u:secret@127.0.0.1:9/db"},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot reach the database")
    assert "secret" not in result.stderr + result.stdout


def alembic_heads(migrations: Path) -> set[str]:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    return set(ScriptDirectory.from_config(config).get_heads())


REVISION = """
revision: str = "{revision}"
down_revision: str | tuple[str, ...] | None = {down!r}
"""


def test_head_revisions_agree_with_alembic(tmp_path: Path) -> None:
    assert head_revisions() == alembic_heads(MIGRATIONS_DIR) != set()
    # Two branches from the newest revision, then a merge of the two.
    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (head,) = head_revisions()
    for name, down in (("9001", head), ("9002", head)):
        (migrations / "versions" / f"{name}_branch.py").write_text(
            REVISION.format(revision=name, down=down)
        )
    assert head_revisions(migrations) == alembic_heads(migrations) == {"9001", "9002"}
    (migrations / "versions" / "9003_merge.py").write_text(
        REVISION.format(revision="9003", down=("9001", "9002"))
    )
    assert head_revisions(migrations) == alembic_heads(migrations) == {"9003"}
