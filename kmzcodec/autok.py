"""Automatic K: the fewest colours that meet a quality target, or the most that fit a size.

Targets (give at most one):

- ``min_psnr``: the smallest K whose result has PSNR >= the target (dB);
- ``min_ssim``: the smallest K whose result has SSIM >= the target;
- ``min_ssimulacra2``: the smallest K whose result has SSIMULACRA2 >= the target
  on the centre ``metrics.SSIMULACRA2_CROP`` pixels (the score ``kmz`` shows);
- ``max_bytes``: the largest K whose ``.kmz`` file is <= the target;
- none: the elbow of the SSIM-against-K curve over K = 2, 4, ..., 256, where
  more colours stop paying off (:func:`kmzcodec.metrics.elbow`).

The search doubles K until the target is crossed, then bisects between the last
two values, so it finds the exact boundary K when quality rises (and size grows)
with K, as it does for k-means palettes; the result is always checked against
the target itself. An image with no more distinct colours than K is stored
exactly, so quality targets are always reachable.

SSIM on a 4 MP photograph takes seconds, so while searching it is estimated on
SSIM_TILES tiles spread over the image (a sample of the same local windows whose
mean SSIM is); the K found is then checked on the whole image and raised until
the full SSIM meets the target.

SSIMULACRA2 costs about 3 s per megapixel, so it is always judged on a centre
crop: the search estimates it on the centre SSIMULACRA2_SEARCH_CROP pixels
(about 0.2 s a step), and the K found is then checked on the larger centre
``metrics.SSIMULACRA2_CROP`` crop and raised until that score meets the
target. Detail outside the crop does not count; a target met there is met
where ``kmz encode`` measures it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import metrics
from .errors import KmzError
from .format import MAX_COLORS
from .options import DITHER_MAX_COLORS, GMM_MAX_COLORS
from .quantize import Quantized, Quantizer

#: K values the elbow rule looks at.
ELBOW_KS = (2, 4, 8, 16, 32, 64, 128, 256)
#: Tiles (side SSIM_TILE pixels) the SSIM estimate uses during the search.
SSIM_TILES = 16
SSIM_TILE = 128
#: Side of the centre crop SSIMULACRA2 is estimated on while searching.
SSIMULACRA2_SEARCH_CROP = 256
#: The KmzError reason when no K meets the target for this image (the options themselves are
#: valid: ``kmz`` exits 1, as for bad data, not 2 as for a bad option).
UNREACHABLE = "unreachable-target"


@dataclass(frozen=True)
class Choice:
    """The K chosen, its palette and indices, and the file bytes when they were made."""

    quantized: Quantized
    data: bytes | None


def _tiles(height: int, width: int) -> list[tuple[slice, slice]]:
    """Evenly spread square tiles (the whole image when it is small)."""
    if height * width <= SSIM_TILES * SSIM_TILE * SSIM_TILE:
        return [(slice(0, height), slice(0, width))]
    side = int(math.sqrt(SSIM_TILES))
    tile_h, tile_w = min(SSIM_TILE, height), min(SSIM_TILE, width)
    tops = np.linspace(0, height - tile_h, side).astype(int)
    lefts = np.linspace(0, width - tile_w, side).astype(int)
    return [(slice(top, top + tile_h), slice(left, left + tile_w)) for top in tops for left in lefts]


def _rendered(quantized: Quantized) -> np.ndarray:
    return quantized.palette[quantized.indices]


def _first_meeting(meets: Callable[[int], bool], low: int, high: int) -> int:
    """Smallest K in (low, high] with ``meets(K)``, given meets(high) and not meets(low)."""
    while high - low > 1:
        middle = (low + high) // 2
        if meets(middle):
            high = middle
        else:
            low = middle
    return high


def _smallest(meets: Callable[[int], bool], limit: int) -> int:
    """Smallest K in 1..limit meeting the target, doubling then bisecting; meets(limit) holds."""
    low, k = 0, 1
    while k < limit and not meets(k):
        low, k = k, min(2 * k, limit)
    return k if low == 0 else _first_meeting(meets, low, k)


def choose(
    quantizer: Quantizer,
    *,
    dither: bool | float,
    write: Callable[[Quantized], bytes],
    make: Callable[[int], Quantized],
    min_psnr: float | None = None,
    min_ssim: float | None = None,
    max_bytes: int | None = None,
    min_ssimulacra2: float | None = None,
) -> Choice:
    """Pick K for ``quantizer``'s image by the target given (see the module docstring).

    ``make(K)`` gives the palette and indices that would be written at K (the quantizer's
    at ``dither``, the quality knob applied); every target is judged on them.
    """
    targets = {
        "min_psnr": min_psnr,
        "min_ssim": min_ssim,
        "min_ssimulacra2": min_ssimulacra2,
        "max_bytes": max_bytes,
    }
    given = [name for name, value in targets.items() if value is not None]
    if len(given) > 1:
        raise KmzError(f"give at most one target for colors='auto', not {' and '.join(given)}", "bad-option")
    pixels = quantizer.pixels
    limit = min(MAX_COLORS, quantizer.distinct_colors)
    # Dithering and GMM take at most 256 colours: above that cap no K stores the image
    # exactly, so a quality target may be out of reach (checked after the search).
    cap = limit
    if dither:
        cap = min(cap, DITHER_MAX_COLORS)
    if quantizer.method == "gmm":
        cap = min(cap, GMM_MAX_COLORS)
    capped, limit = cap < limit, cap
    cache: dict[int, Quantized] = {}

    def at(k: int) -> Quantized:
        if k not in cache:
            cache[k] = make(k)
        return cache[k]

    if max_bytes is not None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 1:
            raise KmzError(f"max_bytes must be a positive integer, not {max_bytes!r}", "bad-option")
        sizes: dict[int, bytes] = {}

        def fits(k: int) -> bool:
            sizes[k] = write(at(k))
            return len(sizes[k]) <= max_bytes

        if not fits(1):
            raise KmzError(
                f"no palette fits in {max_bytes} bytes: the smallest file (K = 1) is {len(sizes[1])} bytes",
                UNREACHABLE,
            )
        # Largest fitting K = (smallest K that does not fit) - 1.
        if fits(limit):
            return Choice(at(limit), sizes[limit])
        best = _smallest(lambda k: not fits(k), limit) - 1
        return Choice(at(best), sizes[best])

    if min_psnr is not None:
        target = _number(min_psnr, "min_psnr")
        reaches = lambda k: metrics.psnr(pixels, _rendered(at(k))) >= target  # noqa: E731
        best = _smallest(reaches, limit)
        _reached(capped and best == limit and not reaches(best), f"min_psnr={target}", limit, dither)
        return Choice(at(best), None)

    if min_ssimulacra2 is not None:
        target = _number(min_ssimulacra2, "min_ssimulacra2")

        def scores(crop: int) -> Callable[[int], bool]:
            return lambda k: metrics.ssimulacra2(pixels, _rendered(at(k)), crop=crop) >= target

        best = _smallest(scores(SSIMULACRA2_SEARCH_CROP), limit)
        if max(pixels.shape[:2]) > SSIMULACRA2_SEARCH_CROP:  # the small crop chose; the larger decides
            best = _smallest_from(best, limit, scores(metrics.SSIMULACRA2_CROP))
        unmet = capped and best == limit and not scores(metrics.SSIMULACRA2_CROP)(best)
        _reached(unmet, f"min_ssimulacra2={target}", limit, dither)
        return Choice(at(best), None)

    tiles = _tiles(*pixels.shape[:2])

    def estimate(k: int) -> float:
        rendered = _rendered(at(k))
        return float(
            np.mean([metrics.ssim(pixels[rows, cols], rendered[rows, cols]) for rows, cols in tiles])
        )

    if min_ssim is None:
        ks = [k for k in ELBOW_KS if k < limit] + [min(limit, ELBOW_KS[-1])]
        ks = sorted(set(ks))
        return Choice(at(metrics.elbow(ks, [estimate(k) for k in ks])), None)

    target = _number(min_ssim, "min_ssim")
    if not -1.0 <= target <= 1.0:
        raise KmzError(f"min_ssim must lie in -1..1, not {target}", "bad-option")
    best = _smallest(lambda k: estimate(k) >= target, limit)
    if len(tiles) > 1:  # the estimate chose; the whole image decides
        best = _smallest_from(best, limit, lambda k: metrics.ssim(pixels, _rendered(at(k))) >= target)
    unmet = capped and best == limit and metrics.ssim(pixels, _rendered(at(best))) < target
    _reached(unmet, f"min_ssim={target}", limit, dither)
    return Choice(at(best), None)


def _reached(unmet: bool, target: str, cap: int, dither: bool | float) -> None:
    """Raise when a quality target is out of reach below the colour cap of dithering / GMM."""
    if unmet:
        why = "dithering" if dither else "method='gmm'"
        raise KmzError(f"{target} is out of reach with {why}, which takes at most {cap} colours", UNREACHABLE)


def _smallest_from(start: int, limit: int, meets: Callable[[int], bool]) -> int:
    """Smallest K >= start meeting the target, stepping up by doubling then bisecting."""
    if meets(start):
        return start
    low, k = start, start
    while k < limit:
        low, k = k, min(2 * k, limit)
        if meets(k):
            return _first_meeting(meets, low, k)
    return limit


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise KmzError(f"{name} must be a number, not {value!r}", "bad-option")
    if math.isnan(float(value)):
        raise KmzError(f"{name} must be a number, not NaN", "bad-option")
    return float(value)
