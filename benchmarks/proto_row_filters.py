"""The prototype that led to the row filters: would a row filter before lzma close the gap to WebP lossless?

Kept for its record: the filters are now in the format (spec 4.12, 6.5; kmzcodec.rowfilter)
with an unclamped gradient, and bench_smallest.py measures them as "smallest" uses them.

Issue 12, part 3, step 3. A candidate new compression method: predict each index
from its neighbours (PNG-style, on the index values modulo 256, 8-bit indices, K <= 256)
and lzma the residuals. Filters: ``sub`` (left), ``up`` (above), ``grad`` (left + up -
upper-left, clamped to 0..255, as in JPEG-LS/LOCO-I's gradient without the median),
``paeth`` (PNG's); palette orders: as given, by luminance, and smallest.neighbour_order.
For each image the best (order, filter, lzma literal context) is picked on the writer's
trial sample and compressed in full; its file would be the smallest of that and today's
``compression="smallest"`` (the writer would try both). Prints X / WebP lossless per image
and geometric means per kind, with the images of bench_smallest.py; also the time to undo
sub and up in numpy (a cumulative sum; grad and paeth need a loop per pixel).

    flock /tmp/kmz-bench.lock .venv/bin/python benchmarks/proto_row_filters.py
"""

from __future__ import annotations

import argparse
import io
import lzma
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpus  # noqa: E402
import bench_smallest  # noqa: E402

from kmzcodec import container, smallest  # noqa: E402
from kmzcodec.encoder import encode_details  # noqa: E402
from kmzcodec.format import HEADER_SIZE, TRAILER_SIZE, Method  # noqa: E402

FILTERS = ("sub", "up", "grad", "paeth")
LITERALS = ((4, 0, 0), (0, 0, 0))


def residuals(indices: np.ndarray, kind: str) -> np.ndarray:
    x = indices.astype(np.int16)
    left, up, corner = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    left[:, 1:], up[1:], corner[1:, 1:] = x[:, :-1], x[:-1], x[:-1, :-1]
    if kind == "sub":
        guess = left
    elif kind == "up":
        guess = up
    elif kind == "grad":
        guess = np.clip(left + up - corner, 0, 255)
    else:
        base = left + up - corner
        near_left, near_up, near_corner = abs(base - left), abs(base - up), abs(base - corner)
        guess = np.where(
            (near_left <= near_up) & (near_left <= near_corner),
            left,
            np.where(near_up <= near_corner, up, corner),
        )
    return ((x - guess) % 256).astype(np.uint8)


def undo(rest: np.ndarray, kind: str) -> np.ndarray:
    """The decoder's side of sub and up, for timing: a cumulative sum (grad and paeth need a
    loop per pixel, which only a compiled decoder could make fast: not timed here)."""
    return (np.cumsum(rest, axis=1 if kind == "sub" else 0, dtype=np.uint64) % 256).astype(np.uint8)


def xz(raw: bytes, literal: tuple[int, int, int]) -> int:
    lc, lp, pb = literal
    chain = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "lc": lc, "lp": lp, "pb": pb}]
    return len(lzma.compress(raw, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, filters=chain))


def luminance_order(palette: np.ndarray) -> np.ndarray:
    values = palette.astype(np.float64)
    if values.shape[1] == 1:
        return np.argsort(values[:, 0], kind="stable")
    return np.argsort(values[:, :3] @ np.array([0.299, 0.587, 0.114]), kind="stable")


def best_filtered(palette: np.ndarray, indices: np.ndarray) -> tuple[int, str, float]:
    """Stored bytes of the best filter found on the sample, compressed in full; its label; undo time."""
    sample = container._trial_sample(indices)
    orders = {
        "given": None,
        "luminance": luminance_order(palette),
        "neighbour": smallest.neighbour_order(sample, len(palette)),
    }
    trials: list[tuple[int, str, str, tuple[int, int, int]]] = []
    for name, order in orders.items():
        moved = smallest._reordered(sample, order)
        for kind in FILTERS:
            packed = residuals(moved, kind).tobytes()
            trials.extend((xz(packed, literal), name, kind, literal) for literal in LITERALS)
    _, name, kind, literal = min(trials)
    rest = residuals(smallest._reordered(indices, orders[name]), kind)
    start = time.perf_counter()
    if kind in ("sub", "up"):
        undo(rest, kind)
    seconds = time.perf_counter() - start if kind in ("sub", "up") else float("nan")
    return xz(rest.tobytes(), literal) + 1, f"{name}/{kind}/lc{literal[0]}", seconds  # + a filter byte


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus")
    parser.add_argument("--colors", type=int, default=256)
    parser.add_argument("--images", nargs="+")
    args = parser.parse_args()
    rows = []
    for kind, label, image in bench_smallest.images(
        args.corpus, bench_smallest.DEFAULT_MAX_PIXELS, args.images
    ):
        quantized = encode_details(image, args.colors).quantized
        palette, indices = quantized.palette, quantized.indices
        method = Method[quantized.method.upper()]
        today = len(container.write(palette, indices, compression="smallest", method=method))
        overhead = HEADER_SIZE + palette.size + TRAILER_SIZE
        filtered, how, seconds = best_filtered(palette, indices)
        mode = "RGBA" if palette.shape[1] == 4 else "RGB"
        webp = io.BytesIO()
        _corpus.png8(palette, indices).convert(mode).save(webp, "WEBP", lossless=True, method=6)
        size = len(webp.getvalue())
        both = min(today, filtered + overhead)
        rows.append((kind, label, today / size, both / size))
        ratios = f"{today / size:.3f} | {(filtered + overhead) / size:.3f} | {both / size:.3f}"
        print(
            f"| {kind} | {label} | {ratios} | {how} | {seconds * 1e3:.0f} ms |",
            flush=True,
        )
    for kind in ("photo", "graphic"):
        group = [row for row in rows if row[0] == kind]
        if group:
            today_mean = bench_smallest.geomean([row[2] for row in group])
            both_mean = bench_smallest.geomean([row[3] for row in group])
            print(f"{kind}: smallest today {today_mean:.3f}x WebP, with the filtered method {both_mean:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
