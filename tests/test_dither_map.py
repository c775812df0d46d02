"""The dither map's contrast (kmzcodec.dithermap.contrast_map) is the formula it was first written
as, bit for bit: per-pixel second differences in floating point, nine 4-neighbour min/max passes
and scipy.ndimage.uniform_filter, here in plain numpy and scipy. The compiled map computes the same
thing faster (integer differences and a table, vectorised passes, integer running sums)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from kmzcodec import dithermap


def reference_contrast(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Texture and edge maps as first written: floats per pixel, edges repeated."""
    values = np.pad(pixels.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode="edge")
    centre = 2.0 * values[1:-1, 1:-1]
    across = np.abs(values[1:-1, :-2] + values[1:-1, 2:] - centre).max(axis=2) / 255.0
    down = np.abs(values[:-2, 1:-1] + values[2:, 1:-1] - centre).max(axis=2) / 255.0
    edge = np.maximum(across, down)
    texture = edge - np.abs(across - down) * 0.5
    texture = np.clip(1.0 - np.maximum(texture, np.minimum(across, down)), 0.0, 1.0)
    texture = (texture * texture) * (texture * texture)
    noise = (dithermap.NOISE_FLOOR + texture * (255 - dithermap.NOISE_FLOOR)).astype(np.uint8)
    edges = np.clip((1.0 - edge) * 256.0, 0.0, 255.0).astype(np.uint8)
    return noise, edges


def reference_cross(values: np.ndarray, largest: bool) -> np.ndarray:
    padded = np.pad(values, 1, mode="edge")
    around = [padded[1:-1, 1:-1], padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]]
    return np.maximum.reduce(around) if largest else np.minimum.reduce(around)


def reference_map(pixels: np.ndarray) -> np.ndarray:
    noise, edges = reference_contrast(pixels)
    noise = reference_cross(reference_cross(noise, True), True)
    noise = reference_cross(ndimage.uniform_filter(noise, size=2 * dithermap.NOISE_BLUR + 1), True)
    for _ in range(3):
        noise = reference_cross(noise, False)
    edges = reference_cross(reference_cross(edges, False), True)
    return np.minimum(noise, edges)


def images(seed: int) -> list[np.ndarray]:
    """Random, coarse (large differences, exact ties) and smooth (small ones) images, grey and
    colour, sides from 1 (map passes at the edges) to a few hundred."""
    rng = np.random.default_rng(seed)
    chosen = []
    for shape in [(1, 1), (1, 9), (9, 1), (2, 2), (4, 4), (5, 7), (33, 17), (17, 33), (64, 80), (120, 150)]:
        for channels in (1, 3):
            size = (*shape, channels)
            chosen.append(rng.integers(0, 256, size))
            chosen.append(rng.integers(0, 4, size) * 85)
            chosen.append(np.clip(128 + rng.normal(0, 6, size), 0, 255))
    return [image.astype(np.uint8) for image in chosen]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_contrast_map_is_the_reference_formula(seed: int) -> None:
    for image in images(seed):
        np.testing.assert_array_equal(
            dithermap.contrast_map(image), reference_map(image), err_msg=str(image.shape)
        )


def test_each_pass_is_its_reference() -> None:
    tables = dithermap._tables()
    for image in images(2):
        noise, edges = dithermap._contrast(image, *tables)
        expected_noise, expected_edges = reference_contrast(image)
        np.testing.assert_array_equal(noise, expected_noise)
        np.testing.assert_array_equal(edges, expected_edges)
        for largest in (True, False):
            expected = noise
            for times in (1, 2, 3):
                expected = reference_cross(expected, largest)
                np.testing.assert_array_equal(dithermap._cross(noise, largest, times), expected)
        np.testing.assert_array_equal(
            dithermap._box_blur(noise), ndimage.uniform_filter(noise, size=2 * dithermap.NOISE_BLUR + 1)
        )


def test_the_blur_rounds_down_exact_means() -> None:
    """Columns, then rows, of 7 equal values or of sums just either side of a multiple of 7."""
    values = np.zeros((40, 40), dtype=np.uint8)
    values[:, ::3] = 255
    values[::5] = 1
    blurred = dithermap._box_blur(values)
    np.testing.assert_array_equal(blurred, ndimage.uniform_filter(values, size=7))
    assert (dithermap._box_blur(np.full((9, 9), 200, dtype=np.uint8)) == 200).all()
