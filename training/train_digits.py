"""Train the bundled image classifier: handwritten digits, 8×8 grey levels, in ONNX.

    uv run --group dev python training/train_digits.py [--out FOLDER]   (`make model`)

scikit-learn ships the data set (`load_digits`: 1,797 scans of digits written by 43 people,
each an 8×8 grid of ink counts from 0 to 16), so nothing is downloaded. A small neural
network (one hidden layer of 64) is trained on a fixed, stratified three quarters of it; the
held-out quarter, fixed as well, measures the accuracy written into the JSON beside the
model. Each digit is trained on as Tempo serves it: drawn as a scan, then fed through
tempo.images' own preprocessing (cropped to its ink, centred, full ink made 16), so a
digit drawn small in a corner of a page is seen as the training digits were. The model is
exported with skl2onnx without its ZipMap, so its `probabilities` output is a plain (N, 10)
tensor, and writes three files: digits.onnx, digits.labels.txt and digits.json (what
tempo.images reads to feed the model an image).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "src" / "tempo" / "images" / "model"
NAME = "digits"
VERSION = "1"
RANDOM_STATE = 0
HELD_OUT = 0.25  # share of the data set kept out of training, the same every time
INK_MAX = 16  # the data set's ink scale: 0 (paper) to 16 (full ink)


def held_out_split() -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    """(train images, held-out images, train labels, held-out labels): images as (N, 64)
    ink counts 0–16, row by row, as `load_digits` gives them."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    images, labels = load_digits(return_X_y=True)
    train_x, test_x, train_y, test_y = train_test_split(
        images, labels, test_size=HELD_OUT, random_state=RANDOM_STATE, stratify=labels
    )
    return train_x, test_x, train_y, test_y


def scan(ink: NDArray[Any], side: int = 64) -> Any:
    """One digit as a scan shows it: dark ink on white paper (16 is black), enlarged to
    `side` pixels square."""
    from PIL import Image

    grey = (255 - np.round(ink.reshape(8, 8) * 255 / INK_MAX)).astype(np.uint8)
    return Image.fromarray(grey, "L").resize((side, side), Image.Resampling.NEAREST)


def as_fed(images: NDArray[Any]) -> NDArray[np.float32]:
    """What Tempo feeds the model for each digit's scan, through tempo.images' own
    preprocessing (fitted to the ink, full ink made 16): the model learns what it is served."""
    from tempo.images.model import preprocessing

    fed = preprocessing(describe(0.0, 0), [None, 64], f"{NAME}.json")
    return np.vstack([fed.input(scan(ink)) for ink in images])


def train() -> Any:
    from sklearn.neural_network import MLPClassifier

    train_x, _, train_y, _ = held_out_split()
    model = MLPClassifier(hidden_layer_sizes=(64,), max_iter=1000, random_state=RANDOM_STATE)
    model.fit(as_fed(train_x), train_y)
    return model


def export(model: Any) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onnx_model = convert_sklearn(
        model,
        name=NAME,
        initial_types=[("input", FloatTensorType([None, 64]))],
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    onnx_model.doc_string = "Handwritten digits 0-9 from 8x8 ink counts (0-16); see digits.json"
    onnx_model.model_version = int(VERSION)
    data: bytes = onnx_model.SerializeToString()
    return data


def describe(accuracy: float, held_out: int) -> dict[str, Any]:
    """The sidecar JSON: how an image becomes the model's input, and what comes out."""
    return {
        "name": NAME,
        "version": VERSION,
        "description": (
            "Handwritten digits 0-9 (scikit-learn's digits data set), a neural network "
            "with one hidden layer of 64"
        ),
        "labels": f"{NAME}.labels.txt",
        "input": {
            "name": "input",
            "width": 8,
            "height": 8,
            "channels": 1,
            "color": "grayscale",
            "layout": "flat",
            "resize": "fit",
        },
        "normalization": {
            # The data set counts ink: dark ink on light paper (a scan, a drawing) is
            # inverted first, then 0–255 becomes 0–16: x = (255 - p) / 255 * 16.
            "invert": True,
            "mean": [0.0],
            "std": [1 / INK_MAX],
            "range": [0, INK_MAX],
        },
        "output": {"name": "probabilities", "kind": "probabilities"},
        "accuracy": {
            "held_out": round(accuracy, 6),
            "held_out_images": held_out,
            "split": (
                f"scikit-learn load_digits, train_test_split(test_size={HELD_OUT}, "
                f"random_state={RANDOM_STATE}, stratify=labels)"
            ),
        },
    }


def held_out_accuracy(onnx_bytes: bytes) -> float:
    """The exported model's accuracy on the held-out images, run by ONNX Runtime."""
    import onnxruntime as ort

    _, test_x, _, test_y = held_out_split()
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(["probabilities"], {"input": as_fed(test_x)})
    return float((np.argmax(probabilities, axis=1) == test_y).mean())


SAMPLE_DIGITS = (3, 7)
SAMPLE_SIDE = 64  # px: each of the 8×8 cells becomes 8×8 pixels


def write_samples(folder: Path) -> list[Path]:
    """The first held-out 3 and 7 as the README's sample files: 64×64 PNGs, dark ink on
    white paper as a scan shows a digit (the data set counts ink, so 16 is black)."""
    _, test_x, _, test_y = held_out_split()
    written = []
    for digit in SAMPLE_DIGITS:
        path = folder / f"digit-{digit}.png"
        scan(test_x[list(test_y).index(digit)], SAMPLE_SIDE).save(path, "PNG", optimize=True)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=MODEL_DIR, help="folder for the 3 files")
    parser.add_argument("--samples", type=Path, help="also write digit-3.png and digit-7.png here")
    args = parser.parse_args(argv)
    if args.samples is not None:
        write_samples(args.samples)
    model = train()
    onnx_bytes = export(model)
    _, test_x, _, _ = held_out_split()
    accuracy = held_out_accuracy(onnx_bytes)
    description = describe(accuracy, len(test_x))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{NAME}.onnx").write_bytes(onnx_bytes)
    labels = "".join(f"{label}\n" for label in model.classes_)
    (out / f"{NAME}.labels.txt").write_text(labels, encoding="utf-8")
    (out / f"{NAME}.json").write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    print(f"{NAME} v{VERSION}: held-out accuracy {accuracy:.2%} on {len(test_x)} images → {out}")
    return description


if __name__ == "__main__":
    main()
