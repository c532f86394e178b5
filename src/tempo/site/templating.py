"""One Jinja2 set-up for every server-rendered page: autoescaped, strict about missing
values, with the site-wide templates (layout, nav, pager) after each page's own, and the
site-wide filters."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

SITE_TEMPLATES = Path(__file__).resolve().parent / "templates"


def code_spans(text: str) -> Markup:
    """A message whose `backticked` parts are commands or names, as HTML: those parts in
    <code>, everything escaped. Messages are written once for the API and the CLI, in plain
    text; on a page the backticks would show as they are."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an odd backtick: not markup, show the text as it is
        return escape(text)
    return Markup("").join(
        escape(part) if i % 2 == 0 else Markup("<code>%s</code>") % part
        for i, part in enumerate(parts)
    )


def count(value: int) -> str:
    return f"{value:,}"


def size(value: int) -> str:
    """Bytes in binary units, as MAX_UPLOAD_BYTES is set (100 MiB is 104857600)."""
    if value < 1024:
        return f"{value:,} bytes"
    amount = value / 1024
    for unit in ("KiB", "MiB"):
        if amount < 1024:
            return f"{amount:.1f}".removesuffix(".0") + f" {unit}"
        amount /= 1024
    return f"{amount:.1f}".removesuffix(".0") + " GiB"


def moment(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def environment(*folders: Path, **filters: Callable[..., Any]) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([*folders, SITE_TEMPLATES]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(code_spans=code_spans, count=count, size=size, moment=moment)
    env.filters.update(filters)
    return env
