"""kmzcodec.metrics: PSNR, SSIM, sizes, the comparison record and the elbow rule."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from kmzcodec import metrics


def _photo(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], axis=2)
    return np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)


def test_psnr_of_identical_images_is_infinite() -> None:
    image = _photo()
    assert metrics.psnr(image, image.copy()) == math.inf


def test_psnr_matches_the_definition() -> None:
    image = _photo()
    shifted = image.astype(np.int16)
    shifted[::2] += 10  # half the rows off by 10: MSE 50 on those... exactly where not clipped
    shifted = np.clip(shifted, 0, 255).astype(np.uint8)
    error = np.mean((image.astype(np.float64) - shifted) ** 2)
    assert metrics.mse(image, shifted) == pytest.approx(error)
    assert metrics.psnr(image, shifted) == pytest.approx(10 * math.log10(255**2 / error))


def test_mse_over_many_row_blocks() -> None:
    rng = np.random.default_rng(3)
    first, second = (rng.integers(0, 256, (2 * metrics.BLOCK_ROWS + 7, 5, 3), dtype=np.uint8) for _ in "ab")
    expected = np.mean((first.astype(np.float64) - second) ** 2)
    assert metrics.mse(first, second) == pytest.approx(expected, rel=1e-12)


def test_psnr_of_a_constant_offset() -> None:
    image = np.full((8, 8, 3), 100, dtype=np.uint8)
    assert metrics.psnr(image, image + 10) == pytest.approx(10 * math.log10(255**2 / 100))


def test_palette_image_compares_with_its_rgb_expansion() -> None:
    rgb = Image.fromarray(_photo())
    paletted = rgb.quantize(16)
    assert metrics.psnr(paletted.convert("RGB"), paletted) == math.inf
    assert metrics.psnr(rgb, paletted) < 60


def test_grey_is_widened_and_missing_alpha_is_opaque() -> None:
    grey = np.arange(64, dtype=np.uint8).reshape(8, 8)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    assert metrics.psnr(grey, rgb) == math.inf
    rgba = np.concatenate([rgb, np.full((8, 8, 1), 255, np.uint8)], axis=2)
    assert metrics.psnr(rgb, rgba) == math.inf
    rgba[0, 0, 3] = 0
    assert metrics.psnr(rgb, rgba) < math.inf


def test_hidden_colour_of_transparent_pixels_does_not_count() -> None:
    image = np.zeros((6, 6, 4), dtype=np.uint8)
    image[:, :, :3] = 200
    image[:, :3, 3] = 255  # left half opaque, right half fully transparent
    cleared = image.copy()
    cleared[:, 3:, :3] = 0  # what an encoder may store under alpha 0
    assert metrics.psnr(image, cleared) == math.inf
    assert metrics.ssim(image, cleared) == pytest.approx(1.0)
    half = image.copy()
    half[:, 3:, 3] = 128  # but transparency itself, and colour that shows, do
    assert metrics.psnr(image, half) < 20


def test_size_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot compare"):
        metrics.psnr(np.zeros((4, 5, 3), np.uint8), np.zeros((5, 4, 3), np.uint8))


def test_ssim_matches_scikit_image() -> None:
    from skimage.metrics import structural_similarity

    image = _photo()
    noisy = np.clip(image + np.random.default_rng(1).normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    expected = structural_similarity(image, noisy, channel_axis=2, data_range=255)
    assert metrics.ssim(image, noisy) == pytest.approx(expected)
    assert metrics.ssim(image, image) == pytest.approx(1.0)
    assert 0 < metrics.ssim(image, noisy) < 0.99


def test_ssim_on_grey_and_small_images() -> None:
    grey = _photo()[:, :, 0]
    assert metrics.ssim(grey, grey) == pytest.approx(1.0)
    small = _photo(5, 6)
    assert metrics.ssim(small, small) == pytest.approx(1.0)  # window shrunk to 5
    assert math.isnan(metrics.ssim(_photo(2, 9), _photo(2, 9)))  # too small for any window


def test_ssim_without_scikit_image_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "skimage.metrics", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"kmzcodec\[metrics\]"):
        metrics.ssim(_photo(), _photo())
    assert not metrics.ssim_available()
    # PSNR and sizes still work without it.
    result = metrics.compare(_photo(), _photo(seed=1), 1000, with_ssim=False)
    assert result.ssim is None and math.isfinite(result.psnr)


def test_sizes_and_ratios() -> None:
    assert metrics.raw_bytes(451, 300, 3) == 405_900
    assert metrics.compression_ratio(405_900, 31_720) == pytest.approx(405_900 / 31_720)
    assert metrics.compression_ratio(10, 0) == math.inf
    assert metrics.bits_per_pixel(1000, 40, 25) == pytest.approx(8.0)


def test_compare_record() -> None:
    original = _photo()
    decoded = Image.fromarray(original).quantize(8)
    result = metrics.compare(original, decoded, 500)
    assert (result.width, result.height, result.channels) == (64, 48, 3)
    assert result.raw_bytes == 64 * 48 * 3
    assert result.ratio == pytest.approx(64 * 48 * 3 / 500)
    assert result.bits_per_pixel == pytest.approx(8 * 500 / (64 * 48))
    assert result.psnr == pytest.approx(metrics.psnr(original, decoded))
    assert result.ssim == pytest.approx(metrics.ssim(original, decoded))
    identical = metrics.compare(original, original, 500).as_dict()
    assert identical["psnr"] is None and identical["ssim"] == pytest.approx(1.0)


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12), st.sampled_from([1, 3, 4]))),
    st.integers(0, 2**32 - 1),
)
def test_psnr_is_symmetric_and_bounded(image: np.ndarray, seed: int) -> None:
    other = np.random.default_rng(seed).integers(0, 256, image.shape, dtype=np.uint8)
    forward, backward = metrics.psnr(image, other), metrics.psnr(other, image)
    assert forward == backward
    # The worst possible error (255 on every sample) gives exactly 0 dB.
    assert forward >= 0.0
    assert metrics.psnr(image, image) == math.inf


# ------------------------------------------------------------------ elbow


def test_elbow_of_a_saturating_curve() -> None:
    ks = [2, 4, 8, 16, 32, 64, 128, 256]
    # Rises steeply up to K = 16, then almost flat: the bend is at 16.
    values = [0.30, 0.60, 0.80, 0.95, 0.96, 0.965, 0.97, 0.975]
    assert metrics.elbow(ks, values) == 16


def test_elbow_ignores_order_and_handles_falling_curves() -> None:
    ks = [64, 2, 16, 8, 4, 32]
    error = {2: 100.0, 4: 40.0, 8: 12.0, 16: 9.0, 32: 8.0, 64: 7.5}
    assert metrics.elbow(ks, [error[k] for k in ks]) == 8


def test_elbow_edge_cases() -> None:
    assert metrics.elbow([4], [20.0]) == 4
    assert metrics.elbow([4, 8], [20.0, 25.0]) == 8
    # A straight line in log K has no bend: the largest K.
    assert metrics.elbow([2, 4, 8, 16], [10.0, 20.0, 30.0, 40.0]) == 16
    # Lossless from K = 16 on (PSNR inf): a plateau just above the best finite value.
    assert metrics.elbow([2, 4, 8, 16, 32, 64], [20.0, 24.0, 28.0, math.inf, math.inf, math.inf]) == 16
    # A curve that flattens before turning lossless keeps its own elbow.
    assert metrics.elbow([2, 4, 8, 16, 32], [20.0, 30.0, 34.0, 36.0, math.inf]) == 4
    # Accelerating (convex) curves have no diminishing returns: the largest K.
    assert metrics.elbow([2, 4, 8, 16], [1.0, 2.0, 4.0, 8.0]) == 16
    assert metrics.elbow([2, 4, 8], [math.inf] * 3) == 2
    assert metrics.elbow([2, 4, 8, 16, 32], [0.3, 0.8, math.nan, 0.95, 0.97]) == 4
    assert metrics.elbow([2, 4, 8], [5.0, 5.0, 5.0]) == 8


@pytest.mark.parametrize(
    ("ks", "values"),
    [([], []), ([2, 4], [1.0]), ([2, 2, 4], [1.0, 2.0, 3.0]), ([0, 2, 4], [1.0, 2.0, 3.0])],
)
def test_elbow_rejects_bad_input(ks: list[int], values: list[float]) -> None:
    with pytest.raises(ValueError, match="elbow"):
        metrics.elbow(ks, values)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=3, max_size=9))
def test_elbow_returns_one_of_the_ks(values: list[float]) -> None:
    ks = [2**i for i in range(1, len(values) + 1)]
    assert metrics.elbow(ks, values) in ks
