"""The benchmark corpus (../shared/corpus from the repository root), shared by the scripts here.

The corpus is not part of the repository: benchmarks read it, tests never do.
Which files are photographs and which are illustrations is read from the
corpus's own LICENSES.md ("Photographs: a, b, ..." and "Illustrations ...: c, ...").
"""

from __future__ import annotations

import re
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
