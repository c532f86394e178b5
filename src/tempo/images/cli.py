"""`tempo classify IMAGE…`: the top labels of each image, by the model the API uses (light to
import: see tempo.core.cli.support)."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tempo.core.cli.support import command_settings, fail

if TYPE_CHECKING:
    from tempo.core.settings import Settings
    from tempo.images.model import Model
    from tempo.images.schemas import Classification

# From this many files on, a terminal shows a progress bar.
PROGRESS_FROM = 10


def classify(
    images: Annotated[
        list[Path],
        typer.Argument(metavar="IMAGE", help="PNG, JPEG or WebP files", show_default=False),
    ],
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=10, help="Labels per image")] = 3,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array, one answer (or error) a file")
    ] = False,
    model: Annotated[
        Path | None, typer.Option(help="An ONNX model instead of IMAGE_MODEL's (or the bundled)")
    ] = None,
    labels: Annotated[Path | None, typer.Option(help="Its labels file, one a line")] = None,
) -> None:
    """Classify images with the bundled digits model or IMAGE_MODEL: the top labels of each.

    A file that cannot be classified gets its own error line; the others are still
    classified, and the exit status is then 1."""
    from tempo.core.cli.progress import counted
    from tempo.core.errors import TempoError
    from tempo.images.model import configured

    settings = command_settings(image_model=model, image_labels=labels)
    try:
        loaded = configured(settings.image_model, settings.image_labels)
    except TempoError as exc:
        fail(exc.message)
    answers: list[tuple[Path, Classification | TempoError]] = []
    with counted("classifying", len(images)) if len(images) >= PROGRESS_FROM else _none() as step:
        for done, path in enumerate(images, 1):
            answers.append((path, _classify(loaded, path, top_k, settings)))
            if step is not None:
                step(done, len(images))
    failed = [path for path, answer in answers if isinstance(answer, TempoError)]
    if as_json:
        typer.echo(json.dumps([_as_json(path, answer) for path, answer in answers], indent=2))
    for path, answer in answers:
        if isinstance(answer, TempoError):
            typer.secho(f"error: {path}: {answer.message}", fg=typer.colors.RED, err=True)
        elif not as_json:
            shown = ", ".join(f"{p.label} ({p.score:.1%})" for p in answer.predictions)
            typer.echo(f"{path}: {shown}")
    if failed:
        raise SystemExit(1)


class _none:
    """No progress bar: a context that gives None."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def _classify(
    model: Model, path: Path, top_k: int, settings: Settings
) -> Classification | Any:  # a Classification, or the TempoError that refused the file
    from tempo.images.errors import ImageError
    from tempo.images.service import classify
    from tempo.images.upload import too_large

    limit = settings.image_max_bytes
    try:
        found = path.stat()
        if not stat.S_ISREG(found.st_mode):
            # A directory, a FIFO (which would block), a device such as /dev/zero (which
            # would be read without end): none is an image file.
            what = "a directory" if stat.S_ISDIR(found.st_mode) else "not a regular file"
            return ImageError(404, "unreadable", f"cannot read the file: it is {what}")
        if found.st_size > limit:
            return too_large(found.st_size, limit, more=False)
        with path.open("rb") as file:
            data = file.read(limit + 1)  # the file may have grown since
        if len(data) > limit:
            return too_large(len(data), limit, more=True)
    except OSError as exc:
        return ImageError(404, "unreadable", f"cannot read the file: {exc.strerror or exc}")
    try:
        return classify(model, data, top_k, settings.image_max_pixels)
    except ImageError as exc:
        return exc


def _as_json(path: Path, answer: Any) -> dict[str, Any]:
    from tempo.core.errors import TempoError

    if isinstance(answer, TempoError):
        return {"file": str(path), "error": {"code": answer.code, "message": answer.message}}
    return {"file": str(path), **answer.model_dump()}
