"""Floyd-Steinberg against the chosen palette: grey, RGB and RGBA pixels."""

from __future__ import annotations

import numpy as np
import pytest

from kmzcodec import quantize


def ramp(channels: int) -> np.ndarray:
    """A smooth ramp with a little noise: dithering shows on it as a finer average."""
    rng = np.random.default_rng(channels)
    y, x = np.mgrid[0:64, 0:96]
    grey = x * 255 / 95 + rng.normal(0, 3, x.shape)
    planes = [grey, y * 255 / 63, 255 - grey][:channels] if channels != 1 else [grey]
    pixels = np.clip(np.rint(np.stack(planes, axis=2)), 0, 255).astype(np.uint8)
    if channels == 4:
        pixels = np.concatenate([ramp(3), np.full((64, 96, 1), 255, np.uint8)], axis=2)
    return pixels


def block_means(pixels: np.ndarray, side: int = 8) -> np.ndarray:
    """The mean colour of each ``side`` x ``side`` block."""
    height, width, channels = pixels.shape
    blocks = pixels.astype(float).reshape(height // side, side, width // side, side, channels)
    return blocks.mean(axis=(1, 3))


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_dithering_follows_the_image_closer_on_average_than_nearest_colours(channels: int) -> None:
    pixels = ramp(channels)
    plain = quantize.quantize(pixels, 8)
    dithered = quantize.quantize(pixels, 8, dither=True)
    assert dithered.dithered and np.array_equal(dithered.palette, plain.palette)
    # Pixel by pixel each index stays near its colour (not an all-black or all-one-entry image)...
    error = np.abs(dithered.palette[dithered.indices].astype(float) - pixels).mean()
    assert error < 2 * np.abs(plain.palette[plain.indices].astype(float) - pixels).mean()
    # ...and over small blocks the dithered image keeps the ramp's average, where nearest colours band.
    band_error = np.abs(block_means(plain.palette[plain.indices]) - block_means(pixels)).mean()
    dither_error = np.abs(block_means(dithered.palette[dithered.indices]) - block_means(pixels)).mean()
    assert dither_error < 0.6 * band_error
