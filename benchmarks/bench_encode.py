"""Encoder speed, quality and memory against pngquant, Pillow and the notebook approach.

Everything is measured in one run, so the ratios hold on a shared, noisy machine;
times are medians of --repeat runs, taken in rotation (kmz, pngquant, Pillow...)
so a slow spell hits every tool alike.

What is timed, per tool, for the same image already in memory:
  kmz        kmzcodec.encode(image, K) -> .kmz bytes (defaults: k-means, RGB, zlib)
  pngquant   the `pngquant --speed 4 --nofs K` process on a PNG of the image, to a
             PNG file (its wall time includes reading that PNG and writing its own)
  median-cut Pillow Image.quantize(K, MEDIANCUT, no dither) + PNG-8 to bytes
  octree     Pillow Image.quantize(K, FASTOCTREE, no dither) + PNG-8 to bytes
  notebook   scikit-learn KMeans(K) fitted on every pixel, as the course notebooks do
             (one image only: it takes minutes), palette[labels] as the result

Quality: PSNR and SSIM (kmzcodec.metrics) of each tool's decoded output against
the original. Memory: peak RSS of a fresh process above its own baseline after
imports, divided by the raw RGB size (width x height x 3).

Run from the repository root:
    python benchmarks/bench_encode.py                 # speed/quality, GMM, scaling, memory
    python benchmarks/bench_encode.py --notebook      # + the notebook comparison (slow)
    python benchmarks/bench_encode.py --precision     # + binning vs exact-colour k-means (slow)
    python benchmarks/bench_encode.py --profile       # only the per-stage breakdown (no pngquant)
    python benchmarks/bench_encode.py --ratio         # only kmz/pngquant time on the widened set
Exit status 1 when a target of the encoder issue is missed.

--profile times each stage of kmzcodec.encode on the corpus photographs and on
photographs the corpus does not hold (scikit-image's sample photos, resized:
_corpus.unseen_photographs). The stages are the calls encode makes, in its order,
timed with perf_counter around each: read pixels (to_pixels), histogram
(Quantizer(...)), k-means and map (quantize(K); the map is the histogram's
pixel lookup, timed by wrapping it, the rest is k-means and palette rounding),
container (container.write; its packing/effort trial is timed by wrapping
container._choose_packing, the rest is packing and compression). The bytes must
equal kmzcodec.encode's, and the stage sum is shown beside encode's own time.
With --fast-writer every zlib stream is made at the writer's fast level (its trial
still picks the bits per index): what the container would cost with no stronger level;
bench_size.py --fast-writer --against gives what that costs in bytes.

--ratio times kmz against pngquant (as the default mode, in rotation, medians of
--repeat) on the same images as --profile, at K = 16, 64, 256, and judges the goals
of issue 15: median ratio <= RATIO_TARGET per K, no image above RATIO_WORST, PSNR
>= pngquant's on every image.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _corpus  # noqa: E402

import kmzcodec  # noqa: E402
from kmzcodec import container, metrics, quantize  # noqa: E402
from kmzcodec.format import ColorSpace, Method  # noqa: E402
from kmzcodec.pixels import to_pixels  # noqa: E402
from kmzcodec.settings import DEFAULT_SETTINGS  # noqa: E402

PNGQUANT = "pngquant"


def median_time(run: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


class Tools:
    """Each tool as (encode -> bytes, decode bytes -> image), for one image and K."""

    def __init__(self, image: Image.Image, k: int, workdir: Path) -> None:
        self.image, self.k, self.workdir = image, k, workdir
        self.png_in = workdir / "input.png"
        image.save(self.png_in, compress_level=1)

    def kmz(self) -> bytes:
        return kmzcodec.encode(self.image, self.k)

    def pngquant(self) -> bytes:
        out = self.workdir / "pngquant.png"
        subprocess.run(
            [
                PNGQUANT,
                "--speed",
                "4",
                "--nofs",
                "--force",
                "--output",
                str(out),
                str(self.k),
                str(self.png_in),
            ],
            check=True,
        )
        return out.read_bytes()

    def _pillow(self, method: Image.Quantize) -> bytes:
        source = self.image if self.image.mode == "RGB" else self.image.convert("RGB")
        buffer = io.BytesIO()
        source.quantize(self.k, method=method, dither=Image.Dither.NONE).save(buffer, "PNG")
        return buffer.getvalue()

    def median_cut(self) -> bytes:
        return self._pillow(Image.Quantize.MEDIANCUT)

    def octree(self) -> bytes:
        return self._pillow(Image.Quantize.FASTOCTREE)


def decoded(tool: str, data: bytes) -> Image.Image:
    if tool == "kmz":
        return kmzcodec.decode(data)
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        return opened.copy()


def in_rotation(runner: Tools, tools: list[str], repeat: int) -> tuple[dict[str, float], dict[str, bytes]]:
    """Each tool's median time over ``repeat`` rounds, the tools taking turns (so a change in the
    machine's load touches all of them), after one kmz run to warm caches and imports; and each
    tool's output."""
    times: dict[str, list[float]] = {tool: [] for tool in tools}
    outputs: dict[str, bytes] = {}
    runner.kmz()
    for _ in range(repeat):
        for tool in tools:
            start = time.perf_counter()
            outputs[tool] = getattr(runner, tool)()
            times[tool].append(time.perf_counter() - start)
    return {tool: statistics.median(values) for tool, values in times.items()}, outputs


def speed_table(paths: list[Path], ks: list[int], repeat: int, with_ssim: bool) -> list[dict]:
    rows = []
    tools = ["kmz", "pngquant", "median_cut", "octree"]
    for path in paths:
        image = _corpus.load(path)
        with tempfile.TemporaryDirectory() as tmp:
            for k in ks:
                runner = Tools(image, k, Path(tmp))
                times, outputs = in_rotation(runner, tools, repeat)
                row: dict = {"image": path.name, "pixels": image.width * image.height, "k": k}
                for tool in tools:
                    result = decoded(tool, outputs[tool])
                    row[tool] = {
                        "seconds": times[tool],
                        "bytes": len(outputs[tool]),
                        "psnr": metrics.psnr(image, result),
                        "ssim": metrics.ssim(image, result) if with_ssim else None,
                    }
                rows.append(row)
                print_speed_row(row, tools)
    return rows


def print_speed_row(row: dict, tools: list[str]) -> None:
    kmz, pq = row["kmz"], row["pngquant"]
    parts = [f"{row['image']:18s} K={row['k']:<3d}"]
    for tool in tools:
        cell = row[tool]
        ssim = f" {cell['ssim']:.4f}" if cell["ssim"] is not None else ""
        parts.append(f"{tool} {cell['seconds']:.3f}s {cell['psnr']:.2f}dB{ssim} {cell['bytes']}B")
    parts.append(f"kmz/pngquant time {kmz['seconds'] / pq['seconds']:.2f}")
    print(" | ".join(parts), flush=True)


def gmm_table(paths: list[Path], repeat: int, with_ssim: bool) -> list[dict]:
    """GMM against k-means at K = 64: encode time, PSNR and SSIM of each."""
    rows = []
    for path in paths:
        image = _corpus.load(path)
        seconds, data = median_time(lambda image=image: kmzcodec.encode(image, 64, method="gmm"), repeat)
        kmeans_seconds, kmeans = median_time(lambda image=image: kmzcodec.encode(image, 64), repeat)
        gmm_image, kmeans_image = kmzcodec.decode(data), kmzcodec.decode(kmeans)
        row = {
            "image": path.name,
            "seconds": seconds,
            "kmeans_seconds": kmeans_seconds,
            "psnr_gmm": metrics.psnr(image, gmm_image),
            "psnr_kmeans": metrics.psnr(image, kmeans_image),
            "ssim_gmm": metrics.ssim(image, gmm_image) if with_ssim else None,
            "ssim_kmeans": metrics.ssim(image, kmeans_image) if with_ssim else None,
        }
        rows.append(row)
        ssim = f" | SSIM gmm {row['ssim_gmm']:.4f} kmeans {row['ssim_kmeans']:.4f}" if with_ssim else ""
        print(
            f"gmm K=64 {path.name:18s} {seconds:.3f}s (kmeans {kmeans_seconds:.3f}s) | PSNR gmm "
            f"{row['psnr_gmm']:.2f} kmeans {row['psnr_kmeans']:.2f}{ssim}",
            flush=True,
        )
    return rows


def notebook(path: Path, ks: list[int]) -> list[dict]:
    from sklearn.cluster import KMeans

    image = _corpus.load(path).convert("RGB")
    pixels = np.asarray(image).reshape(-1, 3).astype(np.float64)
    rows = []
    for k in ks:
        start = time.perf_counter()
        model = KMeans(n_clusters=k, random_state=0).fit(pixels)
        palette = np.clip(np.rint(model.cluster_centers_), 0, 255).astype(np.uint8)
        result = palette[model.labels_].reshape(image.height, image.width, 3)
        seconds = time.perf_counter() - start
        kmz_seconds, data = median_time(lambda k=k: kmzcodec.encode(image, k), 3)
        row = {
            "image": path.name,
            "k": k,
            "notebook_seconds": seconds,
            "notebook_psnr": metrics.psnr(image, result),
            "kmz_seconds": kmz_seconds,
            "kmz_psnr": metrics.psnr(image, kmzcodec.decode(data)),
        }
        rows.append(row)
        print(
            f"notebook {path.name} K={k}: {seconds:.1f}s {row['notebook_psnr']:.2f}dB | kmz "
            f"{kmz_seconds:.3f}s {row['kmz_psnr']:.2f}dB | speed-up {seconds / kmz_seconds:.0f}x",
            flush=True,
        )
    return rows


#: The reference of :func:`precision`: no grids, every colour in the seeding sample, Lloyd to convergence.
UNBINNED = dataclasses.replace(DEFAULT_SETTINGS, levels=(), seed_sample_per_cluster=1 << 30, exact_steps=300)


def precision(paths: list[Path], ks: list[int]) -> list[dict]:
    """PSNR of the default (sampled seeds, binned grids) against k-means on the exact colours.

    The reference keeps every other choice (seeding, tries, Lloyd) but runs it on
    all distinct colours with no grid and no sample, to convergence.
    """
    rows = []
    for path in paths:
        image = _corpus.load(path)
        pixels = kmzcodec.pixels.to_pixels(image)
        for k in ks:
            fast = quantize.quantize(pixels, k)
            exact = quantize.quantize(pixels, k, settings=UNBINNED)
            row = {
                "image": path.name,
                "k": k,
                "psnr": metrics.psnr(pixels, fast.palette[fast.indices]),
                "psnr_exact": metrics.psnr(pixels, exact.palette[exact.indices]),
            }
            rows.append(row)
            print(
                f"precision {path.name:18s} K={k:<3d} default {row['psnr']:.3f} exact "
                f"{row['psnr_exact']:.3f} diff {row['psnr'] - row['psnr_exact']:+.3f} dB",
                flush=True,
            )
    return rows


# The baseline is taken after the imports the encoder needs and after numba's first-call
# set-up (LLVM, its typing tables, the cached kernels: about 66 MB, once per process), made by
# encoding a small image first, so that the peak above it is the memory one image costs, not
# the libraries' fixed cost. "whole" is the peak above the imports alone.
_MEMORY_PROBE = r"""
import json, sys
import numpy, PIL.Image, numba, kmzcodec
def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024
imported = rss("VmRSS:")
warm_up = numpy.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=numpy.uint8)
kmzcodec.encode(warm_up, int(sys.argv[2]))
baseline = rss("VmRSS:")
image = PIL.Image.open(sys.argv[1])
image.load()
data = kmzcodec.encode(image, int(sys.argv[2]))
print(json.dumps({"imported": imported, "baseline": baseline, "peak": rss("VmHWM:"), "bytes": len(data)}))
"""

_PNGQUANT_PROBE = r"""
import json, resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
print(json.dumps({"peak": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024}))
"""


def memory(paths: list[Path], k: int) -> list[dict]:
    rows = []
    for path in paths:
        with Image.open(path) as opened:
            width, height = opened.size
        raw = width * height * 3
        probe = subprocess.run(
            [sys.executable, "-c", _MEMORY_PROBE, str(path), str(k)],
            check=True,
            capture_output=True,
            text=True,
        )
        ours = json.loads(probe.stdout)
        with tempfile.TemporaryDirectory() as tmp:
            png = Path(tmp) / "in.png"
            _corpus.load(path).save(png, compress_level=1)
            command = [PNGQUANT, "--speed", "4", "--nofs", "--force", "--output", str(Path(tmp) / "o.png")]
            probe = subprocess.run(
                [sys.executable, "-c", _PNGQUANT_PROBE, *command, str(k), str(png)],
                check=True,
                capture_output=True,
                text=True,
            )
            theirs = json.loads(probe.stdout)
        row = {
            "image": path.name,
            "megapixels": width * height / 1e6,
            "kmz_above_baseline": (ours["peak"] - ours["baseline"]) / raw,
            "kmz_above_imports": (ours["peak"] - ours["imported"]) / raw,
            "pngquant_process": theirs["peak"] / raw,
        }
        rows.append(row)
        print(
            f"memory {path.name:18s} {row['megapixels']:.1f} MP K={k}: kmz peak above baseline "
            f"{row['kmz_above_baseline']:.2f}x raw RGB (above the imports: {row['kmz_above_imports']:.2f}x) "
            "| pngquant whole process "
            f"{row['pngquant_process']:.2f}x",
            flush=True,
        )
    return rows


def scaling(small: list[Path], large: list[Path], k: int, repeat: int) -> dict:
    """Encode time per pixel on 14.7 MP images against the 4 MP photographs."""

    def per_pixel(paths: list[Path]) -> list[float]:
        values = []
        for path in paths:
            image = _corpus.load(path)
            seconds, _ = median_time(lambda image=image: kmzcodec.encode(image, k), repeat)
            values.append(seconds / (image.width * image.height))
            print(f"scaling {path.name:18s} K={k} {seconds:.3f}s {values[-1] * 1e9:.1f} ns/pixel", flush=True)
        return values

    small_rate = statistics.median(per_pixel(small))
    large_rate = statistics.median(per_pixel(large))
    result = {"ns_per_pixel_4mp": small_rate * 1e9, "ns_per_pixel_large": large_rate * 1e9}
    result["ratio"] = large_rate / small_rate
    print(f"scaling: large/small time per pixel {result['ratio']:.2f} (<= 1.0 is linear or better)")
    return result


#: Stages of one encode, in order (see --profile in the module docstring).
STAGES = ("read", "histogram", "kmeans", "map", "trial", "compress")
#: The container stage's share of encode time that issue 15 aims for.
CONTAINER_SHARE_TARGET = 0.15
#: Issue 15: median kmz/pngquant time per K on the widened photograph set, and the worst image.
RATIO_TARGET = 0.33
RATIO_WORST = 0.5


@contextlib.contextmanager
def _timed_attribute(owner: object, name: str, spent: list[float]) -> Iterator[bool]:
    """Wrap ``owner.name`` (a callable) so that each call adds its wall time to ``spent``.

    Yields False, and times nothing, when ``owner`` has no such attribute (the
    quantizer's internals may move: the stage is then counted in the one around it).
    """
    original = getattr(owner, name, None)
    if not callable(original):
        yield False
        return

    def wrapper(*args: object, **kwargs: object) -> object:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    setattr(owner, name, wrapper)
    try:
        yield True
    finally:
        setattr(owner, name, original)


def encode_stages(image: Image.Image, k: int) -> tuple[dict[str, float | None], bytes]:
    """One default encode of ``image`` at K, stage by stage, as kmzcodec.encode does it."""
    times: dict[str, float | None] = {}
    start = time.perf_counter()
    pixels = to_pixels(image)
    times["read"] = time.perf_counter() - start
    start = time.perf_counter()
    quantizer = quantize.Quantizer(pixels)
    times["histogram"] = time.perf_counter() - start
    mapped: list[float] = []
    with _timed_attribute(getattr(quantizer, "_histogram", None), "to_pixels", mapped) as hooked:
        start = time.perf_counter()
        quantized = quantizer.quantize(k)
        spent = time.perf_counter() - start
    times["map"] = sum(mapped) if hooked else None
    times["kmeans"] = spent - sum(mapped)
    del quantizer, pixels  # as encode does, before compressing
    trial: list[float] = []
    with _timed_attribute(container, "_choose_packing", trial):
        start = time.perf_counter()
        data = container.write(
            quantized.palette,
            quantized.indices,
            method=Method[quantized.method.upper()],
            colorspace=ColorSpace[quantized.colorspace.upper()],
            dithered=quantized.dithered,
        )
        spent = time.perf_counter() - start
    times["trial"] = sum(trial)
    times["compress"] = spent - sum(trial)
    return times, data


def profile_images(corpus: str | None, only: set[str] | None) -> list[tuple[str, Image.Image]]:
    """The corpus photographs and the unseen ones, as (label, image)."""
    images = [(path.name, _corpus.load(path)) for path in _corpus.photographs(corpus)]
    images += _corpus.unseen_photographs()
    return [(label, image) for label, image in images if only is None or label in only]


def ratio_table(images: list[tuple[str, Image.Image]], ks: list[int], repeat: int) -> list[dict]:
    """kmz against pngquant on the widened photograph set: median times in rotation and PSNR."""
    rows = []
    tools = ["kmz", "pngquant"]
    for label, image in images:
        with tempfile.TemporaryDirectory() as tmp:
            for k in ks:
                runner = Tools(image, k, Path(tmp))
                times, outputs = in_rotation(runner, tools, repeat)
                row: dict = {"image": label, "pixels": image.width * image.height, "k": k}
                for tool in tools:
                    row[tool] = {
                        "seconds": times[tool],
                        "bytes": len(outputs[tool]),
                        "psnr": metrics.psnr(image, decoded(tool, outputs[tool])),
                    }
                row["ratio"] = row["kmz"]["seconds"] / row["pngquant"]["seconds"]
                rows.append(row)
                print(
                    f"{label:24s} {row['pixels'] / 1e6:4.1f} MP K={k:<3d} kmz {row['kmz']['seconds']:.3f}s "
                    f"{row['kmz']['psnr']:.2f}dB | pngquant {row['pngquant']['seconds']:.3f}s "
                    f"{row['pngquant']['psnr']:.2f}dB | kmz/pngquant time {row['ratio']:.2f}",
                    flush=True,
                )
    return rows


def ratio_failures(rows: list[dict], ks: list[int]) -> list[str]:
    """Print the medians against the goals; the goals missed."""
    failures = []
    for k in ks:
        subset = [row for row in rows if row["k"] == k]
        median = statistics.median(row["ratio"] for row in subset)
        worst = max(subset, key=lambda row: row["ratio"])
        below = [row["image"] for row in subset if row["kmz"]["psnr"] < row["pngquant"]["psnr"]]
        print(
            f"K={k}: median kmz/pngquant time {median:.2f} (target <= {RATIO_TARGET}), worst "
            f"{worst['ratio']:.2f} ({worst['image']}, target <= {RATIO_WORST}); "
            f"PSNR below pngquant on {below or 'none'}"
        )
        if median > RATIO_TARGET or worst["ratio"] > RATIO_WORST or below:
            failures.append(f"K={k} ratio/quality")
    return failures


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.0f}"


def profile(images: list[tuple[str, Image.Image]], ks: list[int], repeat: int) -> list[dict]:
    """Median time of each stage, and of kmzcodec.encode itself, per image and K (one table)."""
    print(
        "| image | MP | K | read ms | histogram ms | k-means ms | map ms | trial ms | compress ms "
        "| container % | stage sum ms | encode() ms | sum/encode |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for label, image in images:
        for k in ks:
            samples: list[dict[str, float | None]] = []
            encodes: list[float] = []
            reference = kmzcodec.encode(image, k)  # warm caches and imports once
            for _ in range(repeat):  # in rotation, so a slow spell hits both alike
                stages, data = encode_stages(image, k)
                if data != reference:
                    msg = f"{label} K={k}: the staged encode differs from kmzcodec.encode"
                    raise SystemExit(msg)
                samples.append(stages)
                start = time.perf_counter()
                kmzcodec.encode(image, k)
                encodes.append(time.perf_counter() - start)
            row: dict = {"image": label, "pixels": image.width * image.height, "k": k}
            for stage in STAGES:
                values = [s[stage] for s in samples]
                row[stage] = None if None in values else statistics.median(v for v in values if v is not None)
            row["sum"] = sum(row[stage] or 0.0 for stage in STAGES)
            row["encode"] = statistics.median(encodes)
            row["container_share"] = (row["trial"] + row["compress"]) / row["sum"]
            rows.append(row)
            print(
                f"| {label} | {row['pixels'] / 1e6:.1f} | {k} | "
                + " | ".join(_ms(row[stage]) for stage in STAGES)
                + f" | {100 * row['container_share']:.0f} | {_ms(row['sum'])} | {_ms(row['encode'])} "
                f"| {row['sum'] / row['encode']:.2f} |",
                flush=True,
            )
    print()
    for k in ks:
        subset = [row for row in rows if row["k"] == k]
        medians = {
            stage: statistics.median(row[stage] for row in subset if row[stage] is not None)
            for stage in STAGES
            if any(row[stage] is not None for row in subset)
        }
        share = statistics.median(row["container_share"] for row in subset)
        worst = max(subset, key=lambda row: row["container_share"])
        print(
            f"K={k}: median ms "
            + ", ".join(f"{stage} {value * 1000:.0f}" for stage, value in medians.items())
            + f" | container share median {100 * share:.1f} %, worst {100 * worst['container_share']:.1f} % "
            f"({worst['image']}) (target <= {100 * CONTAINER_SHARE_TARGET:.0f} %)"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", default=None, help="corpus folder (default ../shared/corpus)")
    parser.add_argument("--ks", default="256,16", help="palette sizes for the speed table")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per tool (median)")
    parser.add_argument("--no-ssim", action="store_true", help="skip SSIM (it takes a while on 4 MP)")
    parser.add_argument("--notebook", action="store_true", help="also time the notebook approach (minutes)")
    parser.add_argument("--precision", action="store_true", help="also compare with exact-colour k-means")
    parser.add_argument("--only", default=None, help="comma-separated image names to restrict the run")
    parser.add_argument("--json", default=None, help="write all results to this file")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="only the per-stage breakdown, on corpus and unseen photographs (--ks default: 16,64,256)",
    )
    parser.add_argument(
        "--fast-writer",
        action="store_true",
        help="with --profile: every zlib stream at the writer's fast level (what the container stage "
        "would cost with no stronger level; bench_size.py --fast-writer gives the bytes)",
    )
    parser.add_argument(
        "--ratio",
        action="store_true",
        help="only kmz against pngquant on the corpus and unseen photographs (--ks default: 16,64,256)",
    )
    args = parser.parse_args(argv)
    if args.ratio:
        if shutil.which(PNGQUANT) is None:
            print("pngquant not found (Debian package pngquant)", file=sys.stderr)
            return 2
        ks = [int(k) for k in (args.ks if args.ks != parser.get_default("ks") else "16,64,256").split(",")]
        only = set(args.only.split(",")) if args.only else None
        rows = ratio_table(profile_images(args.corpus, only), ks, args.repeat)
        if args.json:
            Path(args.json).write_text(json.dumps({"ratio": rows}, indent=1))
        failures = ratio_failures(rows, ks)
        print("FAILED: " + ", ".join(failures) if failures else "ratio targets met")
        return 1 if failures else 0
    if args.profile:
        ks = [int(k) for k in (args.ks if args.ks != parser.get_default("ks") else "16,64,256").split(",")]
        only = set(args.only.split(",")) if args.only else None
        with _corpus.fast_writer() if args.fast_writer else contextlib.nullcontext():
            rows = profile(profile_images(args.corpus, only), ks, args.repeat)
        if args.json:
            Path(args.json).write_text(json.dumps({"profile": rows}, indent=1))
        over = [
            k
            for k in ks
            if statistics.median(r["container_share"] for r in rows if r["k"] == k) > CONTAINER_SHARE_TARGET
        ]
        print(f"FAILED: container share at K={over}" if over else "container share target met")
        return 1 if over else 0
    if shutil.which(PNGQUANT) is None:
        print("pngquant not found (Debian package pngquant)", file=sys.stderr)
        return 2
    ks = [int(k) for k in args.ks.split(",")]
    photos = _corpus.photographs(args.corpus)
    four_mp = [p for p in photos if Image.open(p).size == (2560, 1600)]
    large = [p for p in _corpus.images(args.corpus) if Image.open(p).size == (5120, 2880)]
    if args.only:
        wanted = set(args.only.split(","))
        four_mp = [p for p in four_mp if p.name in wanted]
        large = [p for p in large if p.name in wanted]
    results: dict = {"speed": speed_table(four_mp, ks, args.repeat, not args.no_ssim)}
    results["gmm"] = gmm_table(four_mp, args.repeat, not args.no_ssim)
    results["scaling"] = scaling(four_mp, large, 256, args.repeat) if large else None
    results["memory"] = memory(large + four_mp[:1], 256)
    if args.notebook:
        results["notebook"] = notebook(four_mp[0], [16, 256])
    if args.precision:
        results["precision"] = precision(four_mp, ks)

    failures = []
    for k in ks:
        rows = [row for row in results["speed"] if row["k"] == k]
        ratio = statistics.median(row["kmz"]["seconds"] / row["pngquant"]["seconds"] for row in rows)
        worse = [row["image"] for row in rows if row["kmz"]["psnr"] < row["pngquant"]["psnr"]]
        print(
            f"K={k}: median kmz/pngquant time {ratio:.2f} (target <= 0.5); "
            f"PSNR below pngquant on {worse or 'none'}"
        )
        if ratio > 0.5 or worse:
            failures.append(f"K={k} speed/quality")
    gmm_median = statistics.median(row["seconds"] for row in results["gmm"])
    print(f"GMM K=64 median {gmm_median:.3f}s (target <= 2 s)")
    if gmm_median > 2.0:
        failures.append("gmm")
    if results["scaling"] and results["scaling"]["ratio"] > 1.1:
        failures.append("scaling")
    # The target is set on the 14.7 MP images; at 4 MP fixed costs (a 16 MB lookup
    # table, thread stacks) weigh more, for pngquant too: that row is shown, not judged.
    judged = [row for row in results["memory"] if row["megapixels"] > 10] or results["memory"]
    worst_memory = max(row["kmz_above_baseline"] for row in judged)
    print(
        f"memory: worst kmz peak above baseline on 14.7 MP images {worst_memory:.2f}x raw RGB (target <= 6)"
    )
    if worst_memory > 6:
        failures.append("memory")
    # The notebook target (>= 100x) is set where the notebooks hurt, K = 256 (about 80 s);
    # at K = 16 scikit-learn converges in seconds, so only the quality is judged there.
    for row in results.get("notebook", []):
        slow = row["k"] == 256 and row["notebook_seconds"] / row["kmz_seconds"] < 100
        if slow or row["kmz_psnr"] < row["notebook_psnr"] - 0.2:
            failures.append(f"notebook K={row['k']}")
    for row in results.get("precision", []):
        if row["psnr"] < row["psnr_exact"] - 0.1:
            failures.append(f"precision {row['image']} K={row['k']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print("FAILED: " + ", ".join(failures) if failures else "all encoder targets met")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
