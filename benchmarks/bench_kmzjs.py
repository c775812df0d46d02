"""Decode speed in the browser: kmz.js against the same Chromium decoding PNG-8 of the same pixels.

Issue 13's goal: on a 4 MP photograph at K = 16 and K = 256, kmz.js's ``decode`` (bytes
in memory to an ``ImageData``) takes at most 1.5x the time the browser takes to turn the
PNG-8 of the same palette and indices into an ``ImageData`` (``createImageBitmap`` of the
PNG blob, ``drawImage`` on a canvas, ``getImageData``).

For each photograph (the 4 MP ones of the corpus, or ``--image``) and each K, the image
is quantized once (kmzcodec.encoder.encode_details, default options); the palette and
indices are written as .kmz (container.write, default options) and as PNG-8 (Pillow,
optimize=True). Both decode to identical RGBA in the page, which is checked first. Then
the two are timed in turn (alternating which goes first) for ``--repeat`` rounds in one
page of a headless Chromium driven by Playwright; the script prints the medians and the
ratio, and exits with status 1 if a case is above the goal.

Run from the repository root, under the shared benchmark lock:
    flock /tmp/kmzcodec-bench.lock .venv/bin/python benchmarks/bench_kmzjs.py
``--compression lzma`` (or ``smallest``) times kmz.js's own .xz decoder (xz.js) instead of
zlib through the browser's DecompressionStream.
A quick check that it works (small image, one round):
    .venv/bin/python benchmarks/bench_kmzjs.py --limit 1 --pixels 100000 --repeat 1
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpus  # noqa: E402

from kmzcodec import container  # noqa: E402
from kmzcodec.encoder import encode_details  # noqa: E402
from kmzcodec.gui import headless  # noqa: E402
from kmzcodec.options import COMPRESSIONS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: kmz.js and the modules it imports (crc.js, xz.js): every ES module of the page's folder.
WEB = REPO / "kmzcodec" / "web"
RATIO_GOAL = 1.5
#: "4 MP": the 2560x1600 photographs (4.1 MP), not the 14.7 MP wallpapers.
MIN_PIXELS, MAX_PIXELS = 3_500_000, 5_000_000

#: Runs in the page. Loads both files once, checks they give the same RGBA, then times
#: decode(kmz) and PNG -> ImageData in interleaved rounds; returns the two lists of ms.
RACE = """
async ([kmzUrl, pngUrl, repeat]) => {
  const { decode } = await import("/kmz.js");
  const kmz = new Uint8Array(await (await fetch(kmzUrl)).arrayBuffer());
  const png = new Blob([await (await fetch(pngUrl)).arrayBuffer()], { type: "image/png" });
  const canvas = document.createElement("canvas");
  const viaPng = async () => {
    const bitmap = await createImageBitmap(png, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(bitmap, 0, 0);
    bitmap.close();
    return context.getImageData(0, 0, canvas.width, canvas.height);
  };
  const a = await decode(kmz);
  const b = await viaPng();
  if (a.width !== b.width || a.height !== b.height) return { error: "sizes differ" };
  const wa = new Uint32Array(a.data.buffer), wb = new Uint32Array(b.data.buffer);
  for (let i = 0; i < wa.length; i++) if (wa[i] !== wb[i]) return { error: `pixel ${i} differs` };
  const kmzTimes = [], pngTimes = [];
  const time = async (action, into) => {
    const start = performance.now();
    await action();
    into.push(performance.now() - start);
  };
  for (let round = 0; round < repeat; round++) {
    if (round % 2) {
      await time(() => decode(kmz), kmzTimes);
      await time(viaPng, pngTimes);
    } else {
      await time(viaPng, pngTimes);
      await time(() => decode(kmz), kmzTimes);
    }
  }
  return { kmzTimes, pngTimes };
}
"""


def pictures(args: argparse.Namespace) -> list[tuple[str, Image.Image]]:
    if args.image:
        paths = [Path(p) for p in args.image]
    else:
        paths = []
        for path in _corpus.photographs(args.corpus):
            with Image.open(path) as opened:
                if MIN_PIXELS <= opened.width * opened.height <= MAX_PIXELS:
                    paths.append(path)
    paths = paths[: args.limit]
    if not paths:
        msg = "no 4 MP photographs found (pass --image or --corpus)"
        raise SystemExit(msg)
    chosen = []
    for path in paths:
        with Image.open(path) as opened:
            picture = opened.convert("RGB")
        if args.pixels and picture.width * picture.height > args.pixels:
            scale = math.sqrt(args.pixels / (picture.width * picture.height))
            size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
            picture = picture.resize(size, Image.Resampling.BOX)
        chosen.append((path.stem, picture))
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", help="corpus directory (default: ../shared/corpus)")
    parser.add_argument("--image", nargs="+", help="images to use instead of the corpus's 4 MP photographs")
    parser.add_argument("--colors", type=int, nargs="+", default=[16, 256], help="K values")
    parser.add_argument("--repeat", type=int, default=21, help="timed rounds per case (median)")
    parser.add_argument(
        "--compression",
        default="zlib",
        choices=COMPRESSIONS,
        help="the .kmz files' compression (default zlib)",
    )
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images")
    parser.add_argument("--pixels", type=int, default=None, help="downscale images to at most N pixels")
    parser.add_argument("--chromium", default=headless.executable())
    args = parser.parse_args(argv)
    if not args.chromium:
        msg = "no chromium found (pass --chromium PATH)"
        raise SystemExit(msg)
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory(prefix="kmzjs-bench-") as name:
        folder = Path(name)
        for module in WEB.glob("*.js"):
            shutil.copyfile(module, folder / module.name)
        cases = []
        for stem, picture in pictures(args):
            for colors in args.colors:
                quantized = encode_details(picture, colors).quantized
                base = f"{stem}-{colors}"
                (folder / f"{base}.kmz").write_bytes(
                    container.write(quantized.palette, quantized.indices, compression=args.compression)
                )
                _corpus.png8(quantized.palette, quantized.indices).save(folder / f"{base}.png", optimize=True)
                cases.append((stem, colors, picture.width * picture.height, base))
        with headless.serving(folder) as origin, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=headless.ARGS)
            page = browser.new_page()
            page.goto(f"{origin}/")
            print(f"decode to ImageData, median of {args.repeat} interleaved rounds; {browser.version}")
            columns = ("MP", "PNG kB", "KMZ kB", "PNG ms", "KMZ ms", "KMZ/PNG")
            print(f"{'image':<18} {'K':>4} " + " ".join(f"{c:>8}" for c in columns))
            for stem, colors, pixels, base in cases:
                result = page.evaluate(RACE, [f"/{base}.kmz", f"/{base}.png", args.repeat])
                if "error" in result:
                    msg = f"{base}: kmz.js and the PNG decode to different pixels ({result['error']})"
                    raise SystemExit(msg)
                png_ms = statistics.median(result["pngTimes"])
                kmz_ms = statistics.median(result["kmzTimes"])
                ratio = kmz_ms / png_ms
                sizes = [(folder / f"{base}.{ext}").stat().st_size / 1000 for ext in ("png", "kmz")]
                rows.append(ratio)
                print(
                    f"{stem:<18} {colors:>4} {pixels / 1e6:>8.2f} {sizes[0]:>8.0f} {sizes[1]:>8.0f} "
                    f"{png_ms:>8.1f} {kmz_ms:>8.1f} {ratio:>8.3f}",
                    flush=True,
                )
            browser.close()
    worst = max(rows)
    print(f"worst KMZ/PNG {worst:.3f} (goal <= {RATIO_GOAL})")
    return 0 if worst <= RATIO_GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
