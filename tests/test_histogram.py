"""The colour histogram: counts, and the way back from colour labels to pixels."""

from __future__ import annotations

import numpy as np
import pytest

from kmzcodec import histogram


@pytest.mark.parametrize("band", [1 << 12, 1 << 20])  # bands; one band, whose keys are kept
@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize(
    "shape",
    [(1, 1), (16, 16), (256, 256), (257, 256), (300, 420)],  # both sides of SEARCHED_PIXELS
)
def test_labels_map_back_to_every_pixel(shape: tuple[int, int], channels: int, band: int) -> None:
    rng = np.random.default_rng(shape[0] * 1000 + shape[1])
    pixels = rng.integers(0, 4, (*shape, channels), dtype=np.uint8) * 85  # repeats: fewer colours than pixels
    if channels == 4:
        pixels[::3, :, 3] = 0  # invisible: one colour whatever RGB they hold
        pixels[1::3, :, 3] = 255
    found = histogram.histogram(pixels, band=band)
    assert found.counts.sum() == shape[0] * shape[1]
    # Label each distinct colour by its own number: mapping back must name every pixel's colour.
    labels = np.arange(len(found.colors), dtype=np.int32)
    back = found.to_pixels(labels)
    assert back.shape == shape and back.dtype == np.int32
    restored = found.colors[back]
    if channels == 4:
        visible = pixels[:, :, 3] > 0
        assert np.array_equal(restored[visible], pixels[visible])
        assert (restored[~visible][:, 3] == 0).all()
    else:
        assert np.array_equal(restored, pixels)
    assert np.array_equal(np.bincount(back.ravel(), minlength=len(labels)), found.counts)
