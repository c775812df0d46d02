"""Adaptive error diffusion: palette indices for pixels, with the error spread where it helps.

Plain Floyd-Steinberg spreads the whole error everywhere: it adds noise to flat
areas and fringes to edges. Here, as in pngquant (libimagequant's contrast maps
and dither map), every pixel takes only a share of the error its neighbours
pass on, set by a dither map in 0..1 (:mod:`kmzcodec.dithermap`): low on edges,
in busy texture and where the undithered indices change often.

The error is diffused on sRGB values raised to the power WORKING_GAMMA, part
of the way to linear light (pngquant works at about 1.2): mixing two palette
colours then averages closer to what the eye sees (measured: SSIMULACRA2 up
by 1-4 points over plain sRGB at the same size on most photographs). The scan
is serpentine (alternate rows run right to left, so the error does not drift
one way), the diffused error is capped (one bad match cannot push its
neighbours across the palette) and an eighth of it dropped (small errors do
not pile up), and the nearest palette entry is found exactly, starting from
the pixel's undithered entry and stopping by the triangle inequality (most
pixels look at a handful of entries: :func:`_nearest`). The loop is sequential,
so it is compiled with numba; it works on three channels (grey is padded with
two zero ones, which change no distance). Same input, same output.
"""

from __future__ import annotations

import math

import numpy as np

from .dithermap import dither_map
from .errors import KmzError
from .jit import compile_in_place
from .options import DEFAULT_QUALITY, DITHER_MAX_COLORS

#: Error is diffused on sRGB values raised to this power (0..255 scale).
WORKING_GAMMA = 1.45
#: The diffused error vector is capped at this many times the image's RMS undithered error
#: (colour units), and never below MIN_CAP. 3.5 with DIFFUSED_SHARE 7/8 rather than 2.5 with no
#: share dropped: the error is bounded more by the share than by the cap, as in pngquant (measured
#: against 2.5 with 15/16, K = 16 / 64, 12 photographs and 12 scikit-image samples outside them:
#: SSIMULACRA2 median +0.7 / +0.0 and +0.2 / +0.0, files 0.3-1 % smaller).
CAP_FACTOR = 3.5
MIN_CAP = 8.0
#: ...that error measured on every RMS_STEP-th row and column.
RMS_STEP = 4
#: Incoming error smaller than this (colour units, working space) is not diffused. Off: at 1.5,
#: milky-way at K = 256 drops from 1.61x to 0.62x pngquant's bytes (SSIMULACRA2 still +2.1 over
#: it), but path and colorful-cups at K = 64/256 fall below pngquant's score; a knob for the
#: rate-distortion work of issue 12, point 2.
MIN_ERROR = 0.0
#: The size/quality knob with dithering (``encode(dither=..., quality=Q)``), both scaled by
#: (100 - Q) / 100: the incoming error a pixel ignores (colour units, working space; MIN_ERROR's
#: role), and t in "the index beside or above may be chosen if its squared distance from the
#: target is at most (1 + t) times the nearest entry's". Measured at K = 256 on astronaut,
#: coffee, kite and path (1536 px crops): dropping small errors saves bytes and even raises PSNR
#: (-7 % bytes at 2 units, -11 % at 4, little more past 6), and the neighbour's index saves
#: more at a larger SSIMULACRA2 cost; together they give a smooth curve.
KNOB_MIN_ERROR = 20.0
KNOB_RELATIVE = 2.5
#: Every pixel passes on at most this share of its error (the dither map scales it further): the
#: rest is dropped, so small errors do not pile up over long runs (pngquant drops 1/16). Measured
#: (K = 16 and 64, 24 photographs and upscaled samples): 1.0 -> 15/16 at CAP_FACTOR 2.5 kept
#: SSIMULACRA2 (median gain over pngquant within 0.1) for files 1-1.5 % smaller; 7/8 goes with
#: CAP_FACTOR 3.5 (see there).
DIFFUSED_SHARE = 7.0 / 8.0
#: The nearest-entry search measures this many candidates between checks of its bound.
SEARCH_BLOCK = 4
#: A colour past the palette's end in the search tables: its squared distance from any target
#: is infinite in float32, so it is never nearer.
UNREACHABLE = np.float32(1e30)


def _search_tables(palette: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each entry, the entries nearest first (itself, or a duplicate, first), their distances
    from it, and their colours in that order (float32), which the search reads one after another.
    The distances and colours go on past the K entries with SEARCH_BLOCK + 1 unreachable ones
    (infinitely far, never nearer), so every block of the search is whole, even at K = 1, and the
    first needs no check."""
    diff = palette[:, None, :] - palette[None, :, :]
    distances = np.sqrt((diff * diff).sum(axis=2))
    order = np.argsort(distances, axis=1, kind="stable").astype(np.int32)
    k, channels = palette.shape
    spacing = np.full((k, k + SEARCH_BLOCK + 1), np.inf, dtype=np.float32)
    spacing[:, :k] = np.take_along_axis(distances, order, axis=1)
    near = np.full((k, k + SEARCH_BLOCK + 1, channels), UNREACHABLE, dtype=np.float32)
    near[:, :k] = palette.astype(np.float32)[order]
    return order, spacing, near


_COMPILED: list[bool] = []


def _compile() -> None:
    # Inlined: a call per pixel (and per candidate) cost the kernel a third more time.
    compile_in_place(globals(), ("_squared", "_nearest", "_diffuse"), _COMPILED, ("_squared", "_nearest"))


def _squared(t0: float, t1: float, t2: float, p0: float, p1: float, p2: float) -> float:  # pragma: no cover
    """Squared distance, as the search measures it: float32 differences and squares (float32
    targets and entries), summed in float64 in channel order."""
    a = t0 - p0
    b = t1 - p1
    c = t2 - p2
    return np.float64(a * a) + np.float64(b * b) + np.float64(c * c)


def _nearest(
    t0: float,
    t1: float,
    t2: float,
    palette: np.ndarray,
    guess: int,
    order: np.ndarray,
    spacing: np.ndarray,
    near: np.ndarray,
) -> tuple[int, float]:  # pragma: no cover - compiled
    """(The nearest entry of (K, 3) float32 ``palette`` to the target, its squared distance).

    Exact, and of equally near entries the first in ``guess``'s order (:func:`_search_tables`),
    ``guess`` itself first. From ``guess`` (the pixel's undithered entry), entries are looked at
    nearest first: an entry at distance s from it is at least s - r from the target (r: the
    guess's distance), so the search stops at the first beyond r + the best distance so far.
    The start does not depend on the pixel before: starting from that pixel's entry when it
    was nearer (as this did until 2026-12-03) put that choice and the loads of its table on
    the loop's critical path, where the chosen entry's error feeds the next pixel's target;
    the kernel took 1.5-1.9x as long for the same indices (tie rule apart). The candidates
    are measured SEARCH_BLOCK at a time without a branch each, the bound checked between
    blocks: fewer mispredicted branches (15 % off the kernel at K = 256) for a few more
    entries looked at, past where the bound stops. The first block is measured without
    asking the bound (it nearly always lets it through at large K; 5-10 % off the kernel), and
    the tables' unreachable tail ends the search at K."""
    best_d = _squared(t0, t1, t2, palette[guess, 0], palette[guess, 1], palette[guess, 2])
    gaps = spacing[guess]
    candidates = near[guess]
    radius = math.sqrt(best_d)
    found = 0
    for p in range(1, 1 + SEARCH_BLOCK):
        d2 = _squared(t0, t1, t2, candidates[p, 0], candidates[p, 1], candidates[p, 2])
        better = d2 < best_d
        found = p if better else found
        best_d = d2 if better else best_d
    limit = radius + math.sqrt(best_d)
    position = 1 + SEARCH_BLOCK
    while gaps[position] <= limit:
        end = position + SEARCH_BLOCK
        for p in range(position, end):
            d2 = _squared(t0, t1, t2, candidates[p, 0], candidates[p, 1], candidates[p, 2])
            better = d2 < best_d
            found = p if better else found
            best_d = d2 if better else best_d
        limit = radius + math.sqrt(best_d)
        position = end
    return (order[guess, found] if found > 0 else guess), best_d


def _diffuse(
    pixels: np.ndarray,
    working: np.ndarray,
    palette: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    active: np.ndarray,
    tables: tuple[np.ndarray, np.ndarray, np.ndarray],
    cap: float,
    min_error: float,
    relative: float,
) -> np.ndarray:  # pragma: no cover - compiled
    """The dithered indices of (H, W, 3) uint8 pixels (:func:`diffuse`)."""
    # uint8 pixels are looked up in ``working`` (_working_table) here: a float32 copy of the
    # image would cost a pass over memory (about 0.15 s on 4 MP) and 12 bytes a pixel.
    height, width = labels.shape
    order, spacing, near = tables
    out = np.empty((height, width), dtype=np.uint8)
    # Error carried to this row and the next, one pixel of margin on each side.
    current = np.zeros((width + 2, 3), dtype=np.float32)
    below = np.zeros((width + 2, 3), dtype=np.float32)
    for row in range(height):
        backward = row % 2 == 1
        step = -1 if backward else 1
        for n in range(width):
            col = width - 1 - n if backward else n
            if not active[row, col]:
                out[row, col] = labels[row, col]
                continue
            share = weights[row, col]
            here = current[col + 1]
            # An error too small to see is dropped (pngquant does the same): the pixel keeps its
            # nearest entry instead of flickering between close ones, which only costs bytes.
            if min_error > 0.0:
                incoming = 0.0
                for c in range(3):
                    e = share * here[c]
                    incoming += e * e
                if incoming < min_error * min_error:
                    share = 0.0
            # float64 sums (``share`` is float64: it may be 0.0 above), rounded to float32.
            source = pixels[row, col]
            t0 = np.float32(min(max(working[source[0]] + share * here[0], 0.0), 255.0))
            t1 = np.float32(min(max(working[source[1]] + share * here[1], 0.0), 255.0))
            t2 = np.float32(min(max(working[source[2]] + share * here[2], 0.0), 255.0))
            best, best_d = _nearest(t0, t1, t2, palette, labels[row, col], order, spacing, near)
            if relative > 0.0 and best_d > 0.0:
                # The size/quality knob: the index beside (in scan order) or above, if almost as
                # good, makes a run or a match; the extra error is diffused on like any other.
                chosen_d = (1.0 + relative) * best_d
                for neighbour in range(2):
                    if neighbour == 0:
                        if n == 0 or not active[row, col - step]:
                            continue
                        j = out[row, col - step]
                    else:
                        if row == 0 or not active[row - 1, col]:
                            continue
                        j = out[row - 1, col]
                    if j == best:
                        continue
                    d2 = _squared(t0, t1, t2, palette[j, 0], palette[j, 1], palette[j, 2])
                    if d2 <= chosen_d:
                        chosen_d = d2
                        best = j
            out[row, col] = best
            e0 = t0 - palette[best, 0]
            e1 = t1 - palette[best, 1]
            e2 = t2 - palette[best, 2]
            norm = np.float64(e0 * e0) + np.float64(e1 * e1) + np.float64(e2 * e2)
            # The error (float64), capped; uncapped, no multiplication on the loop's critical path.
            if norm > cap * cap:
                scale = cap / math.sqrt(norm)
                x0, x1, x2 = e0 * scale, e1 * scale, e2 * scale
            else:
                x0, x1, x2 = np.float64(e0), np.float64(e1), np.float64(e2)
            # Floyd-Steinberg weights, mirrored on backward rows.
            ahead, back = col + 1 + step, col + 1 - step
            current[ahead, 0] += x0 * (7.0 / 16.0)
            current[ahead, 1] += x1 * (7.0 / 16.0)
            current[ahead, 2] += x2 * (7.0 / 16.0)
            below[back, 0] += x0 * (3.0 / 16.0)
            below[back, 1] += x1 * (3.0 / 16.0)
            below[back, 2] += x2 * (3.0 / 16.0)
            below[col + 1, 0] += x0 * (5.0 / 16.0)
            below[col + 1, 1] += x1 * (5.0 / 16.0)
            below[col + 1, 2] += x2 * (5.0 / 16.0)
            below[ahead, 0] += x0 * (1.0 / 16.0)
            below[ahead, 1] += x1 * (1.0 / 16.0)
            below[ahead, 2] += x2 * (1.0 / 16.0)
        current, below = below, current
        below[:, :] = 0.0
    return out


def _working_table() -> np.ndarray:
    """The 256 sample values as float32 on the 0..255 scale of the space the error is diffused in."""
    return (255.0 * (np.arange(256) / 255.0) ** WORKING_GAMMA).astype(np.float32)


def _to_working(values: np.ndarray) -> np.ndarray:
    """float32 on the 0..255 scale of the space the error is diffused in (WORKING_GAMMA)."""
    return _working_table()[values]


def knob(quality: int) -> tuple[float, float]:
    """(t, the smallest error diffused) at ``quality``: (0, MIN_ERROR) at 100, larger below."""
    drop = (DEFAULT_QUALITY - quality) / DEFAULT_QUALITY
    return KNOB_RELATIVE * drop, max(MIN_ERROR, KNOB_MIN_ERROR * drop)


def diffuse(
    pixels: np.ndarray,
    palette: np.ndarray,
    labels: np.ndarray,
    strength: float,
    *,
    active: np.ndarray | None = None,
    quality: int = DEFAULT_QUALITY,
    contrast: np.ndarray | None = None,
) -> np.ndarray:
    """(H, W) uint8 indices into ``palette`` for (H, W, C) uint8 ``pixels``, error diffused.

    ``labels`` are the undithered indices (each pixel's nearest entry): the dither
    map is built from them and the search starts from them. ``strength`` 0..1
    scales the map; 0 returns ``labels`` unchanged. Only pixels where ``active``
    (default: all) is true are dithered, and only they pass error on; the
    others keep their label. ``quality`` below 100 trades error for bytes
    (:func:`knob`): incoming errors smaller than a threshold are dropped, and
    a pixel takes the index beside it (in scan order) or above it where that
    is almost as near its target; what it adds to the error is diffused on.
    ``contrast``: :func:`kmzcodec.dithermap.contrast_map` of the pixels, when made beforehand.
    """
    k, channels = palette.shape
    if k > DITHER_MAX_COLORS:
        msg = f"dithering works with at most {DITHER_MAX_COLORS} colours, not {k}"
        raise KmzError(msg, "bad-option")
    if strength <= 0.0 or k == 1:
        return labels.astype(np.uint8)
    height, width = labels.shape
    if active is None:
        active = np.ones((height, width), dtype=np.bool_)
    colors = np.ascontiguousarray(pixels[:, :, :channels])
    entries = _to_working(palette)
    if labels.dtype not in (np.uint8, np.int32):  # the kernels' index types (uint8: the quantizer's)
        labels = labels.astype(np.int32)
    labels = np.ascontiguousarray(labels)
    # The undithered error's size sets the cap; every RMS_STEP-th row and column tell it well enough.
    sample = (slice(None, None, RMS_STEP), slice(None, None, RMS_STEP))
    residual = (_to_working(colors[sample]) - entries[labels[sample]])[active[sample]]
    rms = float(np.sqrt(np.mean(residual**2) * channels)) if residual.size else 0.0
    cap = max(MIN_CAP, CAP_FACTOR * rms)
    weights = dither_map(pixels[:, :, :channels], labels, contrast, strength * DIFFUSED_SHARE)
    relative, min_error = knob(quality)
    if channels < 3:  # the kernel works on three channels: zero ones change no distance or error
        colors = np.concatenate([colors, np.zeros((height, width, 3 - channels), dtype=np.uint8)], axis=2)
        entries = np.pad(entries, ((0, 0), (0, 3 - channels)))
    _compile()
    return _diffuse(  # type: ignore[no-any-return]
        colors,
        _working_table(),
        entries,
        labels,
        weights,
        np.ascontiguousarray(active),
        _search_tables(entries.astype(np.float64)),
        cap,
        min_error,
        relative,
    )
