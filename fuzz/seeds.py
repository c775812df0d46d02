"""Seed corpora for the fuzz targets, derived from spec/conformance (not copied into fuzz/).

    python fuzz/seeds.py OUT_DIR        # writes OUT_DIR/decode, OUT_DIR/pillow, OUT_DIR/roundtrip

- decode, pillow: every conformance vector up to MAX_SEED bytes (the few larger ones
  add nothing a fuzzer can mutate usefully), plus a few files written by kmzcodec's
  own encoder, whose zlib and packing choices differ from the generator's.
- roundtrip: the expected pixels of the small valid vectors (.npy), as fuzz bytes for
  :func:`fuzz.harnesses.parse_case`, at their own K (stored exactly) and at about half
  of it (clustered), with the options cycling through methods, colour spaces and
  compressions.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CONFORMANCE = REPO / "spec" / "conformance"
MAX_SEED = 16 << 10
#: Round-trip seeds each cost an encode or two; this many keep the first pass short.
MAX_ROUNDTRIP_SEEDS = 40
TARGETS = ("decode", "pillow", "roundtrip")


def _cases() -> list[dict[str, object]]:
    return json.loads((CONFORMANCE / "cases.json").read_text(encoding="utf-8"))["cases"]


def conformance_files() -> dict[str, bytes]:
    """Conformance vectors up to MAX_SEED bytes, by a name that says where they came from."""
    seeds = {}
    for case in _cases():
        path = CONFORMANCE / str(case["file"])
        if path.stat().st_size <= MAX_SEED:
            seeds[f"conformance-{case['group']}-{path.stem}"] = path.read_bytes()
    return seeds


def encoder_files() -> dict[str, bytes]:
    """Small files written by kmzcodec.encode: every compression, K <= 256 and K > 256."""
    import kmzcodec  # imported late: "python fuzz/seeds.py" should start quickly

    rng = np.random.default_rng(6)
    y, x = np.mgrid[0:12, 0:20]
    gradient = np.stack([x * 12, y * 20, (x + y) * 8], axis=2).astype(np.uint8)
    seeds = {}
    for compression in ("none", "zlib", "lzma"):
        seeds[f"encoder-k5-{compression}"] = kmzcodec.encode(gradient, 5, compression=compression)
        seeds[f"encoder-rgba-k16-{compression}"] = kmzcodec.encode(
            rng.integers(0, 256, (9, 7, 4), dtype=np.uint8), 16, compression=compression
        )
    seeds["encoder-k300-grey"] = kmzcodec.encode(np.arange(300, dtype=np.uint16).reshape(15, 20) * 200, 300)
    seeds["encoder-k1-1x1"] = kmzcodec.encode(np.zeros((1, 1, 3), dtype=np.uint8), 1)
    return seeds


def roundtrip_seeds() -> dict[str, bytes]:
    from fuzz.harnesses import case_bytes

    sources = {1: ("u8", np.uint8, 0), 3: "RGB", 4: "RGBA"}
    seeds = {}
    valid = [case for case in _cases() if case["valid"]]
    for number, case in enumerate(valid):
        pixels = np.load(CONFORMANCE / str(case["expected"]))
        height, width, channels = pixels.shape
        colors = int(case["header"]["colors"])  # type: ignore[index]
        if width > 32 or height > 32:
            continue
        # flags: bit 0 gmm; bits 1-2 colour space; bits 3-4 compression (see parse_case)
        flags = (number % 2) | (number % 3) << 1 | (number % 3) << 3
        for label, k in (("exact", colors), ("half", max(1, colors // 2))):
            seeds[f"roundtrip-{label}-{Path(str(case['file'])).stem}"] = case_bytes(
                width, height, sources[channels], k, pixels.tobytes(), flags=flags, seed=number
            )
    chosen = sorted(seeds)[:: max(1, len(seeds) // MAX_ROUNDTRIP_SEEDS)][:MAX_ROUNDTRIP_SEEDS]
    return {name: seeds[name] for name in chosen}


def seed_inputs(target: str) -> dict[str, bytes]:
    if target == "roundtrip":
        return roundtrip_seeds()
    return conformance_files() | encoder_files()


def write(out: Path) -> dict[str, int]:
    """Write every target's seeds as OUT/TARGET/NAME; return the count per target."""
    counts = {}
    for target in TARGETS:
        folder = out / target
        folder.mkdir(parents=True, exist_ok=True)
        seeds = seed_inputs(target)
        for name, data in seeds.items():
            # libFuzzer names corpus files by content hash; a readable prefix keeps the origin visible
            digest = hashlib.sha1(data).hexdigest()[:12]
            (folder / f"{name}-{digest}").write_bytes(data)
        counts[target] = len(seeds)
    return counts


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python fuzz/seeds.py OUT_DIR", file=sys.stderr)
        return 2
    for target, count in write(Path(argv[0])).items():
        print(f"{target}: {count} seeds")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main(sys.argv[1:]))
