"""One Jinja2 set-up for every server-rendered page: autoescaped, strict about missing
values, with the site-wide templates (nav.html) after each page's own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

SITE_TEMPLATES = Path(__file__).resolve().parent / "templates"


def environment(*folders: Path, **filters: Callable[..., Any]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*folders, SITE_TEMPLATES]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(filters)
    return env
