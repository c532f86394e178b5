"""POST /images/classify and the /classify page against what a hostile or a careless client
sends: headers claiming billions of pixels in each format, unreadable headers, a photo turned
by its EXIF orientation, `top_k` written as a float, bodies without a Content-Type, forms
past the cap, and a grey model without a JSON."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tempo.app import create_app
from tests.fixtures.app import make_settings, running
from tests.fixtures.images import digit_file, digit_picture, encode, held_out, png_claiming
from tests.test_admission import Body

PNG = "image/png"


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header (SOF0) says width × height."""
    data = bytearray(encode(Image.new("L", (16, 16), 255), "JPEG"))
    at = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, height, width)
    return bytes(data)


def webp_claiming(width: int, height: int) -> bytes:
    """A small real WebP (extended, VP8X) whose canvas says width × height."""
    exif = Image.Exif()
    exif[0x010E] = "x"  # any EXIF makes Pillow write the extended header
    data = bytearray(encode(Image.new("RGB", (16, 16), "white"), "WEBP", exif=exif.tobytes()))
    assert data[12:16] == b"VP8X"
    data[24:27] = (width - 1).to_bytes(3, "little")
    data[27:30] = (height - 1).to_bytes(3, "little")
    return bytes(data)


def message(response: httpx.Response) -> str:
    text: str = response.json()["error"]["message"]
    return text


async def test_billions_of_pixels_are_refused_in_the_settings_words_in_every_format(
    client: httpx.AsyncClient,
) -> None:
    # Past twice Pillow's own limit, Pillow used to refuse these itself, in its words: its
    # limit (178,956,970) rather than IMAGE_MAX_PIXELS, and no width or height in details.
    for body, media, size in (
        (png_claiming(100_000, 100_000), "image/png", (100_000, 100_000)),
        (jpeg_claiming(65_000, 65_000), "image/jpeg", (65_000, 65_000)),
        (webp_claiming(16_384, 16_384), "image/webp", (16_384, 16_384)),
        (jpeg_claiming(5_000, 4_000), "image/jpeg", (5_000, 4_000)),  # under Pillow's limit
    ):
        response = await client.post("/images/classify", content=body,
                                     headers={"Content-Type": media})  # fmt: skip
        assert response.status_code == 413, (media, response.text)
        error = response.json()["error"]
        assert error["code"] == "too_many_pixels"
        assert "(IMAGE_MAX_PIXELS)" in error["message"], error["message"]
        assert "decompression bomb DOS" not in error["message"]
        assert (error["details"]["width"], error["details"]["height"]) == size
        assert error["details"]["max_pixels"] == 16_000_000


async def test_a_pixel_bomb_is_refused_without_waiting_for_a_classification_slot(
    client: httpx.AsyncClient,
) -> None:
    """Its header is read before the slot is asked for: with every slot taken, the bomb is
    still a 413 (it used to wait its turn in the queue, and be a 503 busy past it)."""
    from tempo.core.limits import IMAGES

    held = [IMAGES.slot() for _ in range(IMAGES.concurrency)]
    for slot in held:
        await slot.__aenter__()
    try:
        response = await client.post("/images/classify", content=png_claiming(90_000, 90_000),
                                     headers={"Content-Type": PNG})  # fmt: skip
        assert response.status_code == 413, response.text
        assert response.json()["error"]["code"] == "too_many_pixels"
        busy = await client.post("/images/classify", content=digit_file(0),
                                 headers={"Content-Type": PNG})  # fmt: skip
        assert busy.status_code == 503  # a real image does wait for a slot, and is refused
    finally:
        for slot in held:
            await slot.__aexit__(None, None, None)


async def test_an_unreadable_header_is_said_without_pillows_internals(
    client: httpx.AsyncClient,
) -> None:
    for body, media in ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
                        (digit_file(0)[:33], "image/png")):  # fmt: skip
        response = await client.post("/images/classify", content=body,
                                     headers={"Content-Type": media})  # fmt: skip
        assert response.status_code == 422 and response.json()["error"]["code"] == "corrupt_image"
        assert "BytesIO" not in message(response) and " at 0x" not in message(response)
        assert message(response).endswith("its header cannot be read")


async def test_a_photo_is_classified_the_way_its_exif_orientation_shows_it(
    client: httpx.AsyncClient,
) -> None:
    # A phone stores a portrait photo sideways and says how to turn it (orientation 6: turn
    # 90° clockwise to show); a viewer shows the digit upright, so should the model see it.
    images, labels = held_out()
    index = next(i for i, label in enumerate(labels) if label == 3)
    upright = digit_picture(images[index]).convert("RGB")
    turned = upright.rotate(90, expand=True)  # stored a quarter turn anticlockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    answers = []
    for picture, options in ((upright, {}), (turned, {"exif": exif.tobytes()})):
        body = encode(picture, "JPEG", quality=95, **options)
        response = await client.post("/images/classify", content=body,
                                     headers={"Content-Type": "image/jpeg"})  # fmt: skip
        assert response.status_code == 200, response.text
        answers.append(response.json()["predictions"])
    assert answers[0][0]["label"] == "3"
    assert [p["label"] for p in answers[1]] == [p["label"] for p in answers[0]]
    assert answers[1][0]["score"] == pytest.approx(answers[0][0]["score"], abs=0.02)


async def test_top_k_is_a_whole_number_as_written(client: httpx.AsyncClient) -> None:
    png = digit_file(0)
    for given in ("3.0", " 3", "3_0", "1e1"):
        response = await client.post("/images/classify", params={"top_k": given}, content=png,
                                     headers={"Content-Type": PNG})  # fmt: skip
        assert response.status_code == 422, given
        assert response.json()["error"]["details"][0]["field"] == "query.top_k"
    response = await client.post("/images/classify", params={"top_k": "10"}, content=png,
                                 headers={"Content-Type": PNG})  # fmt: skip
    assert response.status_code == 200 and len(response.json()["predictions"]) == 10


async def test_a_body_without_a_content_type_is_told_by_its_bytes(
    client: httpx.AsyncClient,
) -> None:
    # What `requests.post(url, data=file)` and `httpx.post(url, content=data)` send.
    png = digit_file(0)
    _, labels = held_out()
    for headers in ({}, {"Content-Type": "application/octet-stream"}):
        response = await client.post("/images/classify", content=png, headers=headers)
        assert response.status_code == 200, (headers, response.text)
        assert response.json()["predictions"][0]["label"] == str(labels[0])
        assert response.json()["format"] == "PNG"
    gif = encode(Image.new("RGB", (8, 8)), "GIF")
    refused = await client.post("/images/classify", content=gif)
    assert refused.status_code == 415
    assert refused.json()["error"]["code"] == "unsupported_image_type"
    empty = await client.post("/images/classify", content=b"")
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "no_image"


@pytest.fixture
async def small_client(database_url: str, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """IMAGE_MAX_BYTES of 256 KiB."""
    settings = make_settings(database_url, data_dir, image_max_bytes=256 * 1024)
    async for client in running(create_app(settings)):
        yield client


PART = b'--b0undary\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
FORM = {"Content-Type": "multipart/form-data; boundary=b0undary"}


async def test_a_form_past_the_cap_is_image_too_large_on_the_api_and_the_page(
    small_client: httpx.AsyncClient,
) -> None:
    # Chunked and declared, through the API: the code and the setting the README names.
    for declared in (False, True):
        form = Body(100, head=PART)
        headers = FORM | ({"Content-Length": form.declared} if declared else {})
        response = await small_client.post("/images/classify", content=form,  # type: ignore[arg-type]
                                           headers=headers)  # fmt: skip
        assert response.status_code == 413
        error = response.json()["error"]
        assert error["code"] == "image_too_large", error
        assert "(IMAGE_MAX_BYTES)" in error["message"] and "route" not in error["message"]
        assert error["details"] == {"max_bytes": 256 * 1024}
    # A raw body sent in large chunks passes the route's cap (the image's plus the form's
    # framing) before the image's own count sees it: still the image's code.
    raw = Body(100, head=digit_file(0)[:16] + b"\0" * 250_000)
    response = await small_client.post("/images/classify", content=raw,  # type: ignore[arg-type]
                                       headers={"Content-Type": PNG})  # fmt: skip
    assert response.status_code == 413 and response.json()["error"]["code"] == "image_too_large"
    # The page says it in a person's words, not the route's.
    page = await small_client.post("/classify", content=Body(100, head=PART),  # type: ignore[arg-type]
                                   headers=FORM)  # fmt: skip
    assert page.status_code == 413 and page.headers["content-type"].startswith("text/html")
    assert "IMAGE_MAX_BYTES" in page.text and "this route takes" not in page.text


def test_a_grey_model_without_a_json_takes_imagenets_figures_averaged(tmp_path: Path) -> None:
    from onnx import TensorProto, helper, save_model

    from tempo.images.model import load

    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["x"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("Concat", ["flat", "flat"], ["y"], axis=1)],
        "grey",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 28, 28])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    path = tmp_path / "grey.onnx"
    save_model(model, str(path))
    loaded = load(path)  # was: "mean and std need 1 or 1 values"
    pre = loaded.description.preprocessing
    assert (pre.channels, pre.layout, pre.width, pre.height) == (1, "NCHW", 28, 28)
    assert pre.mean == (0.449,) and pre.std == (0.226,)
    assert loaded.labels == ["0", "1"]


async def test_an_image_field_without_a_filename_is_told_what_to_change(
    client: httpx.AsyncClient,
) -> None:
    # A hand-made form's part without a filename is a text field to the parser, and was
    # answered as if the field were missing.
    body = (
        b'--b0undary\r\nContent-Disposition: form-data; name="image"\r\n\r\n'
        + digit_file(0)
        + b"\r\n--b0undary--\r\n"
    )
    response = await client.post("/images/classify", content=body, headers=FORM)
    assert response.status_code == 422 and response.json()["error"]["code"] == "no_image"
    assert "is a text field, not a file" in message(response)
    assert 'filename="' in message(response)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"input": "abc"}, "digits.json: input: should be a JSON object (got 'abc')"),
        ({"output": ["x"]}, "digits.json: output: should be a JSON object (got ['x'])"),
        ({"input.width": "8"}, "digits.json: input.width: Input should be a valid integer"),
        ({"input.width": True}, "digits.json: input.width: Input should be a valid integer"),
        ({"input.channels": "1"}, "digits.json: input.channels: Input should be 1 or 3"),
        ({"normalization.mean": "0"}, "digits.json: normalization.mean: Input should be a"),
        ({"accuracy": "97%"}, "digits.json: accuracy: should be a JSON object"),
    ],
)
def test_a_json_of_the_wrong_types_is_named_by_its_key(
    tmp_path: Path, change: dict[str, object], said: str
) -> None:
    # These failed with a traceback (AttributeError), with a message about the model's input
    # shape, or were taken (an accuracy of "97%" then broke GET /images/model with a 500).
    import json
    import shutil

    from tempo.images.errors import ModelError
    from tempo.images.model import BUNDLED_MODEL, load

    model = tmp_path / "digits.onnx"
    shutil.copy(BUNDLED_MODEL, model)
    shutil.copy(BUNDLED_MODEL.with_suffix(".labels.txt"), tmp_path)
    doc = json.loads(BUNDLED_MODEL.with_suffix(".json").read_text())
    ((key, value),) = change.items()
    *parents, last = key.split(".")
    target = doc
    for parent in parents:
        target = target[parent]
    target[last] = value
    model.with_suffix(".json").write_text(json.dumps(doc))
    with pytest.raises(ModelError) as refused:
        load(model)
    assert refused.value.message.startswith(said), refused.value.message
