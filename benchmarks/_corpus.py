"""The benchmark corpus (../shared/corpus from the repository root), shared by the scripts here.

The corpus is not part of the repository: benchmarks read it, tests never do.
Which files are photographs and which are illustrations is read from the
corpus's own LICENSES.md ("Photographs: a, b, ..." and "Illustrations ...: c, ...").
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

#: ../shared/corpus, relative to the repository root (this file is in benchmarks/).
DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")


def corpus_dir(path: str | Path | None = None) -> Path:
    """The corpus directory: ``path`` if given, else ../shared/corpus; it must exist."""
    folder = Path(path) if path is not None else DEFAULT_CORPUS
    if not folder.is_dir():
        msg = f"corpus directory {folder} not found (pass --corpus DIR)"
        raise SystemExit(msg)
    return folder


def images(path: str | Path | None = None) -> list[Path]:
    """Every image file in the corpus, sorted by name."""
    folder = corpus_dir(path)
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _listed(path: str | Path | None, label: str) -> list[Path]:
    """Images named on the LICENSES.md line that starts with ``label``."""
    folder = corpus_dir(path)
    licenses = folder / "LICENSES.md"
    if not licenses.is_file():
        msg = f"{licenses} not found: cannot tell photographs from illustrations"
        raise SystemExit(msg)
    by_stem = {p.stem.lower(): p for p in images(folder)}
    for line in licenses.read_text(encoding="utf-8").splitlines():
        if line.lower().startswith(label):
            names = re.split(r"[,\s]+", line.split(":", 1)[1].strip().rstrip("."))
            return sorted(by_stem[name.lower()] for name in names if name.lower() in by_stem)
    return []


def photographs(path: str | Path | None = None) -> list[Path]:
    return _listed(path, "photographs")


def illustrations(path: str | Path | None = None) -> list[Path]:
    return _listed(path, "illustrations")


def kind(image: Path, path: str | Path | None = None) -> str:
    """Classify one corpus file: "photo", "illustration" or "other"."""
    if image in photographs(path):
        return "photo"
    if image in illustrations(path):
        return "illustration"
    return "other"


def load(image: str | Path) -> Image.Image:
    """An image in its own mode (RGB, L, RGBA, ...), fully read and the file closed."""
    with Image.open(image) as opened:
        opened.load()
        return opened.copy()


def load_rgb(image: str | Path) -> np.ndarray:
    """(height, width, 3) uint8 RGB pixels."""
    return np.asarray(load(image).convert("RGB"))


def png8(palette: np.ndarray, indices: np.ndarray) -> Image.Image:
    """A "P" image with exactly this palette (grey entries widened to RGB) and these indices."""
    height, width = indices.shape
    image = Image.frombytes("P", (width, height), np.ascontiguousarray(indices, dtype=np.uint8).tobytes())
    entries = np.repeat(palette, 3, axis=1) if palette.shape[1] == 1 else palette
    image.putpalette(np.ascontiguousarray(entries).tobytes(), "RGBA" if palette.shape[1] == 4 else "RGB")
    return image


#: Photographs bundled with scikit-image (no download) and how each is resized for the
#: widened set: (name, scale). Lanczos upscaling to 1-4 MP gives photograph-like
#: statistics at the sizes the corpus has; scale 1 keeps a small original.
UNSEEN_PHOTOGRAPHS = (
    ("astronaut", 1.0),
    ("astronaut", 4.0),
    ("coffee", 1.0),
    ("coffee", 3.0),
    ("chelsea", 4.0),
    ("rocket", 3.0),
    ("hubble_deep_field", 2.0),
    ("immunohistochemistry", 3.0),
    ("retina", 1.0),
)


def _skimage(name: str) -> Image.Image:
    try:
        from skimage import data
    except ImportError:
        msg = "the widened image set needs scikit-image (pip install 'kmzcodec[metrics]')"
        raise SystemExit(msg) from None
    return Image.fromarray(getattr(data, name)())


def unseen_photographs() -> list[tuple[str, Image.Image]]:
    """Photographs not in the corpus: (label, image), scikit-image's sample photos resized."""
    result = []
    for name, scale in UNSEEN_PHOTOGRAPHS:
        image = _skimage(name).convert("RGB")
        if scale != 1.0:
            size = (round(image.width * scale), round(image.height * scale))
            image = image.resize(size, Image.Resampling.LANCZOS)
        label = name if scale == 1.0 else f"{name}-{scale:g}x"
        result.append((label, image))
    retina = _skimage("retina").convert("RGB")
    result.append(("retina-crop", retina.crop((300, 300, 1100, 900))))  # 0.5 MP of detail, no border
    return result


def synthetic_graphics() -> list[tuple[str, Image.Image]]:
    """Graphics, not photographs: a colour wheel, a logo with alpha, text, a drawn chart."""
    from PIL import ImageDraw

    wheel = _skimage("colorwheel").convert("RGB")
    result = [
        ("colorwheel-3x", wheel.resize((wheel.width * 3, wheel.height * 3), Image.Resampling.LANCZOS)),
        ("logo", _skimage("logo")),
        ("page-2x", _skimage("page").resize((768, 382), Image.Resampling.LANCZOS)),
    ]
    # A chart: a smooth background gradient, flat bars, lines and text, anti-aliased edges.
    width, height = 1600, 1000
    ramp = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    fall = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    background = 235 - 40 * ramp * np.array([0.2, 0.5, 1.0]) - 20 * fall * np.array([1.0, 0.4, 0.1])
    chart = Image.fromarray(np.broadcast_to(background, (height, width, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(chart)
    rng = np.random.default_rng(15)
    colours = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189)]
    for bar in range(24):
        top = int(rng.integers(150, 850))
        draw.rectangle((80 + bar * 60, top, 120 + bar * 60, 900), fill=colours[bar % len(colours)])
    for series, colour in enumerate(colours[:3]):
        points = [(x, 500 + 200 * np.sin(x / 150 + series) + 40 * series) for x in range(60, 1560, 10)]
        draw.line(points, fill=colour, width=4)
    for row in range(10):
        draw.text((20, 90 + row * 80), f"{row * 10:3d} %", fill=(20, 20, 20))
    result.append(("chart", chart.resize((width * 2, height * 2), Image.Resampling.LANCZOS)))
    return result


@contextlib.contextmanager
def fast_writer() -> Iterator[None]:
    """Within it, the writer stores every zlib stream at its fast level (libdeflate
    ``container.FAST_LIBDEFLATE_LEVEL``): its trial still picks the bits per index, but never
    the strong or thorough level. What the container stage would cost, and the files would
    weigh, with no stronger level (``--fast-writer`` of bench_encode.py --profile and
    bench_size.py; issue 15's container share).
    """
    from kmzcodec import container

    names = ("STRONG_MIN_GAIN", "THOROUGH_MIN_GAIN", "THOROUGH_PROBE_GAIN", "WHOLE_THOROUGH_BYTES")
    kept = {name: getattr(container, name) for name in names}
    try:
        for name in names:  # no gain reaches these, and no image is small enough
            setattr(container, name, -1 if name == "WHOLE_THOROUGH_BYTES" else float("inf"))
        yield
    finally:
        for name, value in kept.items():
            setattr(container, name, value)
