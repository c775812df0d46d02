"""Size of a default .kmz against PNG-8 holding exactly the same palette and indices.

For every photograph and illustration of the corpus and every K, the image is
quantized once (kmzcodec.encoder.encode_details, default options); that palette
and those indices are then written twice: as PNG-8 by Pillow with optimize=True
(the peer) and as .kmz by container.write with default options. Both files are
decoded again and must give identical RGBA pixels. The script prints one row per
case, the geometric mean and the maximum of KMZ/PNG, and exits with status 1 if
the geometric mean is above 1.0 or any case above 1.05 (issue 2's size target).

``--variant compression:level[:bits]`` (repeatable) adds the size ratio and the
write time of other container options, e.g. ``zlib:9``, ``zlib:9:8``, ``lzma:6``.
``--unseen`` adds photographs and graphics that are not in the corpus
(_corpus.unseen_photographs and synthetic_graphics; not judged against the
targets). ``--json FILE`` keeps the per-case sizes; ``--against FILE`` compares
this run's KMZ sizes with such a file case by case (geometric mean, worst).

Run from the repository root, under the shared benchmark lock:
    flock /tmp/kmzcodec-bench.lock .venv/bin/python benchmarks/bench_size.py
    .venv/bin/python benchmarks/bench_size.py --unseen --json after.json --against before.json
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpus  # noqa: E402

import kmzcodec  # noqa: E402
from kmzcodec import container  # noqa: E402
from kmzcodec.encoder import encode_details  # noqa: E402

GEOMEAN_TARGET = 1.0
CASE_LIMIT = 1.05


@dataclass(frozen=True)
class Variant:
    """A set of container.write options: compression, level (None: default), bits (None: auto)."""

    compression: str
    level: int | None
    bits: int | None

    @classmethod
    def parse(cls, text: str) -> Variant:
        parts = text.split(":")
        if not 1 <= len(parts) <= 3 or parts[0] not in ("zlib", "lzma", "none"):
            msg = f"bad variant {text!r}: use compression[:level[:bits]], e.g. zlib:9 or zlib:9:8"
            raise argparse.ArgumentTypeError(msg)
        level = int(parts[1]) if len(parts) > 1 and parts[1] else None
        bits = int(parts[2]) if len(parts) > 2 and parts[2] else None
        return cls(parts[0], level, bits)

    @property
    def label(self) -> str:
        level = "" if self.level is None else str(self.level)
        bits = "" if self.bits is None else f":{self.bits}"
        return f"{self.compression}:{level}{bits}".rstrip(":")

    def write(self, palette: np.ndarray, indices: np.ndarray) -> bytes:
        return container.write(
            palette, indices, compression=self.compression, level=self.level, bits_per_index=self.bits
        )


@dataclass
class Case:
    image: str
    kind: str
    colors: int
    png_bytes: int
    kmz_bytes: int
    bits: int
    write_ms: float
    png_ms: float
    variants: dict[str, tuple[int, float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.kmz_bytes / self.png_bytes


def timed(action: Callable[[], bytes], repeat: int) -> tuple[bytes, float]:
    """The result of ``action`` and the median wall time of ``repeat`` runs, in ms."""
    times = []
    result = b""
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        times.append((time.perf_counter() - start) * 1000)
    return result, statistics.median(times)


def save_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def same_pixels(png: bytes, kmz: bytes) -> bool:
    with Image.open(io.BytesIO(png)) as opened:
        expected = np.asarray(opened.convert("RGBA"))
    return bool(np.array_equal(expected, np.asarray(kmzcodec.decode(kmz).convert("RGBA"))))


def measure(
    label: str, image: Image.Image, kind: str, colors: int, repeat: int, variants: list[Variant]
) -> Case:
    quantized = encode_details(image, colors).quantized
    palette, indices = quantized.palette, quantized.indices
    png, png_ms = timed(lambda: save_png(_corpus.png8(palette, indices)), repeat)
    kmz, write_ms = timed(lambda: container.write(palette, indices), repeat)
    if not same_pixels(png, kmz):
        msg = f"{label} K={colors}: PNG and KMZ decode to different pixels"
        raise SystemExit(msg)
    case = Case(label, kind, len(palette), len(png), len(kmz), kmz[10], write_ms, png_ms)
    for variant in variants:
        data, ms = timed(partial(variant.write, palette, indices), repeat)
        if not same_pixels(png, data):
            msg = f"{label} K={colors} {variant.label}: decodes to different pixels"
            raise SystemExit(msg)
        case.variants[variant.label] = (len(data), ms)
    return case


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def report(cases: list[Case], variants: list[Variant]) -> None:
    head = "| image | kind | K | PNG-8 bytes | KMZ bytes | KMZ/PNG | bits | write ms | PNG save ms |"
    rule = "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    for variant in variants:
        head += f" {variant.label} ratio | {variant.label} ms |"
        rule += "---:|---:|"
    print(head)
    print(rule)
    for c in cases:
        row = (
            f"| {c.image} | {c.kind} | {c.colors} | {c.png_bytes:,} | {c.kmz_bytes:,} | {c.ratio:.3f} "
            f"| {c.bits} | {c.write_ms:.0f} | {c.png_ms:.0f} |"
        )
        for variant in variants:
            size, ms = c.variants[variant.label]
            row += f" {size / c.png_bytes:.3f} | {ms:.0f} |"
        print(row)
    print()
    judged = [c for c in cases if c.kind in ("photo", "illustration")] or cases
    ratios = [c.ratio for c in judged]
    worst = max(judged, key=lambda c: c.ratio)
    print("default (effort and bits per index chosen by a trial on a sample), corpus cases:")
    print(f"  geometric mean KMZ/PNG {geomean(ratios):.4f} (target <= {GEOMEAN_TARGET})")
    print(f"  max KMZ/PNG {worst.ratio:.4f} ({worst.image} K={worst.colors}; limit {CASE_LIMIT})")
    for kind in sorted({c.kind for c in cases}):
        subset = [c.ratio for c in cases if c.kind == kind]
        print(f"  {kind}: geometric mean {geomean(subset):.4f} over {len(subset)} cases")
    write_total, png_total = sum(c.write_ms for c in cases), sum(c.png_ms for c in cases)
    print(f"  write time: total {write_total:.0f} ms (PNG save total {png_total:.0f} ms)")
    for variant in variants:
        v_ratios = [c.variants[variant.label][0] / c.png_bytes for c in cases]
        total_ms = sum(c.variants[variant.label][1] for c in cases)
        over = sum(r > CASE_LIMIT for r in v_ratios)
        print(
            f"{variant.label}: geometric mean {geomean(v_ratios):.4f}, max {max(v_ratios):.4f}, "
            f"cases above {CASE_LIMIT}: {over}, write time total {total_ms:.0f} ms"
        )


def against(cases: list[Case], path: str) -> None:
    """KMZ size of each case against an earlier run's (``--json``), by kind and overall."""
    before = {(c["image"], c["colors"]): c["kmz_bytes"] for c in json.loads(Path(path).read_text())}
    changes = [(c, c.kmz_bytes / before[c.image, c.colors]) for c in cases if (c.image, c.colors) in before]
    if not changes:
        print(f"no case of {path} matches this run")
        return
    print(f"\nKMZ size against {path} (this run / that run):")
    for kind in sorted({c.kind for c, _ in changes}):
        subset = [(c, r) for c, r in changes if c.kind == kind]
        worst, best = max(subset, key=lambda cr: cr[1]), min(subset, key=lambda cr: cr[1])
        print(
            f"  {kind}: geometric mean {geomean([r for _, r in subset]):.4f}, worst {worst[1]:.4f} "
            f"({worst[0].image} K={worst[0].colors}), best {best[1]:.4f} ({best[0].image} K={best[0].colors})"
        )
    judged = [r for c, r in changes if c.kind in ("photo", "illustration")]
    if judged:
        print(
            f"  corpus (photo + illustration): geometric mean {geomean(judged):.4f}, worst {max(judged):.4f}"
        )
    every = [r for _, r in changes]
    print(f"  all: geometric mean {geomean(every):.4f}, worst {max(every):.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", help="corpus directory (default: ../shared/corpus)")
    parser.add_argument("--colors", type=int, nargs="+", default=[16, 64, 256], help="values of K")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per write (median reported)")
    parser.add_argument("--images", nargs="+", help="only these corpus files (names)")
    parser.add_argument(
        "--variant", type=Variant.parse, action="append", default=[], help="compression:level[:bits]"
    )
    parser.add_argument(
        "--unseen", action="store_true", help="also photographs and graphics not in the corpus"
    )
    parser.add_argument(
        "--fast-writer",
        action="store_true",
        help="every zlib stream at the writer's fast level (issue 15: what the strong levels save)",
    )
    parser.add_argument("--json", help="write the per-case results to this file")
    parser.add_argument("--against", help="compare KMZ sizes with a --json file of an earlier run")
    args = parser.parse_args(argv)

    sources = [(p, "photo") for p in _corpus.photographs(args.corpus)]
    sources += [(p, "illustration") for p in _corpus.illustrations(args.corpus)]
    if args.images:
        sources = [(p, kind) for p, kind in sources if p.name in args.images]
    images = [(p.name, kind, lambda p=p: _corpus.load(p)) for p, kind in sources]
    if args.unseen:
        extra = [(label, "unseen photo", image) for label, image in _corpus.unseen_photographs()]
        extra += [(label, "graphic", image) for label, image in _corpus.synthetic_graphics()]
        images += [(label, kind, lambda image=image: image) for label, kind, image in extra]
    if not images:
        raise SystemExit("no corpus images selected")
    cases = []
    with _corpus.fast_writer() if args.fast_writer else contextlib.nullcontext():
        for label, kind, load in images:
            image = load()
            for colors in args.colors:
                case = measure(label, image, kind, colors, args.repeat, args.variant)
                print(f"  {case.image} K={colors}: ratio {case.ratio:.3f}", file=sys.stderr, flush=True)
                cases.append(case)
    report(cases, args.variant)
    if args.json:
        Path(args.json).write_text(json.dumps([dataclasses.asdict(c) for c in cases], indent=1))
    if args.against:
        against(cases, args.against)
    ratios = [c.ratio for c in cases if c.kind in ("photo", "illustration")] or [c.ratio for c in cases]
    return 1 if geomean(ratios) > GEOMEAN_TARGET or max(ratios) > CASE_LIMIT else 0


if __name__ == "__main__":
    sys.exit(main())
