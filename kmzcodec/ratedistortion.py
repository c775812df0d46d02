"""The size/quality knob: trade a bounded extra error per pixel for indices that compress better.

``encode(..., quality=Q)``, Q in 0..100. At Q = 100 (the default) nothing here
runs: every pixel keeps the entry the quantizer chose (its nearest), and the
bytes are today's. Below 100 a stretch of pixels may instead repeat the index
to its left (a run) or copy the indices of the row above, when those entries
are almost as good for every pixel of the stretch. Deflate codes such a
stretch as one match of a few bits instead of one literal of about 7 bits per
pixel.

The bound, for every pixel (d is the squared distance in 8-bit samples over the
stored channels: grey, RGB or RGBA; ``nearest`` is the entry chosen at Q = 100)::

    d(pixel, chosen) <= (1 + t) * d(pixel, nearest),   t = MAX_RELATIVE * (100 - Q) / 100

so at Q = 75 a pixel's squared error is at most doubled, and a pixel its
nearest entry matches exactly never changes (an image of at most K colours
stays exact). Every pixel is held to its own bound: errors do not accumulate
along a run. RGBA: a pixel only takes an entry of its nearest entry's alpha
class (transparent, translucent or opaque), so transparency is never traded.

Only stretches of at least MIN_STRETCH pixels are taken: deflate's shortest
match is 3 bytes, and a shorter change adds error without saving a byte.
Measured (K = 256, six photographs, median; benchmarks/bench_rd.py has the
curve): isolated per-pixel choices gave -9 % bytes for 0.30 dB PSNR, stretches
of 3 or more -11 %; an absolute slack besides the relative one cost far more
PSNR on smooth skies for the same bytes, and preferring popular entries (a
smaller literal alphabet) saved under 1 %. The scan is sequential (each
stretch looks at choices already made), so it runs compiled (numba).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .options import DEFAULT_QUALITY

#: t, the relative tolerance of the squared error, at quality 0; it scales with (100 - Q) / 100.
MAX_RELATIVE = 4.0
#: The shortest stretch of repeated or copied indices worth its error (deflate's shortest match).
MIN_STRETCH = 3


def tolerance(quality: int) -> float:
    """t in ``d(pixel, chosen) <= (1 + t) * d(pixel, nearest)`` at ``quality`` (0 at 100)."""
    return MAX_RELATIVE * (DEFAULT_QUALITY - quality) / DEFAULT_QUALITY


def alpha_class(alpha: np.ndarray) -> np.ndarray:
    """0 transparent, 1 translucent, 2 opaque."""
    return np.where(alpha == 0, 0, np.where(alpha == 255, 2, 1)).astype(np.uint8)


@njit(cache=True, nogil=True)
def _error(pixels: np.ndarray, y: int, x: int, palette: np.ndarray, entry: int) -> float:
    total = 0.0
    for c in range(pixels.shape[2]):
        diff = float(pixels[y, x, c]) - float(palette[entry, c])
        total += diff * diff
    return total


@njit(cache=True, nogil=True)
def _stretch(
    pixels: np.ndarray,
    palette: np.ndarray,
    classes: np.ndarray,
    nearest: np.ndarray,
    limit: np.ndarray,
    out: np.ndarray,
    y: int,
    x: int,
    from_above: bool,
) -> int:
    """How many pixels from (y, x) on can take the left index (repeated) or the indices above."""
    width = pixels.shape[1]
    count = 0
    while x + count < width:
        at = x + count
        entry = out[y - 1, at] if from_above else out[y, x - 1]
        if entry != nearest[y, at]:
            if classes[entry] != classes[nearest[y, at]]:
                break
            if _error(pixels, y, at, palette, entry) > limit[at]:
                break
        count += 1
    return count


@njit(cache=True, nogil=True)
def _scan(
    pixels: np.ndarray,
    palette: np.ndarray,
    classes: np.ndarray,
    nearest: np.ndarray,
    relative: float,
    min_stretch: int,
    out: np.ndarray,
) -> None:
    height, width = nearest.shape
    limit = np.empty(width)
    for y in range(height):
        for x in range(width):
            limit[x] = (1.0 + relative) * _error(pixels, y, x, palette, nearest[y, x])
        x = 0
        while x < width:
            run = _stretch(pixels, palette, classes, nearest, limit, out, y, x, False) if x > 0 else 0
            copy = _stretch(pixels, palette, classes, nearest, limit, out, y, x, True) if y > 0 else 0
            if max(run, copy) < min_stretch:
                out[y, x] = nearest[y, x]
                x += 1
            elif copy > run:  # the longer stretch; a tie goes to the run (the nearer match)
                out[y, x : x + copy] = out[y - 1, x : x + copy]
                x += copy
            else:
                out[y, x : x + run] = out[y, x - 1]
                x += run


def trade(pixels: np.ndarray, palette: np.ndarray, indices: np.ndarray, quality: int) -> np.ndarray:
    """The indices re-chosen for compressibility within ``quality``'s bound (a new array at Q < 100).

    ``pixels`` (H, W, C) uint8 and ``palette`` (K, C) uint8 have the same
    channels; ``indices`` (H, W) are each pixel's entry at quality 100.
    """
    if quality >= DEFAULT_QUALITY or len(palette) < 2:
        return indices
    pixels = np.ascontiguousarray(pixels)
    if palette.shape[1] == 4:
        classes = alpha_class(palette[:, 3])
        # A fully transparent pixel's colour is invisible: measure it as stored, (0, 0, 0, 0).
        pixels = np.where(pixels[:, :, 3:] == 0, np.uint8(0), pixels)
    else:
        classes = np.zeros(len(palette), dtype=np.uint8)
    out = np.empty_like(indices)
    _scan(pixels, np.ascontiguousarray(palette), classes, np.ascontiguousarray(indices),
          tolerance(quality), MIN_STRETCH, out)  # fmt: skip
    return out
