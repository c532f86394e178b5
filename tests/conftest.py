"""The fixtures live in tests/fixtures/ (its __init__ lists them), one module per kind.

Each test is also marked by what it needs, from the fixtures it uses, so a run can leave
some out: `pytest -m "not browser"`, `-m "not slow"`, `-m "not db and not s3"`.
"""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.app",
    "tests.fixtures.browser",
    "tests.fixtures.database",
    "tests.fixtures.http_server",
    "tests.fixtures.own_postgres",
    "tests.fixtures.s3",
]

# A marker for each test that uses one of these fixtures (directly or through another).
MARKED_BY_FIXTURE = {
    "db": ("server_url", "own_pg"),
    "s3": ("s3_server",),
    "browser": ("browser",),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in MARKED_BY_FIXTURE.items():
            if used.intersection(fixtures):
                item.add_marker(marker)
        # Every browser test serves Tempo and drives Chromium: seconds each. Other tests
        # are marked `slow` where they are written (3 s or more alone on 2 cores).
        if "browser" in used:
            item.add_marker("slow")
