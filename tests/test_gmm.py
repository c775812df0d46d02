"""The Gaussian mixture: weighted EM of our own, started from k-means, with no process-wide effects."""

from __future__ import annotations

import subprocess
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from kmzcodec import quantize
from kmzcodec.gmm import fit, gmm
from kmzcodec.settings import DEFAULT_SETTINGS


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct points of three well-separated Gaussian clusters, their counts, and the true means."""
    rng = np.random.default_rng(seed)
    means = np.array([[40.0, 60.0, 200.0], [200.0, 50.0, 60.0], [90.0, 210.0, 120.0]])
    spreads = np.array([[6.0, 3.0, 4.0], [3.0, 8.0, 3.0], [5.0, 5.0, 9.0]])
    draws = np.vstack([rng.normal(m, s, (4000, 3)) for m, s in zip(means, spreads, strict=True)])
    colors, counts = np.unique(np.clip(np.rint(draws), 0, 255).astype(np.uint8), axis=0, return_counts=True)
    return colors, counts.astype(np.float64), means


def test_em_finds_the_means_of_a_known_mixture() -> None:
    colors, counts, truth = blobs()
    # k-means with K = 3 lands on the same clusters, so the test is that EM keeps them there.
    means, _ = gmm(colors.astype(np.float64), counts, colors, 3, 0, DEFAULT_SETTINGS)
    order = np.argsort(means[:, 0])
    assert np.abs(means[order] - truth[np.argsort(truth[:, 0])]).max() < 0.6


def test_a_count_is_the_same_as_that_many_copies() -> None:
    colors, counts, _ = blobs(1)
    points = colors.astype(np.float64)
    start = points[np.random.default_rng(1).choice(len(points), 5, replace=False)]
    doubled = fit(points, counts * 2, start, DEFAULT_SETTINGS)
    listed_twice = fit(np.vstack([points, points]), np.concatenate([counts, counts]), start, DEFAULT_SETTINGS)
    assert np.allclose(doubled, listed_twice, atol=1e-6)
    assert not np.allclose(doubled, fit(points, np.ones(len(points)), start, DEFAULT_SETTINGS), atol=0.1)


def test_em_agrees_with_scikit_learn_from_the_same_start() -> None:
    mixture = pytest.importorskip("sklearn.mixture")
    rng = np.random.default_rng(5)
    points = rng.normal(0, 1, (3000, 3)) * [30, 20, 10] + 128
    start = points[rng.choice(len(points), 6, replace=False)]
    ours = fit(points, np.ones(len(points)), start, DEFAULT_SETTINGS)
    # scikit-learn started where ours starts: hard clusters around ``start``.
    labels = ((points[:, None, :] - start[None]) ** 2).sum(axis=2).argmin(axis=1)
    members = np.bincount(labels, minlength=6).astype(float)
    spread = points - start[labels]
    covariances = np.stack([spread[labels == j].T @ spread[labels == j] for j in range(6)])
    covariances = covariances / members[:, None, None] + np.eye(3) * DEFAULT_SETTINGS.gmm_reg_covar
    model = mixture.GaussianMixture(
        6,
        covariance_type="full",
        means_init=start,
        weights_init=(members + 1) / (members + 1).sum(),
        precisions_init=np.linalg.inv(covariances),
        max_iter=DEFAULT_SETTINGS.gmm_max_iter,
        tol=DEFAULT_SETTINGS.gmm_tolerance,
        reg_covar=DEFAULT_SETTINGS.gmm_reg_covar,
    )
    with warnings.catch_warnings():  # ConvergenceWarning: both stop at max_iter
        warnings.simplefilter("ignore")
        model.fit(points)
    assert np.abs(ours - model.means_).max() < 1e-6
    assert np.abs(ours - start).max() > 1  # EM did move the centres


def test_em_moves_the_kmeans_centres_towards_the_mixture_and_is_deterministic() -> None:
    rng = np.random.default_rng(2)
    pixels = np.clip(rng.normal(128, 40, (64, 96, 3)), 0, 255).astype(np.uint8)
    kmeans = quantize.quantize(pixels, 8)
    first = quantize.quantize(pixels, 8, method="gmm")
    again = quantize.quantize(pixels, 8, method="gmm")
    assert first.method == "gmm"
    assert not np.array_equal(np.sort(first.palette, axis=0), np.sort(kmeans.palette, axis=0))
    assert np.array_equal(first.palette, again.palette) and np.array_equal(first.indices, again.indices)


def test_grey_and_rgba_mixtures() -> None:
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, (40, 50, 1), dtype=np.uint8)
    rgba = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    rgba[:, :, 3] = np.where(rng.random((40, 50)) < 0.5, 255, 128)
    for pixels in (grey, rgba):
        result = quantize.quantize(pixels, 6, method="gmm")
        assert result.palette.shape[1] == pixels.shape[2] and 1 < len(result.palette) <= 6
        error = ((result.palette[result.indices] - pixels.astype(float)) ** 2).mean()
        one_entry = ((pixels - pixels.mean(axis=(0, 1))) ** 2).mean()
        assert error < 0.8 * one_entry  # six good entries beat the best single one (black: 4x)


def test_threads_fitting_at_once_get_what_each_gets_alone() -> None:
    rng = np.random.default_rng(4)
    images = [np.clip(rng.normal(100 + 20 * i, 50, (48, 64, 3)), 0, 255).astype(np.uint8) for i in range(4)]
    alone = [quantize.quantize(image, 12, method="gmm").palette for image in images]
    filters = list(warnings.filters)
    with ThreadPoolExecutor(4) as pool:
        together = list(
            pool.map(lambda image: quantize.quantize(image, 12, method="gmm").palette, images * 2)
        )
    assert all(np.array_equal(p, alone[i % 4]) for i, p in enumerate(together))
    assert warnings.filters == filters


def test_the_gmm_path_imports_neither_scikit_learn_nor_threadpoolctl() -> None:
    script = (
        "import sys, numpy as np, kmzcodec\n"
        "px = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)\n"
        "kmzcodec.encode(px, 16, method='gmm')\n"
        "print(sorted(m for m in ('sklearn', 'threadpoolctl') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
