"""Classifying an image: decode it (guarded), feed it to the configured model, keep the top
classes. Blocking work: the routes run it off the event loop (tempo.core.limits)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from fastapi import Request

from tempo.core.limits import IMAGES, ensure_connected, run_blocking
from tempo.images.decode import SUPPORTED, Decoded, decode
from tempo.images.model import Model, configured
from tempo.images.schemas import (
    Classification,
    ImageLimits,
    InputSpec,
    ModelInfo,
    ModelName,
    Normalization,
    OutputSpec,
    Prediction,
)

if TYPE_CHECKING:
    from tempo.core.settings import Settings

TOP_K_MAX = 10
T = TypeVar("T")


@dataclass(frozen=True)
class ModelChoice:
    """Which model and labels (None: the bundled model, the model's own labels)."""

    model: Path | None
    labels: Path | None

    @classmethod
    def of(cls, settings: Settings) -> ModelChoice:
        return cls(settings.image_model, settings.image_labels)

    def load(self) -> Model:
        return configured(self.model, self.labels)


async def in_turn(
    settings: Settings, work: Callable[[Model, bytes, int, int], T], data: bytes, top_k: int,
    request: Request | None = None,
) -> T:  # fmt: skip
    """`work` (classify, or classify_with_preview for the page) on the configured model, in
    one of the worker's classification slots (IMAGES) and one trip to the thread pool,
    model loading included; `request`, if given, must still be there once its turn comes."""
    choice = ModelChoice.of(settings)
    async with IMAGES.slot():
        if request is not None:
            await ensure_connected(request, "before classifying")  # it may have waited
        return await run_blocking(
            lambda: work(choice.load(), data, top_k, settings.image_max_pixels)
        )


def classify(model: Model, data: bytes, top_k: int, max_pixels: int) -> Classification:
    return _answer(model, _decoded(model, data, max_pixels), top_k)


def _decoded(model: Model, data: bytes, max_pixels: int) -> Decoded:
    pre = model.description.preprocessing
    return decode(data, max_pixels=max_pixels, color=pre.color, at_least=pre.decoded_at_least)


def _answer(model: Model, decoded: Decoded, top_k: int) -> Classification:
    import numpy as np

    pre = model.description.preprocessing
    scores = model.scores(pre.input(decoded.image))[0]
    top = np.argsort(-scores, kind="stable")[:top_k]
    return Classification(
        model=ModelName(name=model.description.name, version=model.description.version),
        predictions=[
            Prediction(label=model.labels[i], score=round(float(scores[i]), 6)) for i in top
        ],
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        frames=decoded.frames,
    )


def model_info(model: Model, settings: Settings) -> ModelInfo:
    d = model.description
    pre = d.preprocessing
    return ModelInfo(
        name=d.name,
        version=d.version,
        description=d.description,
        source=d.source,
        file=d.file,
        described_by=d.described_by,
        input=InputSpec(
            name=d.input_name,
            width=pre.width,
            height=pre.height,
            channels=pre.channels,
            color="grayscale" if pre.channels == 1 else "RGB",
            layout=pre.layout,
            resize=pre.resize,
        ),  # fmt: skip
        normalization=Normalization(invert=pre.invert, mean=list(pre.mean), std=list(pre.std)),
        output=OutputSpec(name=d.output_name, kind=d.output_kind),
        labels=len(model.labels),
        labels_file=d.labels_file,
        accuracy=d.accuracy,
        limits=ImageLimits(
            max_bytes=settings.image_max_bytes,
            max_pixels=settings.image_max_pixels,
            types=sorted(SUPPORTED.values()),
        ),
    )


@dataclass(frozen=True)
class PageAnswer:
    classification: Classification
    preview: str  # a data: URL of the image as the model saw it (in its colours), for <img>


PREVIEW_SIDE = 192  # px, the longer side of the page's preview


def classify_with_preview(model: Model, data: bytes, top_k: int, max_pixels: int) -> PageAnswer:
    """`classify`, and the image again as a small PNG for the page (which runs no script and
    loads images only from itself or data: URLs)."""
    import base64
    import io

    from PIL import Image

    decoded = _decoded(model, data, max_pixels)
    classification = _answer(model, decoded, top_k)
    image = decoded.image
    scale = PREVIEW_SIDE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # A small drawing is enlarged with its pixels kept square, a photo shrunk smoothly.
    resample = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.BILINEAR
    buffer = io.BytesIO()
    image.resize(size, resample).save(buffer, "PNG")
    return PageAnswer(
        classification, "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    )
