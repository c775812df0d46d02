"""The size/quality curve of ``encode(quality=...)`` against kmz's own K sweep and pngquant (issue 12.2).

Photographs: the corpus's (from its LICENSES.md) and three not in it
(scikit-image's astronaut, coffee and chelsea, upscaled 2x with Lanczos), each
cut to a centre crop of at most ``--crop`` pixels a side to keep the run short.
Every setting encodes each image; bytes are the file's, PSNR is over the whole
crop, SSIMULACRA2 (the ``ssimulacra2`` package) over its 768 x 768 centre, all
against the original. The table gives medians over the images: bytes relative to
kmz at K = 256, quality 100, the PSNR change from it, PSNR and SSIMULACRA2.

Goals (issue 12.2), printed with whether they are met:
  - at K = 256, some quality saves >= 20 % bytes (median) for <= 0.3 dB PSNR (median);
  - some kmz setting beats pngquant's default (dithered) on both bytes and SSIMULACRA2 (medians);
    the dithered settings (``dither=True``) are kmz's default strength with the knob.

pngquant (``/usr/bin/pngquant``, any 2.x) is run as a command; settings it cannot
meet (``--quality`` exit 99) are left out of that image's medians.

Run from the repository root, under the shared benchmark lock:
    flock /tmp/kmzcodec-bench.lock .venv/bin/python benchmarks/bench_rd.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpus  # noqa: E402

import kmzcodec  # noqa: E402

QUALITIES = (100, 90, 80, 70, 50)
#: The knob with dithering (default strength), issue 12.2's "plain or dithered".
DITHERED_QUALITIES = (100, 90, 80, 70, 60)
SWEEP_KS = (192, 128)
REFERENCE = "kmz K=256 q=100"
PNGQUANT_DEFAULT = "pngquant (default, dithered)"
PNGQUANT = {
    PNGQUANT_DEFAULT: [],
    "pngquant --nofs": ["--nofs"],
    "pngquant --quality 60-80": ["--quality", "60-80"],
    "pngquant --posterize 2": ["--posterize", "2"],
}
GOAL_BYTES = -0.20
GOAL_PSNR_DROP = 0.3
METRIC_CROP = 768


@dataclass(frozen=True)
class Result:
    setting: str
    image: str
    size: int
    psnr: float
    ssimulacra2: float


def unseen() -> dict[str, np.ndarray]:
    """Photographs not in the corpus: scikit-image's, upscaled 2x (Lanczos)."""
    from skimage import data

    photos = {}
    for name in ("astronaut", "coffee", "chelsea"):
        pixels = getattr(data, name)()
        height, width = pixels.shape[:2]
        photos[name] = np.asarray(Image.fromarray(pixels).resize((width * 2, height * 2), Image.LANCZOS))
    return photos


def centre(pixels: np.ndarray, side: int) -> np.ndarray:
    height, width = pixels.shape[:2]
    top, left = max(0, (height - side) // 2), max(0, (width - side) // 2)
    return np.ascontiguousarray(pixels[top : top + side, left : left + side])


def psnr(original: np.ndarray, decoded: np.ndarray) -> float:
    error = float(((original.astype(np.float64) - decoded.astype(np.float64)) ** 2).mean())
    return float("inf") if error == 0 else 10 * np.log10(255**2 / error)


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def ssimulacra2(original: np.ndarray, decoded: np.ndarray) -> float:
    from ssimulacra2 import compute_ssimulacra2

    first, second = (io.BytesIO(png(centre(p, METRIC_CROP))) for p in (original, decoded))
    return float(compute_ssimulacra2(first, second))


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    return np.repeat(pixels[:, :, None], 3, axis=2) if pixels.ndim == 2 else pixels


def kmz_settings() -> dict[str, Callable[[np.ndarray], tuple[bytes, np.ndarray]]]:
    def encoder(
        colors: int, quality: int, dither: bool = False
    ) -> Callable[[np.ndarray], tuple[bytes, np.ndarray]]:
        def run(pixels: np.ndarray) -> tuple[bytes, np.ndarray]:
            data = kmzcodec.encode(pixels, colors, quality=quality, dither=dither)
            return data, np.asarray(kmzcodec.decode(data).convert("RGB"))

        return run

    settings = {f"kmz K=256 q={quality}": encoder(256, quality) for quality in QUALITIES}
    settings.update({f"kmz K={k} q=100": encoder(k, 100) for k in SWEEP_KS})
    settings.update(
        {f"kmz K=256 dither q={quality}": encoder(256, quality, True) for quality in DITHERED_QUALITIES}
    )
    return settings


def pngquant(pixels: np.ndarray, options: list[str]) -> tuple[bytes, np.ndarray] | None:
    done = subprocess.run(
        ["pngquant", *options, "256", "-"], input=png(pixels), capture_output=True, check=False
    )
    if done.returncode != 0:  # 99: the --quality range cannot be met
        return None
    return done.stdout, np.asarray(Image.open(io.BytesIO(done.stdout)).convert("RGB"))


def measure(name: str, pixels: np.ndarray, use_pngquant: bool) -> list[Result]:
    original = as_rgb(pixels)
    runs: dict[str, Callable[[], tuple[bytes, np.ndarray] | None]] = {
        label: (lambda run=run: run(pixels)) for label, run in kmz_settings().items()
    }
    if use_pngquant:
        runs.update(
            {
                label: (lambda options=options: pngquant(original, options))
                for label, options in PNGQUANT.items()
            }
        )
    results = []
    for label, run in runs.items():
        made = run()
        if made is None:
            continue
        data, decoded = made
        results.append(
            Result(label, name, len(data), psnr(original, decoded), ssimulacra2(original, decoded))
        )
    return results


def table(results: list[Result]) -> dict[str, tuple[float, float, float, float, int]]:
    """setting -> medians of (bytes vs reference - 1, PSNR drop from reference, PSNR, SSIMULACRA2), images."""
    reference = {r.image: r for r in results if r.setting == REFERENCE}
    rows = {}
    for setting in dict.fromkeys(r.setting for r in results):
        mine = [r for r in results if r.setting == setting and r.image in reference]
        rows[setting] = (
            statistics.median(r.size / reference[r.image].size - 1 for r in mine),
            statistics.median(reference[r.image].psnr - r.psnr for r in mine),
            statistics.median(r.psnr for r in mine),
            statistics.median(r.ssimulacra2 for r in mine),
            len(mine),
        )
    return rows


def report(results: list[Result]) -> bool:
    exact = sorted({r.image for r in results if r.setting == REFERENCE and r.psnr == float("inf")})
    if exact:  # at most 256 colours: stored losslessly, nothing to trade
        print(f"left out (K = 256 is lossless there): {', '.join(exact)}")
        results = [r for r in results if r.image not in exact]
    rows = table(results)
    print(f"\n{'setting':32} {'bytes':>8} {'dPSNR':>7} {'PSNR':>7} {'SSIMU2':>7} {'n':>3}   (medians)")
    for setting, (size, drop, level, score, count) in rows.items():
        print(f"{setting:32} {size:+8.1%} {drop:7.2f} {level:7.2f} {score:7.2f} {count:3d}")
    knob = {s: row for s, row in rows.items() if s.startswith("kmz K=256 q=") and s != REFERENCE}
    within = [row[0] for row in knob.values() if row[1] <= GOAL_PSNR_DROP]
    best = min(within, default=0.0)
    met = best <= GOAL_BYTES
    curve = sorted((row[1], row[0]) for s, row in rows.items() if s.startswith("kmz K=256 q="))
    drops, sizes = zip(*curve, strict=True)
    at_goal = float(np.interp(GOAL_PSNR_DROP, drops, sizes))
    print(f"\nquality knob, interpolated at {GOAL_PSNR_DROP} dB PSNR: {at_goal:+.1%} bytes (median)")
    print(
        f"goal: K = 256, {GOAL_BYTES:+.0%} bytes for <= {GOAL_PSNR_DROP} dB PSNR (median): "
        f"best within {GOAL_PSNR_DROP} dB is {best:+.1%}: {'MET' if met else 'NOT MET'}"
    )
    if PNGQUANT_DEFAULT in rows:
        peer = rows[PNGQUANT_DEFAULT]
        beating = [
            s for s, row in rows.items() if s.startswith("kmz") and row[0] < peer[0] and row[3] > peer[3]
        ]
        print(
            f"goal: a kmz setting beating pngquant's default on bytes and SSIMULACRA2 (medians): "
            f"{', '.join(beating) if beating else 'none'}: {'MET' if beating else 'NOT MET'}"
        )
        peers = {r.image: r for r in results if r.setting == PNGQUANT_DEFAULT}
        print("images where a kmz setting is smaller than pngquant's default and scores higher:")
        for setting in rows:
            mine = [r for r in results if r.setting == setting and r.image in peers]
            if setting.startswith("kmz") and mine:
                won = sum(
                    r.size < peers[r.image].size and r.ssimulacra2 > peers[r.image].ssimulacra2 for r in mine
                )
                print(f"  {setting:32} {won}/{len(mine)}")
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default=None, help="corpus folder (default: ../shared/corpus)")
    parser.add_argument("--crop", type=int, default=1536, help="centre crop side, 0 for whole images")
    parser.add_argument("--quick", action="store_true", help="the three unseen photographs only")
    parser.add_argument("--verbose", action="store_true", help="one line per image and setting too")
    args = parser.parse_args(argv)
    use_pngquant = shutil.which("pngquant") is not None
    if not use_pngquant:
        print("pngquant not found: its rows are left out")
    photos = unseen()
    if not args.quick:
        for path in _corpus.photographs(args.corpus):
            photos[path.stem] = np.asarray(_corpus.load(path))
    results = []
    for name, pixels in photos.items():
        if args.crop:
            pixels = centre(pixels, args.crop)
        found = measure(name, pixels, use_pngquant)
        results += found
        if args.verbose:
            for r in found:
                print(f"{name:14} {r.setting:32} {r.size:9d} {r.psnr:7.2f} {r.ssimulacra2:7.2f}", flush=True)
        else:
            print(f"{name}: {pixels.shape[1]}x{pixels.shape[0]}", flush=True)
    report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
