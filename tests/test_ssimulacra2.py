"""kmzcodec.metrics.ssimulacra2: the perceptual score through the ssimulacra2 package.

Checked by its properties (no reference pair ships with the tests; the package's
offset from libjxl on rust-av's tank pair is in the metrics docstring).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from kmzcodec import metrics

pytest.importorskip("ssimulacra2")


def _photo(height: int = 64, width: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], axis=2)
    return np.clip(base + rng.integers(-12, 13, base.shape), 0, 255).astype(np.uint8)


def _noisy(image: np.ndarray, amount: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(image.astype(np.int16) + rng.integers(-amount, amount + 1, image.shape), 0, 255).astype(
        np.uint8
    )


def test_identical_images_score_100() -> None:
    image = _photo()
    assert metrics.ssimulacra2(image, image.copy()) == pytest.approx(100.0)


def test_more_distortion_scores_lower() -> None:
    image = _photo()
    scores = [metrics.ssimulacra2(image, _noisy(image, amount)) for amount in (2, 8, 24, 64)]
    assert all(a > b for a, b in zip(scores, scores[1:], strict=False)), scores
    assert scores[0] < 100.0


def test_posterized_scores_lower_than_lightly_noisy() -> None:
    image = _photo()
    posterized = (image // 64 * 64 + 32).astype(np.uint8)
    assert metrics.ssimulacra2(image, posterized) < metrics.ssimulacra2(image, _noisy(image, 2))


def test_grey_and_rgb_agree() -> None:
    grey = _photo()[:, :, :1]
    noisy = _noisy(grey, 10)
    rgb_score = metrics.ssimulacra2(np.repeat(grey, 3, axis=2), np.repeat(noisy, 3, axis=2))
    assert metrics.ssimulacra2(grey, noisy) == pytest.approx(rgb_score)


def test_hidden_colour_of_transparent_pixels_does_not_count() -> None:
    image = np.dstack([_photo(), np.full((64, 80), 255, dtype=np.uint8)])
    image[:, :40, 3] = 0
    changed = image.copy()
    changed[:, :40, :3] = 255 - changed[:, :40, :3]
    assert metrics.ssimulacra2(image, changed) == pytest.approx(100.0)
    visible = image.copy()
    visible[:, 40:, :3] = _noisy(visible[:, 40:, :3], 20)
    assert metrics.ssimulacra2(image, visible) < 90.0


def test_crop_scores_the_centre() -> None:
    image = _photo(96, 96)
    damaged = image.copy()
    damaged[:8] = 0  # outside the centre 64 x 64
    assert metrics.ssimulacra2(image, damaged, crop=64) == pytest.approx(100.0)
    assert metrics.ssimulacra2(image, damaged) < 100.0
    with pytest.raises(ValueError):
        metrics.ssimulacra2(image, damaged, crop=2)


def test_tiny_images_give_nan() -> None:
    image = _photo(6, 6)
    assert math.isnan(metrics.ssimulacra2(image, image))
