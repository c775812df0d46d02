"""Adaptive error diffusion: palette indices for pixels, with the error spread where it helps.

Plain Floyd-Steinberg spreads the whole error everywhere: it adds noise to flat
areas and fringes to edges. Here, as in pngquant (libimagequant's contrast maps
and dither map), every pixel takes only a share of the error its neighbours
pass on, set by a dither map in 0..1:

- low on edges and in busy texture (the second differences of the image are
  large there: noise would be seen and banding would not), opened and closed
  with small min/max filters so thin lines do not punch holes in it;
- low where the undithered indices change often (the palette already follows
  the image there), high along long runs of one index (bands, where dithering
  is what hides the steps).

The error is diffused on sRGB values raised to the power WORKING_GAMMA, part
of the way to linear light (pngquant works at about 1.2): mixing two palette
colours then averages closer to what the eye sees (measured: SSIMULACRA2 up
by 1-4 points over plain sRGB at the same size on most photographs). The scan
is serpentine (alternate rows run right to left, so the error does not drift
one way), the diffused error is capped (one bad match cannot push its
neighbours across the palette) and an eighth of it dropped (small errors do
not pile up), and the nearest palette entry is found exactly, starting from
the pixel's undithered entry and stopping by the triangle inequality (most
pixels look at a handful of entries). The loop is sequential,
so it is compiled with numba. Same input, same output.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from .errors import KmzError
from .jit import compiled
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
#: Share of a pixel in a run of n equal undithered indices, m of the pixels above and below it
#: with that index too: 1 - RUN_BIAS / (RUN_BIAS + n + m).
RUN_BIAS = 2.5
#: Floor of the texture ("noise") part of the map, out of 255: busy areas keep a third of the error.
NOISE_FLOOR = 85
#: The size/quality knob with dithering (``encode(dither=..., quality=Q)``), both scaled by
#: (100 - Q) / 100: the incoming error a pixel ignores (colour units, working space; MIN_ERROR's
#: role), and t in "the index beside or above may be chosen if its squared distance from the
#: target is at most (1 + t) times the nearest entry's". Measured at K = 256 on astronaut,
#: coffee, kite and path (1536 px crops): dropping small errors saves bytes and even raises PSNR
#: (-7 % bytes at 2 units, -11 % at 4, little more past 6), and the neighbour's index saves
#: more at a larger SSIMULACRA2 cost; together they give a smooth curve.
KNOB_MIN_ERROR = 20.0
KNOB_RELATIVE = 2.5
#: Radius of the box blur that smooths the texture map.
NOISE_BLUR = 3
#: Images smaller than this on a side get a flat map (no room for 3x3 filters).
MIN_MAP_SIDE = 4
#: Every pixel passes on at most this share of its error (the dither map scales it further): the
#: rest is dropped, so small errors do not pile up over long runs (pngquant drops 1/16). Measured
#: (K = 16 and 64, 24 photographs and upscaled samples): 1.0 -> 15/16 at CAP_FACTOR 2.5 kept
#: SSIMULACRA2 (median gain over pngquant within 0.1) for files 1-1.5 % smaller; 7/8 goes with
#: CAP_FACTOR 3.5 (see there).
DIFFUSED_SHARE = 7.0 / 8.0


@compiled
def _texture_tables() -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The texture ("noise") and edge values, uint8, 255 where smooth, of every pair of second
    differences: ``noise[across, down]`` and ``edges[max(across, down)]``, across and down
    0..510 (the largest |prev + next - 2 curr| over the channels along the row and the column)."""
    top = 2 * 255 + 1
    noise = np.empty((top, top), dtype=np.uint8)
    edges = np.empty(top, dtype=np.uint8)
    for first in range(top):
        for second in range(top):
            across = float(first) / 255.0
            down = float(second) / 255.0
            edge = max(across, down)
            texture = edge - abs(across - down) * 0.5
            texture = min(max(1.0 - max(texture, min(across, down)), 0.0), 1.0)
            texture *= texture  # noise is amplified
            texture *= texture
            noise[first, second] = np.uint8(NOISE_FLOOR + texture * (255 - NOISE_FLOOR))
            if first == second:
                edges[first] = np.uint8(min(max((1.0 - edge) * 256.0, 0.0), 255.0))
    return noise, edges


@compiled
def _contrast(
    pixels: np.ndarray, noise_table: np.ndarray, edge_table: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Texture and edge maps (:func:`_texture_tables`) of (H, W, C) uint8 pixels, edges repeated."""
    height, width, channels = pixels.shape
    noise = np.empty((height, width), dtype=np.uint8)
    edges = np.empty((height, width), dtype=np.uint8)
    for row in range(height):
        up, down_row = max(row - 1, 0), min(row + 1, height - 1)
        for col in range(width):
            left, right = max(col - 1, 0), min(col + 1, width - 1)
            across = 0
            down = 0
            for c in range(channels):
                centre = 2 * np.int32(pixels[row, col, c])
                across = max(
                    across, abs(np.int32(pixels[row, left, c]) + np.int32(pixels[row, right, c]) - centre)
                )
                down = max(
                    down, abs(np.int32(pixels[up, col, c]) + np.int32(pixels[down_row, col, c]) - centre)
                )
            noise[row, col] = noise_table[across, down]
            edges[row, col] = edge_table[max(across, down)]
    return noise, edges


@compiled
def _cross(values: np.ndarray, largest: bool, times: int) -> np.ndarray:  # pragma: no cover - compiled
    """Max (or min) over each pixel and its 4 neighbours, edges repeated, ``times`` times over.

    Row by row, the inner columns without index clamps (so the loop is vectorised)."""
    height, width = values.shape
    source = values
    out = np.empty_like(values)
    spare = np.empty_like(values) if times > 1 else out
    for done in range(times):
        for row in range(height):
            here, above, under = source[row], source[max(row - 1, 0)], source[min(row + 1, height - 1)]
            line = out[row]
            if width == 1:
                line[0] = max(here[0], above[0], under[0]) if largest else min(here[0], above[0], under[0])
                continue
            if largest:
                line[0] = max(here[0], here[1], above[0], under[0])
                for col in range(1, width - 1):
                    line[col] = max(
                        max(max(here[col - 1], here[col]), max(here[col + 1], above[col])), under[col]
                    )
                line[width - 1] = max(here[width - 2], here[width - 1], above[width - 1], under[width - 1])
            else:
                line[0] = min(here[0], here[1], above[0], under[0])
                for col in range(1, width - 1):
                    line[col] = min(
                        min(min(here[col - 1], here[col]), min(here[col + 1], above[col])), under[col]
                    )
                line[width - 1] = min(here[width - 2], here[width - 1], above[width - 1], under[width - 1])
        if done == 0:
            source, out = out, spare
        else:
            source, out = out, source
    return source


@compiled
def _box_blur(values: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """The mean of each 2 NOISE_BLUR + 1 long run down the columns, rounded down, then the same
    along the rows, edges mirrored (c b a | a b c | c b a): scipy.ndimage.uniform_filter of a
    uint8 image, bit for bit, in integers (running sums; the column pass vectorises)."""
    height, width = values.shape
    radius = NOISE_BLUR
    size = 2 * NOISE_BLUR + 1

    def mirrored(index: int, length: int) -> int:
        if 0 <= index < length:
            return index
        index %= 2 * length
        return 2 * length - 1 - index if index >= length else index

    down = np.empty_like(values)
    running = np.zeros(width, dtype=np.int32)
    for offset in range(-radius, radius + 1):
        source = values[mirrored(offset, height)]
        for col in range(width):
            running[col] += source[col]
    for row in range(height):
        if row > 0:
            entering = values[mirrored(row + radius, height)]
            leaving = values[mirrored(row - radius - 1, height)]
            for col in range(width):
                running[col] += np.int32(entering[col]) - np.int32(leaving[col])
        line = down[row]
        for col in range(width):
            line[col] = running[col] // size
    out = np.empty_like(values)
    for row in range(height):
        source = down[row]
        line = out[row]
        total = 0
        for offset in range(-radius, radius + 1):
            total += source[mirrored(offset, width)]
        line[0] = total // size
        for col in range(1, width):
            total += np.int32(source[mirrored(col + radius, width)]) - np.int32(
                source[mirrored(col - radius - 1, width)]
            )
            line[col] = total // size
    return out


@cache
def _tables() -> tuple[np.ndarray, np.ndarray]:
    return _texture_tables()  # type: ignore[no-any-return]


def contrast_map(pixels: np.ndarray) -> np.ndarray:
    """(H, W) uint8, 255 where the image is smooth, lower on edges and in busy texture."""
    noise, edges = _contrast(np.ascontiguousarray(pixels), *_tables())
    # Texture areas are grown, smoothed, then shrunk: thin edges drop out of the noise map.
    noise = _cross(noise, True, 2)
    noise = _cross(_box_blur(noise), True, 1)
    noise = _cross(noise, False, 3)
    edges = _cross(_cross(edges, False, 1), True, 1)
    return np.minimum(noise, edges)


@compiled
def _weigh_runs(labels: np.ndarray, contrast: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """The dither map (H, W) float32 0..1: contrast / 255, less where undithered indices change often."""
    height, width = labels.shape
    weights = np.empty((height, width), dtype=np.float32)
    for row in range(height):
        start = 0
        for col in range(1, width + 1):
            if col < width and labels[row, col] == labels[row, start]:
                continue
            # A run [start, col) of one index; neighbours above and below with that index count too.
            label = labels[row, start]
            count = RUN_BIAS + (col - start)
            for i in range(start, col):
                if row > 0 and labels[row - 1, i] == label:
                    count += 1.0
                if row < height - 1 and labels[row + 1, i] == label:
                    count += 1.0
            share = 1.0 - RUN_BIAS / count
            for i in range(start, col):
                weights[row, i] = contrast[row, i] / 255.0 * share
            start = col
    return weights


def dither_map(pixels: np.ndarray, labels: np.ndarray, contrast: np.ndarray | None = None) -> np.ndarray:
    """(H, W) float32 in 0..1: the share of the incoming error each pixel takes.

    ``contrast``: :func:`contrast_map` of these pixels if it is already known."""
    height, width = labels.shape
    if min(height, width) < MIN_MAP_SIDE:
        return np.ones((height, width), dtype=np.float32)
    if contrast is None:
        contrast = contrast_map(pixels)
    return _weigh_runs(np.ascontiguousarray(labels), contrast)


def _search_tables(palette: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each entry, the other entries nearest first, and their distances from it."""
    diff = palette[:, None, :] - palette[None, :, :]
    distances = np.sqrt((diff * diff).sum(axis=2))
    order = np.argsort(distances, axis=1, kind="stable").astype(np.int32)
    return order, np.take_along_axis(distances, order, axis=1).astype(np.float32)


@compiled
def _diffuse(
    pixels: np.ndarray,
    working: np.ndarray,
    palette: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    active: np.ndarray,
    order: np.ndarray,
    spacing: np.ndarray,
    cap: float,
    min_error: float,
    relative: float,
) -> np.ndarray:  # pragma: no cover - compiled
    # uint8 pixels are looked up in ``working`` (_working_table) here: a float32 copy of the
    # image would cost a pass over memory (about 0.15 s on 4 MP) and 12 bytes a pixel.
    height, width, channels = pixels.shape
    k = palette.shape[0]
    out = np.empty((height, width), dtype=np.uint8)
    # Error carried to this row and the next, one pixel of margin on each side.
    current = np.zeros((width + 2, channels), dtype=np.float32)
    below = np.zeros((width + 2, channels), dtype=np.float32)
    target = np.empty(channels, dtype=np.float32)
    error = np.empty(channels, dtype=np.float32)
    previous = 0
    for row in range(height):
        backward = row % 2 == 1
        step = -1 if backward else 1
        for n in range(width):
            col = width - 1 - n if backward else n
            guess = labels[row, col]
            if not active[row, col]:
                out[row, col] = guess
                continue
            share = weights[row, col]
            # An error too small to see is dropped (pngquant does the same): the pixel keeps its
            # nearest entry instead of flickering between close ones, which only costs bytes.
            if min_error > 0.0:
                incoming = 0.0
                for c in range(channels):
                    e = share * current[col + 1, c]
                    incoming += e * e
                if incoming < min_error * min_error:
                    share = 0.0
            for c in range(channels):
                value = working[pixels[row, col, c]] + share * current[col + 1, c]
                target[c] = min(max(value, 0.0), 255.0)
            # Exact nearest entry: from the undithered one or the previous pixel's, whichever
            # is nearer, outwards; an entry j at distance spacing[guess, j] from the guess is
            # at least spacing - radius from the target.
            best_d = 0.0
            for c in range(channels):
                d = target[c] - palette[guess, c]
                best_d += d * d
            if n > 0 and previous != guess:
                other = 0.0
                for c in range(channels):
                    d = target[c] - palette[previous, c]
                    other += d * d
                if other < best_d:
                    guess, best_d = previous, other
            best = guess
            radius = math.sqrt(best_d)
            limit = radius + radius
            for position in range(1, k):
                if spacing[guess, position] > limit:
                    break
                j = order[guess, position]
                d2 = 0.0
                for c in range(channels):  # no early exit: the branch cost more than the sums (-40 %)
                    d = target[c] - palette[j, c]
                    d2 += d * d
                if d2 < best_d:
                    best_d = d2
                    best = j
                    limit = radius + math.sqrt(best_d)
            if relative > 0.0 and best_d > 0.0:
                # The size/quality knob: the index beside (in scan order) or above, if almost as
                # good, makes a run or a match; the extra error is diffused on like any other.
                bound = (1.0 + relative) * best_d
                chosen_d = bound
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
                    d2 = 0.0
                    for c in range(channels):
                        d = target[c] - palette[j, c]
                        d2 += d * d
                    if d2 <= chosen_d:
                        chosen_d = d2
                        best = j
            out[row, col] = best
            previous = best
            norm = 0.0
            for c in range(channels):
                error[c] = target[c] - palette[best, c]
                norm += error[c] * error[c]
            scale = 1.0
            if norm > cap * cap:
                scale = cap / math.sqrt(norm)
            # Floyd-Steinberg weights, mirrored on backward rows.
            for c in range(channels):
                e = error[c] * scale
                current[col + 1 + step, c] += e * (7.0 / 16.0)
                below[col + 1 - step, c] += e * (3.0 / 16.0)
                below[col + 1, c] += e * (5.0 / 16.0)
                below[col + 1 + step, c] += e * (1.0 / 16.0)
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
    ``contrast``: :func:`contrast_map` of the pixels, when it was made beforehand.
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
    weights = dither_map(pixels[:, :, :channels], labels, contrast)
    weights *= np.float32(strength * DIFFUSED_SHARE)
    order, spacing = _search_tables(entries.astype(np.float64))
    relative, min_error = knob(quality)
    return _diffuse(
        colors,
        _working_table(),
        entries,
        labels,
        weights,
        np.ascontiguousarray(active),
        order,
        spacing,
        cap,
        min_error,
        relative,
    )
