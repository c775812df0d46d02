"""compression="smallest" against PNG-8 and WebP lossless holding the same pixels (issue 12, part 3).

Each image is quantized once at each K (kmzcodec.encoder.encode_details, default
options); those palette entries and indices are then stored as

- .kmz by container.write: default (zlib), ``compression="lzma"`` and ``compression="smallest"``;
- PNG-8 by Pillow, ``optimize=True``, the same palette and indices;
- WebP lossless by Pillow, ``lossless=True, method=6`` (its quality, i.e. effort, left at
  Pillow's default), of the decoded RGB (RGBA) pixels.

Every file is decoded again and must give the same pixels. Two kinds of image, none
of them in the corpus's illustrations:

- photographs: the corpus photographs (../shared/corpus) and scikit-image's sample
  photographs (_corpus.unseen_photographs);
- graphics: _corpus.synthetic_graphics (colour wheel, logo, scanned page, chart) and
  the flat drawings made here (:func:`drawn_graphics`: a line chart, a pie chart, a
  text document, a UI-like screen, shapes over gradients).

Images over ``--max-pixels`` (default 4.2 MP: the corpus's 14.7 MP ones) are first
downscaled (Lanczos) to fit, so that WebP's method 6 runs in minutes, not hours.

Prints one row per (image, K): bytes of each and each .kmz against WebP; then, per K
and kind, the geometric means of X / WebP and the goals of issue 12 (smallest <= 0.95x
WebP lossless on both kinds at K = 256; default <= PNG-8); and decode time of the
smallest file (kmzcodec.decode + load) against PNG-8's (Image.open + load), median of
``--repeat`` runs, the goal being <= 2x; and the same decode on one thread (kmzcodec's
CPU budget set to 1: an lzma stream of several blocks, which smallest writes for large
streams, is then decoded in order), to show what the threads bring.

``--stages`` adds where each decode's time goes, for the default (zlib) and the smallest file
of each case (:func:`decode_stages`): medians of ``--repeat`` runs of each step of
``kmzcodec.decode`` timed on its own in this process, the codec (zlib or liblzma) apart from
kmzcodec's own work.

Run from the repository root, under the shared benchmark lock:
    flock /tmp/kmz-bench.lock .venv/bin/python benchmarks/bench_smallest.py
"""

from __future__ import annotations

import argparse
import io
import lzma
import math
import statistics
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpus  # noqa: E402

import kmzcodec  # noqa: E402
from kmzcodec import container, threads, xzblocks, xzscan  # noqa: E402
from kmzcodec import image as kmz_image  # noqa: E402
from kmzcodec.encoder import encode_details  # noqa: E402
from kmzcodec.format import HEADER_SIZE, TRAILER_SIZE, Compression, Method  # noqa: E402

SMALLEST_GOAL = 0.95  # x WebP lossless, geometric mean per kind, K = 256
DECODE_GOAL = 2.0  # x PNG-8's decode time
DEFAULT_MAX_PIXELS = 4_200_000
KMZ_SETTINGS = ("default", "lzma", "smallest")


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size)


def _line_chart(rng: np.random.Generator) -> Image.Image:
    image = Image.new("RGB", (1400, 900), "white")
    draw = ImageDraw.Draw(image)
    for y in range(100, 820, 60):  # grid
        draw.line([(100, y), (1350, y)], fill=(225, 225, 225), width=1)
        draw.text((30, y - 8), f"{(820 - y) // 6:4d}", fill=(60, 60, 60), font=_font(18))
    draw.line([(100, 820), (1350, 820)], fill="black", width=2)
    draw.line([(100, 80), (100, 820)], fill="black", width=2)
    colours = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)]
    for series, colour in enumerate(colours):
        walk = np.cumsum(rng.normal(0, 12, 60)) + 300 + 80 * series
        points = [(100 + i * 21, float(np.clip(820 - v, 100, 810))) for i, v in enumerate(walk)]
        draw.line(points, fill=colour, width=3)
        for across, down in points[::6]:
            draw.ellipse((across - 5, down - 5, across + 5, down + 5), fill=colour)
        draw.rectangle((1150, 110 + 34 * series, 1175, 130 + 34 * series), fill=colour)
        draw.text((1185, 108 + 34 * series), f"series {series + 1}", fill="black", font=_font(20))
    draw.text((500, 30), "Quarterly throughput", fill="black", font=_font(32))
    return image


def _pie_chart() -> Image.Image:
    image = Image.new("RGB", (1000, 800), (250, 250, 247))
    draw = ImageDraw.Draw(image)
    shares = [0.31, 0.22, 0.17, 0.12, 0.1, 0.08]
    colours = [(78, 121, 167), (242, 142, 43), (225, 87, 89), (118, 183, 178), (89, 161, 79), (237, 201, 72)]
    start = -90.0
    for share, colour in zip(shares, colours, strict=True):
        draw.pieslice((100, 150, 600, 650), start, start + 360 * share, fill=colour, outline="white", width=3)
        start += 360 * share
    for row, (share, colour) in enumerate(zip(shares, colours, strict=True)):
        draw.rounded_rectangle((660, 220 + 60 * row, 700, 250 + 60 * row), 6, fill=colour)
        draw.text((720, 220 + 60 * row), f"segment {row + 1}: {share:.0%}", fill=(30, 30, 30), font=_font(24))
    draw.text((330, 50), "Share by segment", fill=(30, 30, 30), font=_font(36))
    return image


def _document(rng: np.random.Generator) -> Image.Image:
    image = Image.new("RGB", (1240, 1754), "white")  # A4 at 150 dpi
    draw = ImageDraw.Draw(image)
    words = "the palette image format stores one index per pixel and a table of colours".split()  # noqa: SIM905
    y = 120
    draw.text((120, 60), "Chapter 3. Palettes", fill=(20, 20, 90), font=_font(40))
    while y < 1650:
        line = " ".join(rng.choice(words, size=int(rng.integers(8, 13))))
        draw.text((120, y), line, fill=(25, 25, 25), font=_font(22))
        y += 34 if rng.random() > 0.1 else 64
    draw.rectangle((700, 900, 1120, 1200), outline=(0, 0, 0), width=2, fill=(235, 242, 250))
    return image


def _screen(rng: np.random.Generator) -> Image.Image:
    image = Image.new("RGB", (1600, 1000), (246, 246, 248))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 1600, 56), fill=(45, 52, 64))  # title bar
    draw.text((24, 14), "kmz gui  -  photo.jpg", fill=(235, 235, 235), font=_font(24))
    draw.rectangle((0, 56, 280, 1000), fill=(232, 234, 238))  # side bar
    for row in range(14):
        fill = (66, 133, 244) if row == 3 else (232, 234, 238)
        draw.rounded_rectangle((12, 80 + 56 * row, 268, 124 + 56 * row), 8, fill=fill)
        ink = "white" if row == 3 else (40, 40, 40)
        draw.text((32, 90 + 56 * row), f"Folder {row + 1}", fill=ink, font=_font(20))
    for card in range(6):  # cards with a thumbnail gradient, a title and buttons
        left, top = 320 + (card % 3) * 420, 90 + (card // 3) * 440
        draw.rounded_rectangle((left, top, left + 390, top + 410), 12, fill="white", outline=(210, 210, 215))
        hue = rng.integers(0, 256, 3)
        ramp = np.linspace(0, 1, 370)[None, :, None] * (hue - 40)[None, None, :] + 40
        thumb = np.broadcast_to(ramp, (220, 370, 3)).astype(np.uint8)
        image.paste(Image.fromarray(thumb), (left + 10, top + 10))
        draw.text((left + 16, top + 250), f"Image {card + 1}.kmz", fill=(30, 30, 30), font=_font(24))
        draw.text((left + 16, top + 290), "1,234 KB  -  K = 256", fill=(110, 110, 110), font=_font(18))
        draw.rounded_rectangle((left + 16, top + 340, left + 150, top + 385), 8, fill=(66, 133, 244))
        draw.text((left + 44, top + 350), "Open", fill="white", font=_font(22))
    return image


def _shapes(rng: np.random.Generator) -> Image.Image:
    width, height = 1500, 1000
    across = np.linspace(0, 1, width)[None, :, None]
    down = np.linspace(0, 1, height)[:, None, None]
    sky = 255 * (across * np.array([0.2, 0.4, 0.9]) + down * np.array([0.7, 0.3, 0.1])) / 1.2
    image = Image.fromarray(np.broadcast_to(sky, (height, width, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y, size = (
            int(v) for v in (rng.integers(0, width), rng.integers(0, height), rng.integers(20, 160))
        )
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x, y, x + size, y + size), fill=colour, outline=(0, 0, 0), width=2)
        else:
            draw.regular_polygon((x, y, size // 2), int(rng.integers(3, 8)), fill=colour)
    return image


def drawn_graphics() -> list[tuple[str, Image.Image]]:
    """Flat graphics drawn with Pillow (seeded): not photographs and not in the corpus."""
    rng = np.random.default_rng(12)
    return [
        ("line-chart", _line_chart(rng)),
        ("pie-chart", _pie_chart()),
        ("document", _document(rng)),
        ("screen", _screen(rng)),
        ("shapes", _shapes(rng)),
    ]


def _fit(image: Image.Image, max_pixels: int) -> Image.Image:
    pixels = image.width * image.height
    if pixels <= max_pixels:
        return image
    scale = math.sqrt(max_pixels / pixels)
    return image.resize((int(image.width * scale), int(image.height * scale)), Image.Resampling.LANCZOS)


def images(corpus: str | None, max_pixels: int, only: list[str] | None) -> list[tuple[str, str, Image.Image]]:
    """(kind, label, image) for every image of both kinds."""
    found: list[tuple[str, str, Image.Image]] = []
    for path in _corpus.photographs(corpus):
        found.append(("photo", path.stem, _corpus.load(path)))
    found += [("photo", label, image) for label, image in _corpus.unseen_photographs()]
    found += [("graphic", label, image) for label, image in _corpus.synthetic_graphics()]
    found += [("graphic", label, image) for label, image in drawn_graphics()]
    return [
        (kind, label, _fit(image, max_pixels)) for kind, label, image in found if not only or label in only
    ]


def _png8(palette: np.ndarray, indices: np.ndarray) -> bytes:
    out = io.BytesIO()
    _corpus.png8(palette, indices).save(out, "PNG", optimize=True)
    return out.getvalue()


def _webp(pixels: Image.Image) -> bytes:
    out = io.BytesIO()
    pixels.save(out, "WEBP", lossless=True, method=6)
    return out.getvalue()


def _median_time(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class Case:
    kind: str
    label: str
    colors: int
    pixels: int
    png: int
    webp: int
    kmz: dict[str, int]
    smallest_method: str
    smallest_seconds: float
    decode_kmz: float
    decode_png: float
    filtered: bool = False  # smallest stored the rows through a row filter (spec 6.5)
    decode_kmz_one: float = 0.0  # the same decode with one thread (kmzcodec.threads budget 1)
    stages: dict[str, dict[str, float]] | None = None  # setting -> step -> ms (--stages)


#: The steps of :func:`decode_stages`, in order, and what each one times.
STAGES = {
    "read": "header, lengths and the data CRC-32 (container.parse_header, check_length, check_crc)",
    "xz index": "the .xz structure checks before decoding (xzscan.check; lzma only)",
    "codec": "zlib or liblzma alone, the whole stream in order on one thread",
    "slowest block": "liblzma alone on the slowest run of blocks decode shares out (several blocks only)",
    "decompress": "container.decompress as decode calls it (blocks on threads)",
    "pixels": "padding and range checks, unpacking, undoing a row filter (image.pixels)",
    "image": "the Pillow image made and its palette set",
    "decode": "kmzcodec.decode(data).load(), whole",
    "PNG-8": "Image.open(io.BytesIO(png)).load()",
}


def decode_stages(data: bytes, png: bytes, repeat: int) -> dict[str, float]:
    """Milliseconds (median of ``repeat``) of each step of kmzcodec.decode on ``data`` (STAGES)."""
    view = memoryview(data)
    header = container.parse_header(view)
    palette = view[HEADER_SIZE : header.data_offset]
    stored = view[header.data_offset : header.file_length - TRAILER_SIZE]
    trailer = view[header.file_length - TRAILER_SIZE :]
    rows = container.decompress(header, stored)
    plan = kmz_image.pixels(header, bytes(palette), rows)
    expected = header.raw_length

    def read() -> None:
        container.check_length(container.parse_header(view), len(view))
        container.check_crc(palette, stored, trailer)

    steps: dict[str, Callable[[], object]] = {"read": read}
    runs: list[list[xzscan.Block]] = []
    if header.compression is Compression.LZMA:
        blocks = xzscan.check(stored)
        steps["xz index"] = lambda: xzscan.check(stored)
        steps["codec"] = lambda: lzma.LZMADecompressor(
            format=lzma.FORMAT_XZ, memlimit=xzscan.LZMA_MEMLIMIT
        ).decompress(stored, expected + 1)
        if xzblocks.workers(blocks, expected) > 1:
            runs = xzblocks.runs(blocks, xzblocks.workers(blocks, expected))
    elif header.compression is Compression.ZLIB:
        steps["codec"] = lambda: zlib.decompressobj().decompress(stored, expected + 1)
    steps["decompress"] = lambda: container.decompress(header, stored)
    steps["pixels"] = lambda: kmz_image.pixels(header, bytes(palette), rows)
    steps["image"] = lambda: kmz_image.pillow_image(header, bytes(palette), plan)
    steps["decode"] = lambda: kmzcodec.decode(data).load()
    steps["PNG-8"] = lambda: Image.open(io.BytesIO(png)).load()
    for action in steps.values():  # warm: first calls import, allocate, start the helpers
        action()
    timed = {name: _median_time(action, repeat) * 1e3 for name, action in steps.items()}
    if runs:  # each run of blocks decoded alone, as decode shares them out: the slowest
        slowest = max(_median_time(partial(xzblocks._decode_run, stored, run), repeat) for run in runs)
        timed["slowest block"] = slowest * 1e3
    return timed


def measure(
    kind: str, label: str, image: Image.Image, colors: int, repeat: int, stages: bool = False
) -> Case:
    quantized = encode_details(image, colors).quantized
    palette, indices = quantized.palette, quantized.indices
    mode = "RGBA" if palette.shape[1] == 4 else "RGB"
    method = Method[quantized.method.upper()]
    reference = np.asarray(_corpus.png8(palette, indices).convert(mode))
    png = _png8(palette, indices)
    webp = _webp(Image.fromarray(reference, mode))
    kmz: dict[str, bytes] = {}
    seconds = 0.0
    for setting in KMZ_SETTINGS:
        start = time.perf_counter()
        # As kmzcodec.encode writes them: the method recorded lets "smallest" reorder the palette.
        kmz[setting] = (
            container.write(palette, indices, method=method)
            if setting == "default"
            else container.write(palette, indices, compression=setting, method=method)
        )
        if setting == "smallest":
            seconds = time.perf_counter() - start
    for name, data in (("png", png), ("webp", webp), *kmz.items()):
        with Image.open(io.BytesIO(data)) as opened:  # the plugin is registered: .kmz opens too
            got = np.asarray(opened.convert(mode))
        if not np.array_equal(got, reference):
            raise SystemExit(f"{label} K={colors}: {name} does not decode to the same pixels")
    header = container.parse_header(kmz["smallest"])
    decode_kmz = _median_time(lambda: kmzcodec.decode(kmz["smallest"]).load(), repeat)
    decode_png = _median_time(lambda: Image.open(io.BytesIO(png)).load(), repeat)
    with threads.cpu_share(threads.available_cpus()):  # one CPU: blocks decoded in order
        decode_kmz_one = _median_time(lambda: kmzcodec.decode(kmz["smallest"]).load(), repeat)
    steps = {s: decode_stages(kmz[s], png, repeat) for s in ("default", "smallest")} if stages else None
    stored = kmz["smallest"][header.data_offset : header.file_length - 4]
    blocks = len(xzscan.check(stored)) if header.compression is Compression.LZMA else 1
    return Case(
        kind,
        label,
        colors,
        indices.size,
        len(png),
        len(webp),
        {setting: len(data) for setting, data in kmz.items()},
        f"{header.compression.label}/{header.bits_per_index}b"
        + (f"/{header.filter.label}" if header.filter else "")
        + (f"/{blocks} blocks" if blocks > 1 else ""),
        seconds,
        decode_kmz,
        decode_png,
        bool(header.filter),
        decode_kmz_one,
        steps,
    )


def geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def report_stages(cases: list[Case]) -> None:
    """The --stages table: ms per step (STAGES), medians; "other" is decode less codec (or the
    slowest block, when blocks are decoded at once): kmzcodec's own work, Pillow's, and the hand-off
    to and from the helper thread."""
    print("\nDecode steps, ms (medians; each step timed alone, same process):\n")
    for name, meaning in STAGES.items():
        print(f"- {name}: {meaning}")
    print(f"\n| image | K | MP | file | {' | '.join(STAGES)} | other | decode/PNG-8 |")
    print("|---|---:|---:|---|" + "---:|" * (len(STAGES) + 2))
    for case in cases:
        for setting, timed in (case.stages or {}).items():
            cells = " | ".join(f"{timed[name]:.2f}" if name in timed else "-" for name in STAGES)
            floor = timed.get("slowest block", timed.get("codec", 0.0))
            print(
                f"| {case.label} | {case.colors} | {case.pixels / 1e6:.2f} | {setting} | {cells} "
                f"| {timed['decode'] - floor:.2f} | {timed['decode'] / timed['PNG-8']:.2f} |"
            )


def report(cases: list[Case]) -> None:
    print(
        "\n| kind | image | K | MP | WebP B | PNG-8/WebP | default/WebP | lzma/WebP | smallest/WebP "
        "| smallest is | smallest s | decode/PNG-8 | 1 thread |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for case in cases:
        ratios = " | ".join(f"{case.kmz[s] / case.webp:.3f}" for s in KMZ_SETTINGS)
        print(
            f"| {case.kind} | {case.label} | {case.colors} | {case.pixels / 1e6:.2f} | {case.webp:,} "
            f"| {case.png / case.webp:.3f} | {ratios} | {case.smallest_method} | {case.smallest_seconds:.2f} "
            f"| {case.decode_kmz / case.decode_png:.2f} | {case.decode_kmz_one / case.decode_png:.2f} |"
        )
    print(
        "\nGeometric means, X / WebP lossless (min-max of smallest/WebP); decode = smallest / PNG-8"
        f" ({threads.available_cpus()} CPUs; 1 thread: the same decode on one):\n"
    )
    print(
        "| K | kind | n | PNG-8 | default | lzma | smallest | smallest range | default/PNG-8 "
        "| decode | 1 thread |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for colors in sorted({case.colors for case in cases}, reverse=True):
        for kind in ("photo", "graphic", "all"):
            group = [c for c in cases if c.colors == colors and kind in ("all", c.kind)]
            if not group:
                continue
            means = [geomean([c.kmz[s] / c.webp for c in group]) for s in KMZ_SETTINGS]
            least = [c.kmz["smallest"] / c.webp for c in group]
            print(
                f"| {colors} | {kind} | {len(group)} | {geomean([c.png / c.webp for c in group]):.3f} | "
                + " | ".join(f"{m:.3f}" for m in means)
                + f" | {min(least):.3f}-{max(least):.3f}"
                + f" | {geomean([c.kmz['default'] / c.png for c in group]):.3f}"
                + f" | {geomean([c.decode_kmz / c.decode_png for c in group]):.2f}"
                + f" | {geomean([c.decode_kmz_one / c.decode_png for c in group]):.2f} |"
            )
    filtered = [c for c in cases if c.filtered]
    print(f"\nFiltered winners: {len(filtered)} of {len(cases)}")
    for case in filtered:
        print(
            f"- {case.label} K = {case.colors}: {case.smallest_method}, "
            f"{case.kmz['smallest'] / case.webp:.3f}x WebP, "
            f"decode {case.decode_kmz / case.decode_png:.2f}x PNG-8"
        )
    print(f"Encode time of smallest: total {sum(c.smallest_seconds for c in cases):.1f} s")
    print("\nGoals (issue 12, part 3):")
    for kind in ("photo", "graphic"):
        group = [c for c in cases if c.colors == 256 and c.kind == kind]
        if group:
            mean = geomean([c.kmz["smallest"] / c.webp for c in group])
            verdict = "met" if mean <= SMALLEST_GOAL else "MISSED"
            print(
                f"- K = 256 {kind}s: smallest {mean:.3f}x WebP lossless (goal <= {SMALLEST_GOAL}): {verdict}"
            )
    for colors in sorted({case.colors for case in cases}, reverse=True):
        group = [c for c in cases if c.colors == colors]
        mean = geomean([c.kmz["default"] / c.png for c in group])
        worst = max(c.decode_kmz / c.decode_png for c in group)
        print(
            f"- K = {colors}: default {mean:.3f}x PNG-8 (goal <= 1): {'met' if mean <= 1 else 'MISSED'}; "
            f"smallest decodes in at most {worst:.2f}x PNG-8's time (goal <= {DECODE_GOAL}): "
            f"{'met' if worst <= DECODE_GOAL else 'MISSED'}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", help="corpus directory (default: ../shared/corpus)")
    parser.add_argument("--colors", type=int, nargs="+", default=[256, 16], help="values of K")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="downscale larger images")
    parser.add_argument("--repeat", type=int, default=3, help="timed decodes (median)")
    parser.add_argument("--images", nargs="+", help="only these images (labels)")
    parser.add_argument("--stages", action="store_true", help="also time each step of the decodes")
    args = parser.parse_args(argv)
    cases = []
    for kind, label, image in images(args.corpus, args.max_pixels, args.images):
        for colors in args.colors:
            case = measure(kind, label, image, colors, args.repeat, args.stages)
            print(
                f"{kind} {label} K={colors}: WebP {case.webp:,} PNG-8 {case.png:,} "
                + " ".join(f"{s} {case.kmz[s]:,}" for s in KMZ_SETTINGS)
                + f" ({case.smallest_method}, {case.smallest_seconds:.1f} s)",
                flush=True,
            )
            cases.append(case)
    report(cases)
    if args.stages:
        report_stages(cases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
