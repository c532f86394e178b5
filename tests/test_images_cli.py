"""`tempo classify IMAGE…`: real files, a bad one among them, JSON, another model, and the
progress bar on a terminal."""

from __future__ import annotations

import json
import os
from pathlib import Path

from PIL import Image

from tests.fixtures.images import COLOUR_SIDECAR, colour_model, digit_file, encode, held_out
from tests.fixtures.processes import tempo
from tests.test_cli_progress import ANSI, on_terminal


def digits(folder: Path, count: int) -> list[tuple[Path, int]]:
    _, labels = held_out()
    made = []
    for index in range(count):
        path = folder / f"digit-{index}.png"
        path.write_bytes(digit_file(index))
        made.append((path, int(labels[index])))
    return made


def test_each_file_gets_its_labels_and_a_bad_one_its_own_error(tmp_path: Path) -> None:
    (good, label), (other, other_label) = digits(tmp_path, 2)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(digit_file(0, "JPEG")[:150])
    missing = tmp_path / "missing.png"
    result = tempo("classify", str(good), str(text), str(missing), str(truncated), str(other),
                   "--top-k", "2")  # fmt: skip
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [str(good), str(other)]
    assert lines[0].startswith(f"{good}: {label} (")
    assert lines[1].startswith(f"{other}: {other_label} (")
    assert lines[0].count("%)") == 2
    assert result.stderr.splitlines() == [
        f"error: {text}: the file is text, not an image; send a PNG, JPEG or WebP image",
        f"error: {missing}: cannot read the file: No such file or directory",
        f"error: {truncated}: the JPEG image cannot be decoded (corrupt or truncated): "
        "image file is truncated (150 bytes not processed)"
        if "150 bytes" in result.stderr
        else result.stderr.splitlines()[2],
    ]
    assert str(truncated) in result.stderr.splitlines()[2]


def test_json_and_another_model(tmp_path: Path) -> None:
    (good, label), = digits(tmp_path, 1)  # fmt: skip
    result = tempo("classify", "--json", "--top-k", "1", str(good))
    assert result.returncode == 0, result.stderr
    (answer,) = json.loads(result.stdout)
    assert answer["file"] == str(good) and answer["model"] == {"name": "digits", "version": "1"}
    assert answer["predictions"][0]["label"] == str(label) and answer["format"] == "PNG"

    model = colour_model(tmp_path, sidecar=COLOUR_SIDECAR)
    labels = tmp_path / "rgb.txt"
    labels.write_text("red\ngreen\nblue\n")
    blue = tmp_path / "blue.webp"
    blue.write_bytes(encode(Image.new("RGB", (20, 20), "blue"), "WEBP", lossless=True))
    result = tempo("classify", "--model", str(model), "--labels", str(labels), str(blue))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{blue}: blue (100.0%), ")

    labels.write_text("red\ngreen\n")
    result = tempo("classify", "--model", str(model), "--labels", str(labels), str(blue))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (
        "error: rgb.txt has 2 labels but colours.onnx outputs 3 classes: use the labels file "
        "that came with the model\n"
    )
    result = tempo("classify", "--model", str(tmp_path / "nope.onnx"), str(blue))
    assert result.returncode == 1 and "IMAGE_MODEL: no such file" in result.stderr
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    result = tempo("classify", "--model", str(broken), str(blue))
    assert result.returncode == 1
    assert result.stderr.startswith("error: broken.onnx is not a model ONNX Runtime can load")


def test_many_files_draw_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    made = digits(tmp_path, 12)
    run = on_terminal("classify", *(str(path) for path, _ in made))
    assert run.returncode == 0, run.text
    assert "classifying" in run.text and "12/12" in ANSI.sub("", run.terminal)
    assert len(run.stdout.splitlines()) == 12 and "\x1b" not in run.stdout


def test_serve_refuses_to_start_with_a_model_its_labels_do_not_fit(
    database_url: str, tmp_path: Path
) -> None:
    model = colour_model(tmp_path, sidecar=COLOUR_SIDECAR)
    labels = tmp_path / "four.txt"
    labels.write_text("red\ngreen\nblue\ngrey\n")
    env = {"DATABASE_URL": database_url, "IMAGE_MODEL": str(model), "IMAGE_LABELS": str(labels)}
    result = tempo("serve", "--port", "0", env=env, timeout=60)
    assert result.returncode == 1
    assert result.stderr.endswith(
        "error: four.txt has 4 labels but colours.onnx outputs 3 classes: use the labels file "
        "that came with the model\n"
    )


def test_a_directory_a_fifo_and_a_device_are_refused_unread(tmp_path: Path) -> None:
    # A FIFO used to block the command for ever, /dev/zero to be read until memory ran out.
    (good, label), = digits(tmp_path, 1)  # fmt: skip
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    result = tempo("classify", str(fifo), "/dev/zero", str(tmp_path), str(good), timeout=60)
    assert result.returncode == 1
    assert result.stdout.startswith(f"{good}: {label} (")
    assert result.stderr.splitlines() == [
        f"error: {fifo}: cannot read the file: it is not a regular file",
        "error: /dev/zero: cannot read the file: it is not a regular file",
        f"error: {tmp_path}: cannot read the file: it is a directory",
    ]
