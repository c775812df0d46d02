"""How fast does `kmz gui` answer a K change? Time from the change to the updated picture, in Chromium.

Starts ``kmz gui`` as a user would (a separate process, ``--no-browser``), opens it in
headless Chromium (Debian's /usr/bin/chromium through Playwright), waits until the
page is idle (first result shown, SSIM measured, effect-of-K sweep finished), then
changes K on the right-hand side several times. For each change the page itself
records the time from the change event to the frame after the decoded picture was
drawn (``window.kmzGui.timings``): once for the preview (a copy of at most ~1 MP)
and once for the full image. Each change waits for the page to be idle again, so
the runs do not overlap. Goal (issue 13): preview median <= 300 ms on a 4 MP photo.

    python benchmarks/bench_gui.py [--image PHOTO] [--runs 7] [--screenshot docs/gui.png]

The default photo is ../shared/corpus/by-the-water.jpg (2560 x 1600) when present,
else scikit-image's astronaut upscaled to 2048 x 2048. Not a test: run it on a quiet
machine; it prints the load average before and after.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from kmzcodec.gui import headless

REPO = Path(__file__).resolve().parents[1]
#: ../shared beside the repository (a worktree one level deeper looks one level further up).
CORPUS_PHOTOS = [up / "shared" / "corpus" / "by-the-water.jpg" for up in (REPO.parent, REPO.parent.parent)]
CHROMIUM = headless.executable() or "/usr/bin/chromium"
#: K values visited in turn (each differs from the one before, so every change is real work).
KS = (24, 12, 48, 20, 96, 32, 64, 40, 128, 16)
GOAL_MS = 300.0
SCREENSHOT_K = 8


def default_photo(folder: Path) -> Path:
    for photo in CORPUS_PHOTOS:
        if photo.exists():
            return photo
    from skimage import data

    path = folder / "astronaut-4mp.png"
    Image.fromarray(data.astronaut()).resize((2048, 2048), Image.Resampling.LANCZOS).save(path)
    return path


def save_screenshot(png: bytes, path: Path) -> None:
    """As a 256-colour PNG, palette by kmzcodec's own k-means: a third of the size, no visible change."""
    from kmzcodec.quantize import quantize

    with Image.open(io.BytesIO(png)) as shot:
        pixels = np.asarray(shot.convert("RGB"))
    quantized = quantize(pixels, 256)
    image = Image.fromarray(quantized.indices.astype(np.uint8), "P")
    image.putpalette(quantized.palette.tobytes())
    image.save(path, optimize=True)


def until(page: Any, expression: str, timeout: float = 300.0) -> Any:
    """Poll a page expression (the page's CSP forbids Playwright's eval-based waiting)."""
    deadline = time.monotonic() + timeout
    while not (value := page.evaluate(expression)):
        if time.monotonic() > deadline:
            raise TimeoutError(expression)
        time.sleep(0.02)
    return value


IDLE = """(() => { const gui = window.kmzGui, side = gui.sides && gui.sides.b;
    if (!side || side.busy || side.canvas.dataset.stage !== 'full') return false;
    if (side.canvas.dataset.generation !== String(side.generation)) return false;
    if (document.querySelector('#side-b [data-n=ssim]').textContent === 'measuring…') return false;
    return gui.sweep.state && gui.sweep.state.done; })()"""


def start_server(photo: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "kmzcodec", "gui", "--no-browser", "--port", "0", str(photo)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    for line in process.stdout:
        if match := re.search(r"http://\S+", line):
            return process, match[0]
    raise RuntimeError("kmz gui printed no URL")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, help="photo to open (default: see the module docstring)")
    parser.add_argument("--runs", type=int, default=7, help="K changes to time (default: 7)")
    parser.add_argument("--screenshot", type=Path, help="save a screenshot of the page here at the end")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        photo = args.image or default_photo(Path(folder))
        with Image.open(photo) as image:
            size = image.size
        print(f"photo: {photo.name}, {size[0]} x {size[1]} = {size[0] * size[1] / 1e6:.1f} MP")
        print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        process, url = start_server(photo)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=headless.ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 860})
                page.goto(url)
                page.wait_for_selector("body[data-ready=true]")
                until(page, IDLE)
                preview, full = [], []
                for run in range(args.runs):
                    k = KS[run % len(KS)]
                    page.fill("#side-b .k-number", str(k))
                    page.press("#side-b .k-number", "Enter")
                    generation = page.evaluate("window.kmzGui.sides.b.generation")
                    until(page, IDLE)
                    timings = page.evaluate(
                        f"kmzGui.timings.filter((t) => t.side === 'b' && t.generation === {generation})"
                    )
                    stages = {t["stage"]: t["ms"] for t in timings}
                    preview.append(stages.get("preview", stages["full"]))
                    full.append(stages["full"])
                    print(f"  K = {k:3d}: preview {preview[-1]:7.0f} ms, full {full[-1]:7.0f} ms")
                if args.screenshot:  # a K small enough for the split to show a difference
                    page.fill("#side-b .k-number", str(SCREENSHOT_K))
                    page.press("#side-b .k-number", "Enter")
                    until(page, IDLE)
                    save_screenshot(page.screenshot(), args.screenshot)
                    print(f"screenshot: {args.screenshot}")
                browser.close()
        finally:
            process.terminate()
            process.wait(timeout=10)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    median_preview, median_full = statistics.median(preview), statistics.median(full)
    verdict = f"{'meets' if median_preview <= GOAL_MS else 'misses'} the {GOAL_MS:.0f} ms goal"
    spread = f"(min {min(preview):.0f}, max {max(preview):.0f})"
    print(f"K change -> preview shown: median {median_preview:.0f} ms {spread}; {verdict}")
    spread = f"(min {min(full):.0f}, max {max(full):.0f})"
    print(f"K change -> full image shown: median {median_full:.0f} ms {spread}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
