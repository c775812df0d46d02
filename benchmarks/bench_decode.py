"""Decode speed: ``Image.open(path).load()`` of a .kmz against PNG-8 holding the same pixels.

Issue 4's target: loading a 4 MP .kmz through the Pillow plugin takes at most
1.1x the time of loading the same palette and indices stored as PNG-8 (Pillow,
optimize=True), measured in the same run.

For every 4 MP photograph of the corpus and every K, the image is quantized once
(kmzcodec.encoder.encode_details, default options); that palette and those indices
are written to a temporary directory as PNG-8 and as .kmz (container.write,
default options). Both files must load to identical RGBA pixels. Then
``Image.open(path).load()`` is timed for each, alternating PNG and KMZ (and which
goes first) for ``--repeat`` rounds. The script prints the median times and the
ratio KMZ/PNG per case and overall, and exits with status 1 if any case is above
1.1. ``--profile`` adds where the KMZ time goes (read, CRC, inflate, checks, unpack).

Run from the repository root, under the shared benchmark lock:
    flock /tmp/kmzcodec-bench.lock .venv/bin/python benchmarks/bench_decode.py
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpus  # noqa: E402

import kmzcodec  # noqa: E402, F401  (registers the plugin)
from kmzcodec import container, image  # noqa: E402
from kmzcodec.encoder import encode_details  # noqa: E402
from kmzcodec.format import HEADER_SIZE, TRAILER_SIZE  # noqa: E402

RATIO_LIMIT = 1.1
#: "4 MP": the 2560x1600 photographs (4.1 MP), not the 14.7 MP wallpapers.
MIN_PIXELS, MAX_PIXELS = 3_500_000, 5_000_000


@dataclass(frozen=True)
class Case:
    name: str
    colors: int
    bits: int
    png_bytes: int
    kmz_bytes: int
    png_ms: float
    kmz_ms: float

    @property
    def ratio(self) -> float:
        return self.kmz_ms / self.png_ms


def load(path: Path) -> Image.Image:
    """What is timed: open and decode through Pillow, the file closed after load()."""
    opened = Image.open(path)
    opened.load()
    return opened


def rgba(path: Path) -> np.ndarray:
    with Image.open(path) as opened:
        return np.asarray(opened.convert("RGBA"))


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def race(png: Path, kmz: Path, repeat: int) -> tuple[float, float]:
    """Median milliseconds of load(png) and load(kmz), interleaved so drift hits both."""
    png_times: list[float] = []
    kmz_times: list[float] = []
    # Warm the page cache and Pillow's plugin tables.
    load(png)
    load(kmz)
    for round_ in range(repeat):
        if round_ % 2:
            kmz_times.append(timed(lambda: load(kmz)))
            png_times.append(timed(lambda: load(png)))
        else:
            png_times.append(timed(lambda: load(png)))
            kmz_times.append(timed(lambda: load(kmz)))
    return statistics.median(png_times), statistics.median(kmz_times)


def profile(kmz: Path, repeat: int) -> dict[str, float]:
    """Median milliseconds of each stage the plugin's decoder goes through, done by hand."""
    stages: dict[str, list[float]] = {
        "read": [],
        "crc": [],
        "inflate": [],
        "checks": [],
        "unpack": [],
        "convert RGB": [],
    }
    for _ in range(repeat):
        start = time.perf_counter()
        data = kmz.read_bytes()
        marks = [time.perf_counter()]
        header = container.parse_header(data[:HEADER_SIZE], None)
        palette = data[HEADER_SIZE : header.data_offset]
        view = memoryview(data)
        stored = view[header.data_offset : header.file_length - TRAILER_SIZE]
        zlib.crc32(stored, zlib.crc32(palette))
        marks.append(time.perf_counter())
        rows = container.decompress(header, stored)
        marks.append(time.perf_counter())
        plan = image.pixels(header, palette, rows)
        marks.append(time.perf_counter())
        decoded = Image.frombytes(
            image.image_mode(header),
            (header.width, header.height),
            plan.data,
            "raw",
            plan.rawmode,
            plan.stride,
            1,
        )
        marks.append(time.perf_counter())
        if decoded.mode == "P":
            rawmode, entries = image.pillow_palette(header, palette)
            decoded.putpalette(entries, rawmode)
        decoded.convert("RGB")
        marks.append(time.perf_counter())
        for name, begin, end in zip(stages, [start, *marks[:-1]], marks, strict=True):
            stages[name].append((end - begin) * 1000)
    return {name: statistics.median(times) for name, times in stages.items()}


def four_megapixel_photographs(corpus: str | None) -> list[Path]:
    chosen = []
    for path in _corpus.photographs(corpus):
        with Image.open(path) as opened:
            if MIN_PIXELS <= opened.width * opened.height <= MAX_PIXELS:
                chosen.append(path)
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", help="corpus directory (default: ../shared/corpus)")
    parser.add_argument("--colors", type=int, nargs="+", default=[16, 64, 256], help="K values")
    parser.add_argument("--repeat", type=int, default=31, help="timed rounds per case (median)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N photographs")
    parser.add_argument("--profile", action="store_true", help="also time each KMZ decoding stage")
    args = parser.parse_args(argv)

    photos = four_megapixel_photographs(args.corpus)[: args.limit]
    if not photos:
        msg = "no 4 MP photographs found in the corpus"
        raise SystemExit(msg)
    print(f"Image.open(path).load(), median of {args.repeat} interleaved rounds; Pillow {Image.__version__}")
    columns = ("PNG kB", "KMZ kB", "PNG ms", "KMZ ms", "KMZ/PNG")
    print(f"{'image':<18} {'K':>4} {'bits':>4} " + " ".join(f"{name:>8}" for name in columns))
    cases: list[Case] = []
    with tempfile.TemporaryDirectory(prefix="kmz-bench-") as folder:
        for photo in photos:
            picture = _corpus.load(photo)
            for colors in args.colors:
                quantized = encode_details(picture, colors).quantized
                png = Path(folder) / f"{photo.stem}-{colors}.png"
                kmz = Path(folder) / f"{photo.stem}-{colors}.kmz"
                _corpus.png8(quantized.palette, quantized.indices).save(png, "PNG", optimize=True)
                kmz.write_bytes(container.write(quantized.palette, quantized.indices))
                if not np.array_equal(rgba(png), rgba(kmz)):
                    msg = f"{photo.name} K={colors}: PNG and KMZ load to different pixels"
                    raise SystemExit(msg)
                png_ms, kmz_ms = race(png, kmz, args.repeat)
                with Image.open(kmz) as opened:
                    bits = int(opened.info["bits_per_index"])
                case = Case(photo.stem, colors, bits, png.stat().st_size, kmz.stat().st_size, png_ms, kmz_ms)
                cases.append(case)
                print(
                    f"{case.name:<18} {colors:>4} {bits:>4} {case.png_bytes / 1000:>8.0f} "
                    f"{case.kmz_bytes / 1000:>8.0f} {png_ms:>8.2f} {kmz_ms:>8.2f} {case.ratio:>8.3f}",
                    flush=True,
                )
                if args.profile:
                    stages = profile(kmz, args.repeat)
                    print("    KMZ stages (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))

    ratios = [case.ratio for case in cases]
    geomean = math.exp(statistics.fmean(math.log(r) for r in ratios))
    total = sum(c.kmz_ms for c in cases) / sum(c.png_ms for c in cases)
    worst = max(cases, key=lambda c: c.ratio)
    print(
        f"overall: geometric mean KMZ/PNG {geomean:.3f}, total time ratio {total:.3f}, "
        f"worst {worst.ratio:.3f} ({worst.name} K={worst.colors}); limit {RATIO_LIMIT} per case"
    )
    for colors in args.colors:
        per_k = [c.ratio for c in cases if c.colors == colors]
        print(f"  K={colors:<4} median ratio {statistics.median(per_k):.3f}, max {max(per_k):.3f}")
    failed = [c for c in cases if c.ratio > RATIO_LIMIT]
    if failed:
        names = ", ".join(f"{c.name} K={c.colors} ({c.ratio:.3f})" for c in failed)
        print(f"FAIL: above {RATIO_LIMIT}: {names}")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
