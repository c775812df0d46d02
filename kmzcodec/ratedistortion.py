"""The size/quality knob: trade a bounded extra error per pixel for indices that compress better.

``encode(..., quality=Q)``, Q in 0..100. At Q = 100 (the default) nothing here
runs: every pixel keeps the entry the quantizer chose (its nearest), and the
bytes are today's. Below 100 a stretch of pixels may instead repeat the index
to its left (a run) or copy the indices of the row above (straight, or shifted
one or two pixels either way), when those entries
are almost as good for every pixel of the stretch. Deflate codes such a
stretch as one match of a few bits instead of a literal of about 7 bits per
pixel. (Palette order is left alone: deflate codes indices by equality, so
renumbering the entries changes nothing but the Huffman labels; measured on six
photographs at Q = 80, ordering by luminance or along a nearest-neighbour path
changed zlib sizes by under 0.15 %, and lzma's by -1.7 % to +1.5 %.)

The bound, for every pixel (d is the squared distance in 8-bit samples over the
stored channels: grey, RGB or RGBA; ``nearest`` is the entry chosen at Q = 100)::

    d(pixel, chosen) <= (1 + t) * d(pixel, nearest),   t = MAX_RELATIVE * (100 - Q) / 100

so a pixel its nearest entry matches exactly never changes (an image of at most
K colours stays exact). Every pixel is held to its own bound: errors do not
accumulate along a stretch. RGBA: a pixel only takes an entry of its nearest
entry's alpha class (transparent, translucent or opaque), so transparency is
never traded.

Within the bound, a stretch is taken only where it pays: its gain, about
LITERAL_BITS per pixel less MATCH_BITS, less the squared error it adds over the
nearest entries at :func:`bit_cost` per bit, must be positive (the best-scoring
length is kept, at least MIN_STRETCH: deflate's shortest match). Of the run and
the copies from above, the largest gain wins. The scan is sequential (each
stretch looks at choices already made), so it runs compiled (numba).

Measured on six photographs at K = 256 (median; benchmarks/bench_rd.py has the
full curve): taking every pixel's neighbour entry whenever it was within the
bound gave -9 % bytes for 0.30 dB PSNR; stretches of 3 or more, -11 %; the gain
rule, -15 % for 0.28 dB; with copies shifted one pixel, -17 % for 0.31 dB
(Q = 80; by two, see SHIFTS). An absolute slack beside the relative bound
cost far more PSNR on smooth skies for the same bytes, and preferring popular
entries (a smaller literal alphabet) saved under 1 %. Refitting each entry to
the mean of its pixels after the trade gained under 0.01 dB (Q = 70-90).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .options import DEFAULT_QUALITY

#: t, the relative tolerance of the squared error, at quality 0; it scales with (100 - Q) / 100.
MAX_RELATIVE = 16.0
#: The squared error (8-bit units, summed over channels) one bit saved is worth, at quality 0;
#: it scales with (100 - Q) / 100 too.
MAX_BIT_COST = 8.0
#: The shortest stretch worth its error: deflate's shortest match is 3 bytes.
MIN_STRETCH = 3
#: What a stretch saves, roughly: a literal index costs about 7 bits in a photograph's
#: deflate stream, a match of the row above or a run about 20 bits whatever its length.
LITERAL_BITS = 7.0
MATCH_BITS = 20.0
#: Deflate's longest match: a longer stretch is several matches anyway, and the cap keeps
#: the scan linear where long stretches fit the bound but never pay.
LONGEST_STRETCH = 258
#: A stretch this many bits behind its best length so far is not followed further.
GIVE_UP_BITS = 2 * MATCH_BITS


def _drop(quality: int) -> float:
    return (DEFAULT_QUALITY - quality) / DEFAULT_QUALITY


def tolerance(quality: int) -> float:
    """t in ``d(pixel, chosen) <= (1 + t) * d(pixel, nearest)`` at ``quality`` (0 at 100)."""
    return MAX_RELATIVE * _drop(quality)


def bit_cost(quality: int) -> float:
    """The squared error one saved bit may cost at ``quality`` (0 at 100: nothing changes)."""
    return MAX_BIT_COST * _drop(quality)


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


#: Where a stretch takes its indices from: a run of the index to its left (source 0), or the
#: row above shifted by 0, -1, +1, -2 or +2 pixels (the same edge, a little further along or
#: back). Shifts of two: -20.3 % bytes for 0.276 dB at Q = 80 where one gave -19.6 % for 0.269
#: (medians, bench_rd.py's ten photographs); three gave -20.7 % for 0.280 dB at 20 % more time.
SHIFTS = (0, 0, -1, 1, -2, 2)
SOURCES = len(SHIFTS)


@njit(cache=True, nogil=True)
def _stretch(
    pixels: np.ndarray,
    palette: np.ndarray,
    classes: np.ndarray,
    nearest: np.ndarray,
    errors: np.ndarray,
    limit: np.ndarray,
    out: np.ndarray,
    y: int,
    x: int,
    source: int,
    bit_cost: float,
) -> tuple[int, float]:
    """The best stretch from (y, x) taking its indices from ``source``: (length, gain).

    The gain is in bits: LITERAL_BITS a pixel, less MATCH_BITS, less the error
    added over the nearest entries at ``bit_cost`` per bit; a stretch ends where
    a pixel's bound or alpha class forbids the entry.
    """
    width = pixels.shape[1]
    shift = SHIFTS[source]
    count, added, best, gain = 0, 0.0, 0, 0.0
    while x + count < width and count < LONGEST_STRETCH:
        at = x + count
        if source == 0:
            entry = out[y, x - 1]
        elif 0 <= at + shift < width:
            entry = out[y - 1, at + shift]
        else:
            break
        if entry != nearest[y, at]:
            if classes[entry] != classes[nearest[y, at]]:
                break
            error = _error(pixels, y, at, palette, entry)
            if error > limit[at]:
                break
            added += error - errors[at]
        count += 1
        score = LITERAL_BITS * count - MATCH_BITS - added / bit_cost
        if count >= MIN_STRETCH and score > gain:
            best, gain = count, score
        elif score < gain - GIVE_UP_BITS:  # too far behind to catch up: keeps the scan short
            break
    return best, gain


@njit(cache=True, nogil=True)
def _scan(
    pixels: np.ndarray,
    palette: np.ndarray,
    classes: np.ndarray,
    nearest: np.ndarray,
    relative: float,
    bit_cost: float,
    out: np.ndarray,
) -> None:
    height, width = nearest.shape
    errors, limit = np.empty(width), np.empty(width)
    for y in range(height):
        for x in range(width):
            errors[x] = _error(pixels, y, x, palette, nearest[y, x])
            limit[x] = (1.0 + relative) * errors[x]
        x = 0
        while x < width:
            length, gain, chosen = 0, 0.0, -1
            for source in range(SOURCES):  # the largest gain; a tie goes to the earlier source
                if (source == 0 and x == 0) or (source > 0 and y == 0):
                    continue
                count, score = _stretch(
                    pixels, palette, classes, nearest, errors, limit, out, y, x, source, bit_cost
                )
                if count > 0 and score > gain:
                    length, gain, chosen = count, score, source
            if chosen < 0:
                out[y, x] = nearest[y, x]
                x += 1
                continue
            if chosen == 0:
                out[y, x : x + length] = out[y, x - 1]
            else:
                shift = SHIFTS[chosen]
                out[y, x : x + length] = out[y - 1, x + shift : x + shift + length]
            x += length


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
          tolerance(quality), bit_cost(quality), out)  # fmt: skip
    return out
