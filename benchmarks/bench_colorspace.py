"""Quality of k-means in each colour space (rgb, oklab, lab, hsv) at K = 16 and 64 (issue 16).

Images: the corpus's photographs (named in its LICENSES.md) and four scikit-image
sample photographs that are not in it (astronaut, coffee, chelsea, rocket, at their
own size). Each is encoded with ``kmzcodec.encode(image, K, colorspace=space)``, the
other options at their defaults (k-means, no dithering, seed 0), and decoded.
Quality is measured against the original with kmzcodec.metrics, as the other
benchmarks do: PSNR over the whole image, SSIM (scikit-image) and SSIMULACRA2 (the
``ssimulacra2`` package) over the centre 768 x 768 pixels (metrics.SSIMULACRA2_CROP).
Bytes are the .kmz file's; seconds are the encoder's CPU time.

Prints a line per image, K and space, then Markdown tables: the medians over each
image set and, per image, PSNR and SSIMULACRA2 side by side. There is no goal to
meet: the script exits 0. Run from the repository root, under the shared lock:
    flock /tmp/kmz-bench.lock .venv/bin/python benchmarks/bench_colorspace.py
Options: --k 16,64, --spaces rgb,oklab,lab,hsv, --only NAME (repeatable),
--corpus DIR, --no-corpus, --no-samples.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpus  # noqa: E402

import kmzcodec  # noqa: E402
from kmzcodec import metrics  # noqa: E402
from kmzcodec.options import COLORSPACES  # noqa: E402

KS = (16, 64)
#: scikit-image sample photographs, not in the corpus (the project measures outside it too).
SAMPLES = ("astronaut", "coffee", "chelsea", "rocket")
CROP = metrics.SSIMULACRA2_CROP
CORPUS, SAMPLE_SET = "corpus", "skimage"


@dataclass(frozen=True)
class Result:
    image: str
    group: str
    k: int
    space: str
    bytes: int
    psnr: float
    ssim: float
    ssimulacra2: float
    seconds: float


def measure(name: str, group: str, original: np.ndarray, k: int, space: str) -> Result:
    before = time.process_time()
    data = kmzcodec.encode(original, k, colorspace=space)
    seconds = time.process_time() - before
    first, second = metrics._aligned(original, kmzcodec.decode(data))
    cropped = [metrics._centre(values, CROP) for values in (first, second)]
    return Result(
        name, group, k, space, len(data), metrics.psnr(first, second), metrics.ssim(*cropped),
        metrics.ssimulacra2(*cropped), seconds,
    )  # fmt: skip


def photographs(args: argparse.Namespace) -> list[tuple[str, str, np.ndarray]]:
    """(name, set, RGB pixels) of every image measured."""
    chosen: list[tuple[str, str, np.ndarray]] = []
    if not args.no_corpus:
        for path in _corpus.photographs(args.corpus):
            chosen.append((path.stem, CORPUS, _corpus.load_rgb(path)))
    if not args.no_samples:
        from skimage import data

        for name in SAMPLES:
            image = Image.fromarray(getattr(data, name)()).convert("RGB")
            chosen.append((name, SAMPLE_SET, np.asarray(image)))
    if args.only:
        chosen = [entry for entry in chosen if entry[0] in args.only]
    return chosen


def _median(results: list[Result], field: str) -> float:
    return statistics.median(getattr(result, field) for result in results)


def median_table(results: list[Result], ks: list[int], spaces: list[str]) -> list[str]:
    lines = [
        "| images | K | space | PSNR (dB) | SSIM | SSIMULACRA2 | bytes vs rgb | encode s |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for group in (CORPUS, SAMPLE_SET):
        names = sorted({r.image for r in results if r.group == group})
        if not names:
            continue
        for k in ks:
            rgb = {r.image: r.bytes for r in results if r.group == group and r.k == k and r.space == "rgb"}
            for space in spaces:
                chosen = [r for r in results if r.group == group and r.k == k and r.space == space]
                ratio = statistics.median(r.bytes / rgb[r.image] for r in chosen) if rgb else float("nan")
                lines.append(
                    f"| {group} ({len(names)}) | {k} | {space} | {_median(chosen, 'psnr'):.2f} | "
                    f"{_median(chosen, 'ssim'):.4f} | {_median(chosen, 'ssimulacra2'):.1f} | {ratio:.3f} | "
                    f"{_median(chosen, 'seconds'):.2f} |"
                )
    return lines


def image_table(results: list[Result], ks: list[int], spaces: list[str]) -> list[str]:
    """Per image and K: PSNR, then SSIMULACRA2, of each space."""
    heads = " | ".join([f"PSNR {space}" for space in spaces] + [f"S2 {space}" for space in spaces])
    lines = [f"| image | K | {heads} |", "|---|---:|" + "---:|" * (2 * len(spaces))]
    by_key = {(r.image, r.k, r.space): r for r in results}
    for image in dict.fromkeys(r.image for r in results):
        for k in ks:
            psnrs = " | ".join(f"{by_key[image, k, space].psnr:.2f}" for space in spaces)
            scores = " | ".join(f"{by_key[image, k, space].ssimulacra2:.1f}" for space in spaces)
            lines.append(f"| {image} | {k} | {psnrs} | {scores} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", default=",".join(map(str, KS)))
    parser.add_argument("--spaces", default=",".join(COLORSPACES))
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--corpus", default=None)
    parser.add_argument("--no-corpus", action="store_true")
    parser.add_argument("--no-samples", action="store_true")
    args = parser.parse_args(argv)
    ks = [int(k) for k in args.k.split(",")]
    spaces = args.spaces.split(",")
    unknown = set(spaces) - set(COLORSPACES)
    if unknown:
        raise SystemExit(f"unknown colour space(s): {', '.join(sorted(unknown))}")
    if not (metrics.ssim_available() and metrics.ssimulacra2_available()):
        raise SystemExit("needs scikit-image and ssimulacra2: pip install 'kmzcodec[metrics]'")
    kmzcodec.encode(np.arange(192, dtype=np.uint8).reshape(8, 8, 3), 2)  # compile the kernels first
    results: list[Result] = []
    print(f"{'image':14} {'K':>3} {'space':6} | {'bytes':>9} | {'PSNR':>6} {'SSIM':>6} {'S2':>6} | {'s':>5}")
    for name, group, original in photographs(args):
        for k in ks:
            for space in spaces:
                result = measure(name, group, original, k, space)
                results.append(result)
                print(f"{name:14} {k:>3} {space:6} | {result.bytes:>9} | {result.psnr:>6.2f} "
                      f"{result.ssim:>6.4f} {result.ssimulacra2:>6.1f} | {result.seconds:>5.2f}",
                      flush=True)  # fmt: skip
    print("\nMedians (PSNR over the whole image; SSIM and SSIMULACRA2 on the centre "
          f"{CROP} x {CROP}; bytes: median ratio to rgb's file):\n")  # fmt: skip
    print("\n".join(median_table(results, ks, spaces)))
    print("\nPer image (S2: SSIMULACRA2):\n")
    print("\n".join(image_table(results, ks, spaces)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
