"""Error diffusion against a chosen palette, through Pillow's C remapper.

Floyd-Steinberg is sequential, pixel after pixel: Pillow's C code does it far
faster than a Python loop could. :func:`dither` takes the nearest-entry indices
the quantizer found (they are kept where dithering does not apply) and returns
the dithered ones; it handles what every kind of dithering shares (the 256-entry
limit, alpha) and leaves the diffusion itself to one function per kernel
(:func:`_floyd_steinberg`), so another kernel or a strength goes beside it.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .errors import KmzError


def dither(pixels: np.ndarray, palette: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Floyd-Steinberg indices for (H, W, 1|3|4) ``pixels`` against ``palette``, as (H, W).

    ``labels`` are each pixel's nearest entry. RGBA: opaque pixels are dithered
    against the opaque entries, the rest keep their nearest entry (Pillow
    dithers colour only).
    """
    k, channels = palette.shape
    if k > 256:
        raise KmzError("dithering works with at most 256 colours", "bad-option")
    if channels == 4:
        opaque_entries = np.flatnonzero(palette[:, 3] == 255)
        if len(opaque_entries) == 0:
            return labels
        rgb = palette[opaque_entries, :3]
        dithered = dither(np.ascontiguousarray(pixels[:, :, :3]), rgb, labels)
        opaque = pixels[:, :, 3] == 255
        return np.where(opaque, opaque_entries[dithered].astype(labels.dtype), labels)
    return _floyd_steinberg(pixels, palette)


def _floyd_steinberg(pixels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Pillow's Floyd-Steinberg of grey or RGB ``pixels`` onto a palette of at most 256 entries.

    Pillow takes a full 256-entry palette: entries beyond K are padded with
    copies of entry 0 and folded back. Grey goes through RGB: Pillow turns an
    "L" image into "P" by taking each grey value as its index, whatever the
    palette.
    """
    k, channels = palette.shape
    if channels == 1:
        palette, pixels = np.repeat(palette, 3, axis=1), np.repeat(pixels, 3, axis=2)
    padded = np.vstack([palette, np.repeat(palette[:1], 256 - k, axis=0)])
    reference = Image.new("P", (1, 1))
    reference.putpalette(padded.tobytes())
    source = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    remapped = np.asarray(source.quantize(palette=reference, dither=Image.Dither.FLOYDSTEINBERG))
    fold = np.arange(256, dtype=np.uint8)
    fold[k:] = 0
    return fold[remapped]
