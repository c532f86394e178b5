"""What the routes, the page and the CLI share: finding the data, reading it off the event
loop, and charts kept by the answer they draw.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from tempo.analytics.errors import AnalyticsError
from tempo.analytics.spotify import SpotifyData, cached, cached_result, read_cached, read_spotify
from tempo.catalog.demo import DEMO_TRACKS
from tempo.catalog.models import CatalogLoad
from tempo.core.limits import run_blocking
from tempo.core.settings import Settings
from tempo.core.sources import DownloadLimits, SourceError, display_url, is_url, local_file

if TYPE_CHECKING:
    # Only for annotations: matplotlib takes a second to import, and `tempo analyze
    # spotify` uses this module without drawing anything.
    from tempo.analytics import charts

DEMO_LABEL = f"{DEMO_TRACKS.name} (the demo catalog)"
NO_SPOTIFY_DATA = (
    "there is no Spotify songs file to analyse: load the catalog "
    "(`tempo catalog load spotify_songs.csv`) or set SPOTIFY_SOURCE"
)

Answer = TypeVar("Answer", bound=BaseModel)


async def spotify_source(
    settings: Settings, session: AsyncSession | None
) -> tuple[str | Path, str]:
    """(where the Spotify songs CSV is, what to call it): SPOTIFY_SOURCE, else the file the
    catalog was last loaded from, as recorded by the load.

    The session's transaction ends here: reading the file and computing or drawing the
    answers need no database, and its connection goes back to the pool meanwhile.
    """
    configured = (settings.spotify_source or "").strip()
    if configured:
        return configured, display_url(configured) if is_url(configured) else configured
    if session is None:
        raise AnalyticsError(404, "no_spotify_data", NO_SPOTIFY_DATA)
    last = select(CatalogLoad.source).order_by(col(CatalogLoad.id).desc()).limit(1)
    label = (await session.exec(last)).first()
    await session.commit()
    if label is None:
        raise AnalyticsError(404, "no_spotify_data", NO_SPOTIFY_DATA)
    if is_url(label):
        return label, label
    if Path(label).is_file():
        return Path(label), label
    if label == DEMO_TRACKS.name:  # the demo catalog records its file by name only
        return DEMO_TRACKS, DEMO_LABEL
    raise AnalyticsError(
        404,
        "no_spotify_data",
        f"the catalog was loaded from {label}, which this process cannot read; "
        "set SPOTIFY_SOURCE to the file or URL",
    )


async def spotify_data(
    source: str | Path, label: str | None = None, *, limits: DownloadLimits | None = None
) -> SpotifyData:
    """The parsed file: from the per-process cache, else read (and downloaded) once."""
    if not is_url(source):
        return await run_blocking(read_cached, Path(source), label or str(source))
    # A URL has no modification time to check: it is read once per process.
    key = ("url", source)
    found = cached_result(key)
    if found is not None:
        return found
    try:
        async with local_file(source, limits=limits) as local:
            return await run_blocking(
                cached, key, lambda: read_spotify(local, label or display_url(source))
            )
    except SourceError as exc:
        raise AnalyticsError(exc.status, "source_unavailable", str(exc)) from None


# --- charts, kept by what they show ---------------------------------------------------

_CHARTS = 64
_charts: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()
_charts_lock = threading.Lock()


def _chart(
    name: str, answer: Answer, fmt: charts.Format, draw: Callable[[Answer, charts.Format], bytes]
) -> bytes:
    # The answer's own JSON is the key: a new file or table version draws anew, and the
    # same answer is drawn once however it was reached.
    digest = hashlib.sha256(answer.model_dump_json().encode()).hexdigest()
    key = (name, fmt, digest)
    with _charts_lock:
        if key in _charts:
            _charts.move_to_end(key)
            return _charts[key]
    image = draw(answer, fmt)
    with _charts_lock:
        _charts[key] = image
        while len(_charts) > _CHARTS:
            _charts.popitem(last=False)
    return image


async def chart(
    name: str,
    answer: Answer,
    fmt: Literal["svg", "png"],
    draw: Callable[[Answer, charts.Format], bytes],
) -> bytes:
    return await run_blocking(_chart, name, answer, fmt, draw)
