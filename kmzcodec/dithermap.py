"""The dither map: the share of the incoming error each pixel takes in :mod:`kmzcodec.diffusion`.

As in pngquant (libimagequant's contrast maps and dither map), the map is in 0..1:

- low on edges and in busy texture (the second differences of the image are
  large there: noise would be seen and banding would not), opened and closed
  with small min/max filters so thin lines do not punch holes in it;
- low where the undithered indices change often (the palette already follows
  the image there), high along long runs of one index (bands, where dithering
  is what hides the steps).

The contrast part does not depend on the palette, so the quantizer can make it
while it clusters. The passes are compiled with numba.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .jit import compiled

#: Share of a pixel in a run of n equal undithered indices, m of the pixels above and below it
#: with that index too: 1 - RUN_BIAS / (RUN_BIAS + n + m).
RUN_BIAS = 2.5
#: Floor of the texture ("noise") part of the map, out of 255: busy areas keep a third of the error.
NOISE_FLOOR = 85
#: Radius of the box blur that smooths the texture map.
NOISE_BLUR = 3
#: Images smaller than this on a side get a flat map (no room for 3x3 filters).
MIN_MAP_SIDE = 4


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
def _weigh_runs(
    labels: np.ndarray, contrast: np.ndarray, scale: np.float32
) -> np.ndarray:  # pragma: no cover - compiled
    """The dither map (H, W) float32 0..scale: contrast / 255 times ``scale``, less where
    undithered indices change often. Branch-free counts and a table of contrast / 255 (runs are
    short at large K, so the branches were mispredicted)."""
    height, width = labels.shape
    fractions = np.arange(256) / 255.0
    weights = np.empty((height, width), dtype=np.float32)
    for row in range(height):
        line = labels[row]
        above, under = labels[max(row - 1, 0)], labels[min(row + 1, height - 1)]
        has_above, has_under = row > 0, row < height - 1
        start = 0
        for col in range(1, width + 1):
            if col < width and line[col] == line[start]:
                continue
            # A run [start, col) of one index; neighbours above and below with that index count too.
            label = line[start]
            same = 0
            for i in range(start, col):
                same += (has_above and above[i] == label) + (has_under and under[i] == label)
            share = 1.0 - RUN_BIAS / (RUN_BIAS + (col - start) + same)
            for i in range(start, col):
                weights[row, i] = np.float32(fractions[contrast[row, i]] * share) * scale
            start = col
    return weights


def dither_map(
    pixels: np.ndarray, labels: np.ndarray, contrast: np.ndarray | None = None, scale: float = 1.0
) -> np.ndarray:
    """(H, W) float32 in 0..1: the share of the incoming error each pixel takes, times ``scale``
    (float32 products).

    ``contrast``: :func:`contrast_map` of these pixels if it is already known."""
    height, width = labels.shape
    if min(height, width) < MIN_MAP_SIDE:
        return np.full((height, width), np.float32(scale), dtype=np.float32)
    if contrast is None:
        contrast = contrast_map(pixels)
    return _weigh_runs(np.ascontiguousarray(labels), contrast, np.float32(scale))
