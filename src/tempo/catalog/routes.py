from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from tempo.catalog import repository
from tempo.catalog.schemas import TrackOut, TrackPage
from tempo.core.api_errors import error_responses
from tempo.core.deps import SessionDep
from tempo.core.errors import TempoError
from tempo.core.paging import Paging, paging

router = APIRouter(tags=["catalog"])


@router.get(
    "/tracks",
    response_model=TrackPage,
    summary="Search the music catalog by title or artist and genre, most popular first",
    responses=error_responses(422, 503),
)
async def get_tracks(
    session: SessionDep,
    page: Annotated[Paging, Depends(paging(default=20, maximum=100, rows="Tracks"))],
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            description="Words to find in the title or artist, ignoring case and accents",
        ),
    ] = None,
    genre: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Playlist genre, e.g. pop or r&b; one the catalog does not have is a "
            "422 that lists the known ones",
        ),
    ] = None,
) -> TrackPage:
    genre = genre if genre is None or genre.strip() else None  # `?genre=` means any genre
    # One snapshot for the count and the page, so a concurrent load cannot mix them.
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    if genre is not None and not await repository.genre_exists(session, genre):
        known = await repository.known_genres(session)
        listed = ", ".join(known) if known else "none, the catalog is empty"
        message = f"unknown genre {genre!r}; known genres: {listed}"
        raise TempoError(
            422,
            "invalid_request",
            f"invalid request: query.genre: {message}",
            [
                {
                    "field": "query.genre",
                    "message": message,
                    "type": "unknown_genre",
                    "known_genres": known,
                }
            ],
        )
    tracks, total = await repository.search(session, q, genre, page.limit, page.offset)
    return TrackPage(
        rows=[TrackOut.model_validate(track, from_attributes=True) for track in tracks],
        total=total,
    )
