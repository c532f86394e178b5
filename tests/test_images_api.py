"""POST /images/classify and GET /images/model on real image files: the bundled model's
accuracy over HTTP, every refusal, a burst, and a model of one's own through IMAGE_MODEL."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tempo.app import create_app
from tempo.core.limits import IMAGES
from tempo.core.settings import Settings
from tempo.images.upload import MULTIPART_OVERHEAD
from tests.fixtures.app import make_settings, running
from tests.fixtures.images import (
    COLOUR_SIDECAR,
    colour_model,
    digit_file,
    encode,
    held_out,
    png_claiming,
)
from tests.test_admission import CHUNK, Body

ROOT = Path(__file__).resolve().parent.parent
STATED = json.loads((ROOT / "src/tempo/images/model/digits.json").read_text())["accuracy"]
# JPEG's artefacts may flip a borderline digit or two; PNG and WebP (lossless) must not.
JPEG_TOLERANCE = 0.01
PNG = "image/png"


async def accuracy(client: httpx.AsyncClient, format: str, **options: object) -> float:
    images, labels = held_out()
    media = f"image/{format.lower()}"
    right = 0
    for index, label in enumerate(labels):
        body = digit_file(index, format, **options)
        response = await client.post("/images/classify", content=body,
                                     headers={"Content-Type": media})  # fmt: skip
        assert response.status_code == 200, response.text
        right += response.json()["predictions"][0]["label"] == str(label)
    return right / len(labels)


async def test_the_held_out_digits_over_http_score_the_stated_accuracy(
    client: httpx.AsyncClient,
) -> None:
    stated = STATED["held_out"]
    assert STATED["held_out_images"] == len(held_out()[1]) == 450
    assert await accuracy(client, "PNG") >= stated - 1e-6
    assert await accuracy(client, "WEBP", lossless=True) >= stated - 1e-6
    assert await accuracy(client, "JPEG", quality=90) >= stated - JPEG_TOLERANCE


async def test_an_answer_as_a_form_and_as_a_raw_body(client: httpx.AsyncClient) -> None:
    images, labels = held_out()
    png = digit_file(0)
    form = await client.post(
        "/images/classify", params={"top_k": 5}, files={"image": ("d.png", png, "image/png")}
    )
    raw = await client.post("/images/classify", params={"top_k": 5}, content=png,
                            headers={"Content-Type": "image/png"})  # fmt: skip
    assert form.status_code == raw.status_code == 200
    answer = form.json()
    assert answer == raw.json()
    assert answer["model"] == {"name": "digits", "version": "1"}
    assert (answer["width"], answer["height"], answer["format"], answer["frames"]) == (
        64, 64, "PNG", 1,
    )  # fmt: skip
    scores = [p["score"] for p in answer["predictions"]]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    assert answer["predictions"][0]["label"] == str(labels[0])
    assert {p["label"] for p in answer["predictions"]} <= {str(d) for d in range(10)}
    for top_k in (0, 11, "x"):
        refused = await client.post("/images/classify", params={"top_k": top_k}, content=png,
                                    headers={"Content-Type": "image/png"})  # fmt: skip
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request"


async def test_the_model_route_describes_the_bundled_model(client: httpx.AsyncClient) -> None:
    response = await client.get("/images/model")
    assert response.status_code == 200
    model = response.json()
    assert model["name"] == "digits" and model["source"] == "bundled"
    assert model["described_by"] == "sidecar" and model["labels"] == 10
    assert model["input"] == {
        "name": "input", "width": 8, "height": 8, "channels": 1, "color": "grayscale",
        "layout": "flat", "resize": "fit",
    }  # fmt: skip
    assert model["normalization"]["invert"] is True
    assert model["normalization"]["std"] == [1 / 16]
    assert model["output"] == {"name": "probabilities", "kind": "probabilities"}
    assert model["accuracy"]["held_out"] == STATED["held_out"]
    assert model["limits"]["types"] == ["image/jpeg", "image/png", "image/webp"]


def error(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


async def test_types_other_than_png_jpeg_and_webp_are_refused(client: httpx.AsyncClient) -> None:
    picture = Image.new("RGB", (16, 16), "white")
    cases = {
        "GIF": (encode(picture, "GIF"), "image/png"),  # lying about its type
        "BMP": (encode(picture, "BMP"), "image/png"),
        "SVG": (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/png"),
        "text": (b"hello, this is not an image\n", "image/jpeg"),
    }
    for what, (body, media) in cases.items():
        for response in (
            await client.post("/images/classify", content=body, headers={"Content-Type": media}),
            await client.post("/images/classify", files={"image": ("x", body, media)}),
        ):
            assert response.status_code == 415, what
            assert error(response) == "unsupported_image_type", what
    said = await client.post("/images/classify", content=encode(picture, "GIF"),
                             headers={"Content-Type": "image/gif"})  # fmt: skip
    assert said.status_code == 415 and error(said) == "unsupported_media_type"
    assert "image/gif is not taken" in said.json()["error"]["message"]
    for media in ("text/plain", "application/json", "image/svg+xml"):
        response = await client.post("/images/classify", content=b"{}",
                                     headers={"Content-Type": media})  # fmt: skip
        assert response.status_code == 415, media


async def test_corrupt_truncated_and_missing_images_are_422(client: httpx.AsyncClient) -> None:
    png, jpeg = digit_file(0), digit_file(0, "JPEG")
    for body, media in ((png[: len(png) // 2], "image/png"), (jpeg[:200], "image/jpeg"),
                        (png[:20] + b"\0" * 200, "image/png")):  # fmt: skip
        response = await client.post("/images/classify", content=body,
                                     headers={"Content-Type": media})  # fmt: skip
        assert response.status_code == 422, response.text
        assert error(response) == "corrupt_image"
    empty = await client.post("/images/classify", content=b"", headers={"Content-Type": PNG})
    assert empty.status_code == 422 and error(empty) == "no_image"
    wrong_field = await client.post("/images/classify", files={"file": ("d.png", png)})
    assert wrong_field.status_code == 422 and error(wrong_field) == "no_image"
    no_type = await client.post("/images/classify", content=b"")  # with bytes: told by them
    assert no_type.status_code == 422 and error(no_type) == "no_image"


@pytest.fixture
async def small_client(database_url: str, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """IMAGE_MAX_BYTES of 256 KiB and IMAGE_MAX_PIXELS of one million."""
    settings = make_settings(database_url, data_dir, image_max_bytes=256 * 1024,
                             image_max_pixels=1_000_000)  # fmt: skip
    async for client in running(create_app(settings)):
        yield client


async def test_an_oversized_image_is_refused_before_or_while_it_is_read(
    small_client: httpx.AsyncClient,
) -> None:
    png_head = digit_file(0)[:16]
    declared = Body(100, head=png_head)  # 6.4 MB said by Content-Length
    response = await small_client.post(
        "/images/classify", content=declared,  # type: ignore[arg-type]
        headers={"Content-Type": "image/png", "Content-Length": declared.declared},
    )  # fmt: skip
    assert response.status_code == 413 and error(response) == "image_too_large"
    assert declared.read <= 1  # refused from the header: not a chunk pulled
    streamed = Body(100, head=png_head)  # chunked: no length said
    response = await small_client.post("/images/classify", content=streamed,  # type: ignore[arg-type]
                                       headers={"Content-Type": "image/png"})  # fmt: skip
    assert response.status_code == 413 and error(response) == "image_too_large"
    assert streamed.read <= 256 * 1024 // CHUNK + 2  # stopped at the cap
    # A form: the whole body is capped at the image's cap plus the form's framing.
    part = b'--b0undary\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
    form = Body(100, head=part)
    response = await small_client.post(
        "/images/classify", content=form,  # type: ignore[arg-type]
        headers={"Content-Type": "multipart/form-data; boundary=b0undary"},
    )  # fmt: skip
    assert response.status_code == 413
    assert form.read <= (256 * 1024 + MULTIPART_OVERHEAD) // CHUNK + 2


async def test_a_decompression_bomb_is_refused_from_its_header(
    small_client: httpx.AsyncClient,
) -> None:
    # A real 2000 × 2000 white PNG (4 MP, 12 KB) over the 1 MP cap; a header claiming
    # 100,000 × 100,000 (10 gigapixels, 70 bytes), which Pillow itself refuses too.
    white = encode(Image.new("L", (2000, 2000), 255), "PNG")
    assert len(white) < 64 * 1024
    for body in (white, png_claiming(100_000, 100_000), png_claiming(1001, 1000)):
        started = time.perf_counter()
        response = await small_client.post("/images/classify", content=body,
                                           headers={"Content-Type": "image/png"})  # fmt: skip
        assert time.perf_counter() - started < 0.5
        assert response.status_code == 413, response.text
        assert error(response) == "too_many_pixels"
    just_under = png_claiming(1000, 1000)  # passes the cap, then fails to decode: no pixels
    response = await small_client.post("/images/classify", content=just_under,
                                       headers={"Content-Type": "image/png"})  # fmt: skip
    assert response.status_code == 422 and error(response) == "corrupt_image"


async def test_an_animated_image_is_classified_by_its_first_frame(
    client: httpx.AsyncClient,
) -> None:
    images, labels = held_out()
    first, second = (next(i for i, label in enumerate(labels) if label == d) for d in (1, 7))
    from tests.fixtures.images import digit_picture

    frames = [digit_picture(images[first]), digit_picture(images[second])]
    for format, options in (("PNG", {}), ("WEBP", {"lossless": True})):
        body = encode(frames[0], format, save_all=True, append_images=frames[1:], **options)
        media = f"image/{format.lower()}"
        response = await client.post("/images/classify", content=body,
                                     headers={"Content-Type": media})  # fmt: skip
        assert response.status_code == 200, response.text
        assert response.json()["frames"] == 2
        assert response.json()["predictions"][0]["label"] == "1"


async def test_a_burst_gets_503_busy_and_cached_reads_still_answer(
    client: httpx.AsyncClient,
) -> None:
    # 4 MP of noise-free gradient: a fast upload (small PNG), a slow decode.
    big = encode(Image.linear_gradient("L").resize((2000, 2000)), "PNG")
    assert await client.get("/leaderboard") is not None  # warm: the cache holds it

    async def classify() -> httpx.Response:
        return await client.post("/images/classify", content=big,
                                 headers={"Content-Type": "image/png"})  # fmt: skip

    burst = [asyncio.create_task(classify()) for _ in range(20)]
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    board = await client.get("/leaderboard")
    read_seconds = time.perf_counter() - started
    answers = await asyncio.gather(*burst)
    statuses = sorted(r.status_code for r in answers)
    busy = [r for r in answers if r.status_code == 503]
    assert board.status_code == 200, board.text
    assert read_seconds < 0.5
    assert statuses.count(200) >= IMAGES.concurrency + IMAGES.queue - 1
    assert len(busy) >= 20 - IMAGES.concurrency - IMAGES.queue - 2
    assert all(error(r) == "busy" and r.headers["Retry-After"] == "1" for r in busy)


# --- a model of one's own ------------------------------------------------------------------


async def classify_colour(settings: Settings, colour: str) -> tuple[dict, dict]:  # type: ignore[type-arg]
    async for client in running(create_app(settings)):
        body = encode(Image.new("RGB", (40, 30), colour), "PNG")
        answer = await client.post("/images/classify", content=body,
                                   headers={"Content-Type": "image/png"})  # fmt: skip
        model = await client.get("/images/model")
        assert answer.status_code == model.status_code == 200, answer.text + model.text
        return answer.json(), model.json()
    raise AssertionError


async def test_a_custom_model_with_a_sidecar_gets_a_softmax_of_its_logits(
    database_url: str, data_dir: Path, tmp_path: Path
) -> None:
    path = colour_model(tmp_path, sidecar=COLOUR_SIDECAR, labels=["red", "green", "blue"])
    settings = make_settings(database_url, data_dir, image_model=path)
    answer, model = await classify_colour(settings, "red")
    assert answer["model"] == {"name": "colours", "version": "2"}
    scores = {p["label"]: p["score"] for p in answer["predictions"]}
    # Logits (10, 0, 0) for pure red: softmax gives e^10 / (e^10 + 2) to red.
    assert scores["red"] == pytest.approx(0.99990920, abs=1e-6)
    assert sum(scores.values()) == pytest.approx(1, abs=1e-5)
    assert model["source"] == "custom" and model["described_by"] == "sidecar"
    assert model["input"]["layout"] == "NCHW" and model["input"]["color"] == "RGB"
    assert model["output"] == {"name": "logits", "kind": "logits"}
    assert model["labels_file"] == "colours.labels.txt" and model["accuracy"] is None


async def test_a_custom_model_described_by_its_metadata_or_by_its_input_alone(
    database_url: str, data_dir: Path, tmp_path: Path
) -> None:
    meta = tmp_path / "meta"
    meta.mkdir()
    path = colour_model(meta, sidecar=None, metadata=json.dumps(COLOUR_SIDECAR))
    labels = tmp_path / "names.txt"
    labels.write_text("red\ngreen\nblue\n")
    settings = make_settings(database_url, data_dir, image_model=path, image_labels=labels)
    answer, model = await classify_colour(settings, "blue")
    assert model["described_by"] == "metadata" and answer["predictions"][0]["label"] == "blue"
    # No JSON at all: ImageNet's conventions from the input's shape (NCHW, 3 × 4 × 4), and
    # the class numbers as labels; the logits are told apart from probabilities and softmaxed.
    plain = tmp_path / "plain"
    plain.mkdir()
    path = colour_model(plain, sidecar=None)
    answer, model = await classify_colour(
        make_settings(database_url, data_dir, image_model=path), "lime"
    )
    assert model["described_by"] == "input shape" and model["input"]["resize"] == "crop"
    assert model["normalization"]["mean"] == [0.485, 0.456, 0.406]
    assert model["output"]["kind"] == "auto" and model["labels"] == 3
    assert answer["predictions"][0]["label"] == "1"  # green
    assert sum(p["score"] for p in answer["predictions"]) == pytest.approx(1, abs=1e-5)


async def test_labels_that_do_not_match_the_model_make_it_unavailable(
    database_url: str, data_dir: Path, tmp_path: Path
) -> None:
    path = colour_model(tmp_path, sidecar=COLOUR_SIDECAR, name="mismatch")
    labels = tmp_path / "two.txt"
    labels.write_text("red\ngreen\n")
    settings = make_settings(database_url, data_dir, image_model=path, image_labels=labels)
    async for client in running(create_app(settings)):
        response = await client.get("/images/model")
        assert response.status_code == 503 and error(response) == "model_unavailable"
        assert response.json()["error"]["message"] == (
            "two.txt has 2 labels but mismatch.onnx outputs 3 classes: use the labels file "
            "that came with the model"
        )
        page = await client.get("/classify")
        assert page.status_code == 503 and "two.txt has 2 labels" in page.text


def test_settings_refuse_a_wrong_model_path(tmp_path: Path) -> None:
    from pydantic import ValidationError

    (tmp_path / "model.txt").write_text("x")
    for given, said in (
        ({"image_model": tmp_path / "missing.onnx"}, "IMAGE_MODEL: no such file"),
        ({"image_model": tmp_path / "model.txt"}, "must be an ONNX model"),
        ({"image_labels": tmp_path / "model.txt"}, "IMAGE_LABELS is set but IMAGE_MODEL"),
    ):
        with pytest.raises(ValidationError, match=said):
            Settings(_env_file=None, **given)  # type: ignore[call-arg, arg-type]


def test_pillows_own_bomb_guard_stands_behind_the_pixel_cap() -> None:
    from tempo.images.decode import decode
    from tempo.images.errors import ImageError

    # Past Pillow's MAX_IMAGE_PIXELS (a warning, made an error) and past twice it (an
    # error), with IMAGE_MAX_PIXELS set higher still.
    for width, height in ((10_000, 10_000), (100_000, 100_000)):
        with pytest.raises(ImageError) as refused:
            decode(png_claiming(width, height), max_pixels=10**12, color="L", at_least=(8, 8))
        assert (refused.value.status, refused.value.code) == (413, "too_many_pixels")
        assert "decompression bomb" in refused.value.message


async def test_a_model_shaped_like_an_imagenet_classifier_needs_no_json(
    database_url: str, data_dir: Path, tmp_path: Path
) -> None:
    from tests.fixtures.images import imagenet_shaped_model

    path = imagenet_shaped_model(tmp_path)
    labels = tmp_path / "synset.txt"
    labels.write_text("".join(f"n{k:08d} class {k}\n" for k in range(1000)))
    settings = make_settings(database_url, data_dir, image_model=path, image_labels=labels)
    photo = encode(Image.new("RGB", (1600, 1200), (255, 0, 0)), "JPEG", quality=90)
    async for client in running(create_app(settings)):
        model = (await client.get("/images/model")).json()
        assert model["described_by"] == "input shape" and model["labels"] == 1000
        assert model["input"] == {
            "name": "input", "width": 224, "height": 224, "channels": 3, "color": "RGB",
            "layout": "NCHW", "resize": "crop",
        }  # fmt: skip
        assert model["output"] == {"name": "output", "kind": "auto"}
        response = await client.post("/images/classify", params={"top_k": 5}, content=photo,
                                     headers={"Content-Type": "image/jpeg"})  # fmt: skip
        assert response.status_code == 200, response.text
        answer = response.json()
        assert (answer["width"], answer["height"], answer["format"]) == (1600, 1200, "JPEG")
        assert answer["model"] == {"name": "imagenet-shaped", "version": "unknown"}
        # Pure red, normalised as ImageNet's: (1 - 0.485) / 0.229 = 2.249 on the red channel,
        # so logit k is 0.02249 k and the softmax favours class 999, then 998, ….
        top = answer["predictions"]
        assert [p["label"] for p in top] == [f"n{k:08d} class {k}" for k in range(999, 994, -1)]
        ratio = top[0]["score"] / top[1]["score"]
        assert ratio == pytest.approx(math.exp((1 - 0.485) / 0.229 / 100), rel=1e-3)
