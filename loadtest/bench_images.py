"""Images classified per second per core, on the bundled digits model (`make bench`).

    uv run python loadtest/bench_images.py [--seconds 3] [--url http://127.0.0.1:8000]

Each figure is one thread classifying one image at a time for `--seconds`, as a request
does (ONNX Runtime on one thread per inference: tempo.images.model), counted against the
process's CPU time, so it is images per second of one core whatever else the machine does:

- inference alone: the model on an input already made (8×8, normalised);
- decode + preprocess + inference, as POST /images/classify does after reading the body:
  the README's 64×64 digit as PNG and as JPEG (quality 90), and a 1600×1200 JPEG (a phone
  photo's size: Pillow decodes it at 1/8 scale, since the model needs 8×8).

With `--url`, the same 64×64 PNG is also sent to a running Tempo (POST /images/classify)
by 4 clients for `--seconds`: requests per second end to end, for that server's cores.

Results go to stdout and to bench-results/images.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-results"
SAMPLE = ROOT / "samples" / "digit-3.png"


def per_core(work: Callable[[], object], seconds: float) -> tuple[float, float]:
    """(images per CPU-second, images per wall-second) of `work` run in a loop."""
    for _ in range(20):
        work()  # warm
    count, wall0, cpu0 = 0, time.perf_counter(), time.thread_time()
    while time.perf_counter() - wall0 < seconds:
        for _ in range(50):
            work()
        count += 50
    cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
    return count / cpu, count / wall


def files() -> dict[str, bytes]:
    from PIL import Image

    png = SAMPLE.read_bytes()
    digit = Image.open(io.BytesIO(png)).convert("L")
    jpeg, photo = io.BytesIO(), io.BytesIO()
    digit.save(jpeg, "JPEG", quality=90)
    digit.resize((1600, 1200), Image.Resampling.BILINEAR).convert("RGB").save(
        photo, "JPEG", quality=90
    )
    return {
        "PNG 64×64": png,
        "JPEG 64×64": jpeg.getvalue(),
        f"JPEG 1600×1200 ({len(photo.getvalue()) // 1024} KiB)": photo.getvalue(),
    }


async def over_http(url: str, body: bytes, seconds: float, clients: int = 4) -> float:
    import httpx

    done = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            while time.perf_counter() < deadline:
                response = await http.post("/images/classify", content=body,
                                           headers={"Content-Type": "image/png"})  # fmt: skip
                response.raise_for_status()
                done += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--url", help="also POST to this running Tempo")
    args = parser.parse_args()

    from PIL import Image

    from tempo.images.model import BUNDLED_MODEL, load
    from tempo.images.service import classify

    model = load(BUNDLED_MODEL, bundled=True)
    pre = model.description.preprocessing
    ready = pre.input(Image.open(SAMPLE).convert("L"))
    rows = [
        ("inference alone (8×8 input ready)", *per_core(lambda: model.scores(ready), args.seconds))
    ]
    for name, data in files().items():

        def work(data: bytes = data) -> object:
            return classify(model, data, 3, 16_000_000)

        rows.append((f"decode + preprocess + inference, {name}", *per_core(work, args.seconds)))
    machine = platform.processor() or platform.machine()
    lines = [
        f"Bundled digits model, ONNX Runtime on 1 thread; {machine}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "",
        "| work | images/s per core | images/s (wall) |",
        "|---|---:|---:|",
        *(f"| {name} | {cpu:,.0f} | {wall:,.0f} |" for name, cpu, wall in rows),
    ]
    if args.url:
        rate = asyncio.run(over_http(args.url, SAMPLE.read_bytes(), args.seconds))
        lines.append(
            f"| POST /images/classify, PNG 64×64, 4 clients (end to end) | | {rate:,.0f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    OUT.mkdir(exist_ok=True)
    (OUT / "images.md").write_text(text)


if __name__ == "__main__":
    main()
