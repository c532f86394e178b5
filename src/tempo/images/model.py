"""An ONNX image classifier, loaded once per worker, and how an image becomes its input.

How to feed the model comes, first found first, from
1. a JSON beside it (same name, `.json`: the bundled model's digits.json is one);
2. the model's own metadata, a `tempo` entry holding the same JSON;
3. its input's shape, with ImageNet's conventions: RGB, NCHW, the shorter side resized to
   input / 0.875 and the centre cropped, mean (0.485, 0.456, 0.406) and std
   (0.229, 0.224, 0.225) on 0–1 values.

Normalisation, per channel: x = (p' / 255 - mean) / std, where p' is the pixel (0–255), or
255 - p when `invert` (a model trained on light ink on a dark ground, like the digits).

The output is the one the JSON names, else the first float output of shape (N, classes);
its `kind` says whether it holds probabilities or logits (softmax is applied to logits;
`auto`, the default, applies it unless every row is already a distribution).

The session runs each inference on one thread (intra_op_num_threads=1): requests are the
unit of parallelism here (several workers, a few classifications at once in each), and a
session with a thread per core in every worker would oversubscribe the CPU and spin idle
threads between requests; for a small model the hand-off costs more than it saves.

numpy and onnxruntime are imported when a model is loaded, not when the app starts.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tempo.images.errors import ModelError

if TYPE_CHECKING:
    import numpy as np
    import onnxruntime as ort
    from numpy.typing import NDArray
    from PIL.Image import Image

MODEL_DIR = Path(__file__).resolve().parent / "model"
BUNDLED_MODEL = MODEL_DIR / "digits.onnx"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_GREY_MEAN = 0.449  # the three channels' mean and std, averaged, for a grey input
IMAGENET_GREY_STD = 0.226
CROP_RATIO = 0.875  # 224 of 256: the usual ImageNet evaluation crop
FIT_DECODED_SIDE = 256
METADATA_KEY = "tempo"

Layout = Literal["flat", "NCHW", "NHWC"]
Resize = Literal["stretch", "crop", "fit"]
OutputKind = Literal["probabilities", "logits", "auto"]


@dataclass(frozen=True)
class Preprocessing:
    width: int
    height: int
    channels: int  # 1 (grayscale) or 3 (RGB)
    layout: Layout
    resize: Resize
    invert: bool
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_ratio: float = CROP_RATIO

    @property
    def color(self) -> str:
        return "L" if self.channels == 1 else "RGB"

    @property
    def decoded_at_least(self) -> tuple[int, int]:
        """The size a JPEG may be decoded down to (its draft mode), not below. `fit` crops
        to the ink afterwards, which may be a small part of the picture: it keeps at least
        FIT_DECODED_SIDE pixels a side (a phone's photo is still decoded at 1/8)."""
        if self.resize == "fit":
            return max(self.width, FIT_DECODED_SIDE), max(self.height, FIT_DECODED_SIDE)
        return self.width, self.height

    def input(self, image: Image) -> NDArray[np.float32]:
        """`image` (in `color`) as one batch of the model's input."""
        import numpy as np
        from PIL import Image as PILImage

        size = (self.width, self.height)
        if self.resize == "fit":
            image = _fit_to_ink(image, self.invert)
        if self.resize in ("stretch", "fit"):
            # BOX averages every source pixel into its target: the right filter for
            # shrinking a drawing to a few pixels.
            image = image.resize(size, PILImage.Resampling.BOX, reducing_gap=3.0)
        else:
            side = round(min(self.width, self.height) / self.crop_ratio)
            scale = side / min(image.size)
            resized = (
                max(side, round(image.width * scale)),
                max(side, round(image.height * scale)),
            )
            image = image.resize(resized, PILImage.Resampling.BILINEAR, reducing_gap=3.0)
            left, top = (resized[0] - self.width) // 2, (resized[1] - self.height) // 2
            image = image.crop((left, top, left + self.width, top + self.height))
        pixels = np.asarray(image, dtype=np.float32)
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        if self.invert:
            pixels = 255.0 - pixels
        if self.resize == "fit" and (strongest := float(pixels.max())) > 0:
            # A pen's thin stroke averages out to faint ink at a few pixels: the strongest
            # pixel is taken as full ink, as the data set's digits have it.
            pixels *= 255.0 / strongest
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        pixels = (pixels / 255.0 - mean) / std
        if self.layout == "flat":
            return pixels.reshape(1, -1)
        if self.layout == "NCHW":
            return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None])
        return pixels[None]


# Ink is what is at least this share of the darkest (or, not inverted, lightest) pixel's
# contrast with the ground: paper's grain and a JPEG's ringing stay below it.
INK_SHARE = 0.25


def _fit_to_ink(image: Image, invert: bool) -> Image:
    """The ink's bounding box, centred in a square of the ground's colour: a digit drawn
    small in a corner of a large page becomes what the data set's digits are, a figure
    that fills its box (its height, or its width when wider). A blank image stays as it is."""
    import numpy as np
    from PIL import Image as PILImage

    # numpy rather than Pillow's invert and point: under half the time (66 → 28 µs at 64×64).
    grey = np.asarray(image if image.mode == "L" else image.convert("L"))
    ink = 255 - grey if invert else grey
    strongest = int(ink.max())
    if not strongest:
        return image
    mask = ink > strongest * INK_SHARE
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = (int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1)
    figure = image.crop(box)
    side = max(figure.size)
    level = 255 if invert else 0
    ground = level if image.mode == "L" else (level, level, level)
    square = PILImage.new(image.mode, (side, side), ground)
    square.paste(figure, ((side - figure.width) // 2, (side - figure.height) // 2))
    return square


class _Doc(BaseModel):
    # Strict: "8" is not a width nor `true` a size; keys Tempo does not read are allowed.
    model_config = ConfigDict(strict=True, extra="allow")


class _InputDoc(_Doc):
    name: str | None = None
    width: Annotated[int, Field(ge=1)] | None = None
    height: Annotated[int, Field(ge=1)] | None = None
    channels: Literal[1, 3] | None = None
    color: Literal["grayscale", "RGB"] | None = None
    layout: Layout | None = None
    resize: Resize | None = None
    crop_ratio: Annotated[float, Field(gt=0, le=1)] | None = None


class _NormalizationDoc(_Doc):
    invert: bool | None = None
    mean: list[float] | None = None
    std: list[float] | None = None


class _OutputDoc(_Doc):
    name: str | None = None
    kind: OutputKind | None = None


class _SidecarDoc(_Doc):
    name: str | None = None
    version: str | int | None = None
    description: str | None = None
    labels: str | None = None
    input: _InputDoc | None = None
    normalization: _NormalizationDoc | None = None
    output: _OutputDoc | None = None
    accuracy: dict[str, Any] | None = None


@dataclass(frozen=True)
class Description:
    """What GET /images/model says, and what loading decided."""

    name: str
    version: str
    description: str | None
    source: Literal["bundled", "custom"]
    file: str
    described_by: Literal["sidecar", "metadata", "input shape"]
    input_name: str
    output_name: str
    output_kind: OutputKind
    preprocessing: Preprocessing
    labels_file: str | None
    accuracy: dict[str, Any] | None = None


@dataclass
class Model:
    description: Description
    labels: list[str]
    session: ort.InferenceSession = field(repr=False)

    def scores(self, batch: NDArray[np.float32]) -> NDArray[np.float32]:
        """Class probabilities for each image of `batch`."""
        import numpy as np

        d = self.description
        (output,) = self.session.run([d.output_name], {d.input_name: batch})
        scores = np.asarray(output, dtype=np.float32).reshape(batch.shape[0], -1)
        if d.output_kind == "logits" or (d.output_kind == "auto" and not _distributions(scores)):
            scores = _softmax(scores)
        return scores


def _distributions(scores: NDArray[np.float32]) -> bool:
    import numpy as np

    sums = scores.sum(axis=1)
    return bool((scores >= 0).all() and (scores <= 1).all() and np.allclose(sums, 1, atol=1e-3))


def _softmax(logits: NDArray[np.float32]) -> NDArray[np.float32]:
    import numpy as np

    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    result: NDArray[np.float32] = shifted / shifted.sum(axis=1, keepdims=True)
    return result


def _session(path: Path) -> ort.InferenceSession:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # see the module's docstring
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: its warnings would go to stderr raw
    try:
        return ort.InferenceSession(
            path.read_bytes(), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except OSError as exc:
        raise ModelError(f"{path.name}: cannot read the model: {exc.strerror or exc}") from None
    except Exception as exc:  # ONNX Runtime's own exception types, one per failure
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{path.name} is not a model ONNX Runtime can load: {first}") from None


def _sidecar(path: Path, session: ort.InferenceSession) -> tuple[dict[str, Any], str]:
    json_path = path.with_suffix(".json")
    if json_path.is_file():
        text, where, kind = json_path.read_text(encoding="utf-8"), json_path.name, "sidecar"
    else:
        metadata = session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in metadata:
            return {}, "input shape"
        text, where, kind = metadata[METADATA_KEY], f"{path.name} metadata", "metadata"
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ModelError(f"{where} must hold a JSON object")
    _check_description(doc, where)
    return doc, kind


def _check_description(doc: dict[str, Any], where: str) -> None:
    """ModelError naming the first key of the JSON that has the wrong type or value: a
    string for a number, `true` for a size, a list for an object would otherwise fail later
    with a message about something else, or a traceback."""
    from pydantic import ValidationError

    try:
        _SidecarDoc.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        place = ".".join(str(part) for part in first["loc"])
        said = "should be a JSON object" if first["type"] in _OBJECT_ERRORS else first["msg"]
        raise ModelError(f"{where}: {place}: {said} (got {first['input']!r:.60})") from None


_OBJECT_ERRORS = frozenset({"model_type", "model_attributes_type", "dict_type"})


def _dimension(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def preprocessing(doc: dict[str, Any], shape: list[Any], where: str) -> Preprocessing:
    given = doc.get("input", {}) or {}
    norm = doc.get("normalization", {}) or {}
    layout: str = given.get("layout") or ("flat" if len(shape) == 2 else "")
    if not layout:
        if len(shape) == 4 and _dimension(shape[1]) in (1, 3):
            layout = "NCHW"
        elif len(shape) == 4 and _dimension(shape[3]) in (1, 3):
            layout = "NHWC"
        else:
            raise ModelError(
                f"{where}: the input's shape {shape} is not (N, C, H, W) nor (N, H, W, C); "
                "describe it in a JSON beside the model (README, Classify images)"
            )
    if layout not in ("flat", "NCHW", "NHWC"):
        raise ModelError(f"{where}: input layout {layout!r} is not flat, NCHW or NHWC")
    axes = {"NCHW": (1, 2, 3), "NHWC": (3, 1, 2)}.get(layout)
    channels = given.get("channels") or (_dimension(shape[axes[0]]) if axes else None)
    color = given.get("color")
    if channels is None:
        channels = 1 if color == "grayscale" else 3
    height = given.get("height") or (_dimension(shape[axes[1]]) if axes else None)
    width = given.get("width") or (_dimension(shape[axes[2]]) if axes else None)
    if not (isinstance(width, int) and isinstance(height, int)) or width < 1 or height < 1:
        raise ModelError(
            f"{where}: the input's shape {shape} does not say the image's width and height; "
            "give them in a JSON beside the model (README, Classify images)"
        )
    if channels not in (1, 3):
        raise ModelError(f"{where}: {channels} channels; Tempo feeds 1 (grayscale) or 3 (RGB)")
    if layout == "flat" and _dimension(shape[1]) not in (None, width * height * channels):
        raise ModelError(f"{where}: a flat input of {shape[1]} values is not {width}×{height}")
    imagenet = not doc
    default_mean: tuple[float, ...]
    default_std: tuple[float, ...]
    if imagenet:
        # A grey input takes ImageNet's figures averaged over its three channels.
        default_mean = IMAGENET_MEAN if channels == 3 else (IMAGENET_GREY_MEAN,)
        default_std = IMAGENET_STD if channels == 3 else (IMAGENET_GREY_STD,)
    else:
        default_mean, default_std = (0.0,) * channels, (1.0,) * channels
    mean = tuple(norm.get("mean", default_mean))
    std = tuple(norm.get("std", default_std))
    if len(mean) not in (1, channels) or len(std) not in (1, channels) or 0 in std:
        counts = "1 value" if channels == 1 else f"1 or {channels} values"
        raise ModelError(f"{where}: mean and std need {counts} each, and no std of 0")
    resize = given.get("resize", "crop" if imagenet else "stretch")
    if resize not in ("stretch", "crop", "fit"):
        raise ModelError(f"{where}: resize {resize!r} is not stretch, crop or fit")
    return Preprocessing(
        width=width, height=height, channels=channels, layout=layout,  # type: ignore[arg-type]
        resize=resize, invert=bool(norm.get("invert", False)),
        mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std),
        crop_ratio=float(given.get("crop_ratio", CROP_RATIO)),
    )  # fmt: skip


def _labels(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path.name}: cannot read the labels: {exc}") from None
    labels = [line.strip() for line in lines]
    while labels and not labels[-1]:
        labels.pop()
    if not labels:
        raise ModelError(f"{path.name} holds no labels (one a line)")
    return labels


def load(path: Path, labels_path: Path | None = None, *, bundled: bool = False) -> Model:
    """The model at `path`, checked: its input can be fed, its output read, and the labels
    are as many as its classes. ModelError otherwise."""
    import numpy as np

    session = _session(path)
    doc, described_by = _sidecar(path, session)
    where = path.with_suffix(".json").name if described_by == "sidecar" else path.name
    inputs = {i.name: i for i in session.get_inputs()}
    input_name = (doc.get("input") or {}).get("name") or next(iter(inputs))
    if input_name not in inputs:
        raise ModelError(f"{where}: the model has no input {input_name!r} ({', '.join(inputs)})")
    if inputs[input_name].type != "tensor(float)":
        raise ModelError(f"{path.name}: input {input_name!r} is {inputs[input_name].type}, "
                         "not tensor(float)")  # fmt: skip
    fed = preprocessing(doc, list(inputs[input_name].shape), where)
    outputs = session.get_outputs()
    output_doc = doc.get("output") or {}
    output_name = output_doc.get("name") or next(
        (o.name for o in outputs if o.type == "tensor(float)" and len(o.shape) == 2), None
    )
    if output_name is None or output_name not in {o.name for o in outputs}:
        names = ", ".join(o.name for o in outputs)
        raise ModelError(f"{where}: no float output of shape (N, classes) found among {names}")
    kind = output_doc.get("kind", "auto")
    if kind not in ("probabilities", "logits", "auto"):
        raise ModelError(f"{where}: output kind {kind!r} is not probabilities, logits or auto")
    if labels_path is None and doc.get("labels"):
        labels_path = path.parent / str(doc["labels"])
    if labels_path is None and path.with_suffix(".labels.txt").is_file():
        labels_path = path.with_suffix(".labels.txt")
    labels = _labels(labels_path)
    meta = session.get_modelmeta()
    description = Description(
        name=str(doc.get("name") or meta.graph_name or path.stem),
        version=str(doc.get("version") or _model_version(meta.version)),
        description=doc.get("description") or meta.description or None,
        source="bundled" if bundled else "custom",
        file=path.name,
        described_by=described_by,  # type: ignore[arg-type]
        input_name=input_name,
        output_name=output_name,
        output_kind=kind,
        preprocessing=fed,
        labels_file=labels_path.name if labels_path else None,
        accuracy=doc.get("accuracy"),
    )
    model = Model(description, labels or [], session)
    # One inference on a blank image: the number of classes, and a model that runs.
    blank = np.zeros((fed.height, fed.width), dtype=np.uint8)
    from PIL import Image as PILImage

    picture = PILImage.fromarray(blank, "L").convert(fed.color)
    try:
        classes = model.scores(fed.input(picture)).shape[1]
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ModelError(f"{path.name} fails on an image of the described input: {first}") from None
    if labels is None:
        model.labels = [str(i) for i in range(classes)]
    elif len(labels) != classes:
        assert labels_path is not None
        raise ModelError(
            f"{labels_path.name} has {len(labels)} labels but {path.name} outputs {classes} "
            "classes: use the labels file that came with the model"
        )
    return model


def _model_version(version: int) -> str:
    """The model's own `model_version`; ONNX Runtime says 2^63 - 1 when it has none."""
    return "unknown" if version in (0, 2**63 - 1) else str(version)


# --- one model per worker, loaded on first use ------------------------------------------

_loaded: dict[tuple[Path, Path | None], Model | ModelError] = {}
_lock = threading.Lock()


def configured(model: Path | None, labels: Path | None) -> Model:
    """The model of these settings (None: the bundled one), loaded once per process. A model
    that cannot be used is tried once too: every later request gets the same ModelError
    without reading the file again."""
    key = (model or BUNDLED_MODEL, labels)
    found = _loaded.get(key)
    if found is None:
        with _lock:
            if key not in _loaded:
                try:
                    _loaded[key] = load(key[0], labels, bundled=model is None)
                except ModelError as exc:
                    _loaded[key] = exc
            found = _loaded[key]
    if isinstance(found, ModelError):
        raise ModelError(found.message)
    return found
