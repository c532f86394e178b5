"""The image routes' answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelName(BaseModel):
    name: str = Field(description="The model's name (its JSON, metadata, or file name)")
    version: str = Field(description="The model's version, as it states it")


class Prediction(BaseModel):
    label: str = Field(description="A class of the model, from its labels file")
    score: float = Field(ge=0, le=1, description="Its probability (the scores of all sum to 1)")


CLASSIFICATION_EXAMPLE: dict[str, Any] = {
    "model": {"name": "digits", "version": "1"},
    "predictions": [
        {"label": "3", "score": 0.9981},
        {"label": "9", "score": 0.0012},
        {"label": "5", "score": 0.0004},
    ],
    "width": 64,
    "height": 64,
    "format": "PNG",
    "frames": 1,
}


class Classification(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [CLASSIFICATION_EXAMPLE]})

    model: ModelName
    predictions: list[Prediction] = Field(description="The top_k classes, the likeliest first")
    width: int = Field(description="The image's width in pixels, as sent")
    height: int = Field(description="The image's height in pixels, as sent")
    format: Literal["PNG", "JPEG", "WEBP"] = Field(description="The image's format, by content")
    frames: int = Field(description="Frames in the file; an animated image's first is classified")


class InputSpec(BaseModel):
    name: str = Field(description="The model's input tensor")
    width: int
    height: int
    channels: int = Field(description="1: grayscale, 3: RGB")
    color: Literal["grayscale", "RGB"]
    layout: Literal["flat", "NCHW", "NHWC"]
    resize: Literal["stretch", "crop", "fit"] = Field(
        description="stretch: the whole image to width × height; crop: the shorter side to "
        "size / crop_ratio, then the centre; fit: the ink's bounding box centred in a square, "
        "then stretched, its strongest pixel taken as full ink (a drawing anywhere on a page)"
    )


class Normalization(BaseModel):
    invert: bool = Field(description="255 - pixel first (dark ink on light paper → ink counts)")
    mean: list[float]
    std: list[float]
    formula: str = "x = (p / 255 - mean) / std, per channel (p inverted first if invert)"


class OutputSpec(BaseModel):
    name: str
    kind: Literal["probabilities", "logits", "auto"] = Field(
        description="logits get a softmax; auto applies one unless the rows are distributions"
    )


class ImageLimits(BaseModel):
    max_bytes: int = Field(description="IMAGE_MAX_BYTES")
    max_pixels: int = Field(description="IMAGE_MAX_PIXELS (width × height, from the header)")
    types: list[str]


MODEL_EXAMPLE: dict[str, Any] = {
    "name": "digits",
    "version": "1",
    "description": "Handwritten digits 0-9 (scikit-learn's digits data set), a neural "
    "network with one hidden layer of 64",
    "source": "bundled",
    "file": "digits.onnx",
    "described_by": "sidecar",
    "input": {
        "name": "input",
        "width": 8,
        "height": 8,
        "channels": 1,
        "color": "grayscale",
        "layout": "flat",
        "resize": "fit",
    },  # fmt: skip
    "normalization": {
        "invert": True,
        "mean": [0.0],
        "std": [0.0625],
        "formula": "x = (p / 255 - mean) / std, per channel (p inverted first if invert)",
    },  # fmt: skip
    "output": {"name": "probabilities", "kind": "probabilities"},
    "labels": 10,
    "labels_file": "digits.labels.txt",
    "accuracy": {"held_out": 0.971111, "held_out_images": 450},
    "limits": {
        "max_bytes": 4194304,
        "max_pixels": 16000000,
        "types": ["image/jpeg", "image/png", "image/webp"],
    },  # fmt: skip
}


class ModelInfo(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [MODEL_EXAMPLE]})

    name: str
    version: str
    description: str | None
    source: Literal["bundled", "custom"] = Field(description="bundled, or IMAGE_MODEL's")
    file: str = Field(description="The model's file name")
    described_by: Literal["sidecar", "metadata", "input shape"] = Field(
        description="Where input size and normalisation came from: the JSON beside the model, "
        "its metadata, or its input's shape with ImageNet's defaults"
    )
    input: InputSpec
    normalization: Normalization
    output: OutputSpec
    labels: int = Field(description="How many classes")
    labels_file: str | None
    accuracy: dict[str, Any] | None = Field(description="As the model's JSON states it, if at all")
    limits: ImageLimits
