"""Gaussian mixture palettes: weighted EM on the colour histogram, from the k-means solution.

A full-covariance mixture of K Gaussians in at most four dimensions (grey, a
colour space, and alpha) is fitted by expectation-maximisation on the distinct
colours, each weighted by its pixel count (or on a weighted sample of them when
there are many); the means are the palette. Written here rather than taken
from scikit-learn's GaussianMixture because that takes no sample weights (it
needed a pixel subsample), costs a second to import, and had to be quietened
with process-wide warning filters and BLAS thread limits.

Both EM steps are matrix products. With the features of a point ``x``,
``f(x) = (1, x_a, x_a x_b for a <= b)``, the log-density of every component is
linear in ``f(x)``: ``log(pi N(x | mu, S)) = f(x) . w`` with ``w`` made of
``log pi``, ``log det``, ``P mu`` and the precision ``P = S^-1``. So the E-step
is one product ``F @ W`` (points x K) and a log-sum-exp, and the sufficient
statistics of the M-step (mass, first and second moments of every component)
are one product ``F.T @ R``. Points are taken a block at a time, so memory stays
a few MB whatever K; the blocks are fixed, so the result is deterministic.

The products are ``np.einsum`` (numpy's own single-threaded loops), not ``@``:
BLAS would start its threads for them, and on a busy machine those threads
made the product twenty times slower (the reason scikit-learn's fit needed a
process-wide thread limit); einsum is also the same code on every machine.
"""

from __future__ import annotations

import numpy as np

from .kmeans import kmeans
from .lloyd import nearest
from .settings import QuantizerSettings

#: Matrix entries (points x components) per block of the EM steps.
_BLOCK = 1 << 18


def gmm(
    points: np.ndarray,
    weights: np.ndarray,
    colors: np.ndarray,
    k: int,
    seed: int,
    settings: QuantizerSettings,
) -> tuple[np.ndarray, None]:
    """Gaussian mixture means for weighted ``points``, started from their k-means centres.

    Histograms of at most ``gmm_sample`` colours are fitted whole; larger ones on
    that many colours drawn by pixel count (drawn twice: counted twice). EM runs
    at most ``gmm_max_iter`` steps. No bounds are returned: pixels are mapped to
    the nearest mean by a fresh look-up.
    """
    start, _ = kmeans(points, weights, colors, k, seed, settings)
    if len(points) > settings.gmm_sample:
        rng = np.random.default_rng(seed)
        drawn = rng.choice(len(points), size=settings.gmm_sample, p=weights / weights.sum())
        chosen, counts = np.unique(drawn, return_counts=True)
        points, weights = points[chosen], counts.astype(np.float64)
    return fit(points, weights, start, settings), None


def fit(
    points: np.ndarray, weights: np.ndarray, start: np.ndarray, settings: QuantizerSettings
) -> np.ndarray:
    """The means of a mixture fitted by EM to weighted ``points``, from hard clusters around ``start``.

    As scikit-learn's ``GaussianMixture(covariance_type="full")`` given the same
    start, but each point counts ``weights`` times.
    """
    # Centred on the weighted mean: the second moments then stay near the variances.
    origin = (weights[:, None] * points).sum(axis=0) / weights.sum()
    points = points - origin
    mixture = _Mixture.from_clusters(points, weights, start - origin, settings)
    features = _features(points)
    previous = -np.inf
    for _ in range(settings.gmm_max_iter):
        moments, likelihood = mixture.expect(features, weights)
        mixture = mixture.maximise(moments, settings.gmm_reg_covar)
        if abs(likelihood - previous) < settings.gmm_tolerance:
            break
        previous = likelihood
    return mixture.means + origin


def _pairs(dims: int) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) coordinate pairs, a <= b, of the second-moment features."""
    return np.triu_indices(dims)


def _features(points: np.ndarray) -> np.ndarray:
    """(n, 1 + d + d(d+1)/2): 1, each coordinate, each product of two coordinates."""
    first, second = _pairs(points.shape[1])
    return np.hstack([np.ones((len(points), 1)), points, points[:, first] * points[:, second]])


class _Mixture:
    """Mixing weights, means and covariances of K components in d dimensions."""

    def __init__(self, priors: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> None:
        self.priors, self.means, self.covariances = priors, means, covariances

    @classmethod
    def from_clusters(
        cls, points: np.ndarray, weights: np.ndarray, centers: np.ndarray, settings: QuantizerSettings
    ) -> _Mixture:
        """Each component from the points nearest its centre: their weight and spread.

        The means stay the centres (the k-means answer EM starts from); a centre
        with no points gets a component of the least weight and variance.
        """
        k, dims = centers.shape
        labels = nearest(points, centers, settings)
        mass = np.bincount(labels, weights=weights, minlength=k)
        spread = points - centers[labels]
        covariances = np.empty((k, dims, dims))
        for a, b in zip(*_pairs(dims), strict=True):
            product = np.bincount(labels, weights=weights * spread[:, a] * spread[:, b], minlength=k)
            covariances[:, a, b] = covariances[:, b, a] = product / np.maximum(mass, 1.0)
        covariances += np.eye(dims) * settings.gmm_reg_covar
        return cls((mass + 1.0) / (mass + 1.0).sum(), centers.copy(), covariances)

    def _coefficients(self) -> np.ndarray:
        """(features, K): the log of prior x density at a point is its features times these."""
        k, dims = self.means.shape
        cholesky = np.linalg.cholesky(self.covariances)
        root = np.linalg.inv(cholesky)  # lower triangular: S^-1 = root.T @ root
        precision = np.einsum("kja,kjb->kab", root, root)
        log_det = np.log(np.diagonal(cholesky, axis1=1, axis2=2)).sum(axis=1)
        pulled = np.einsum("kab,kb->ka", precision, self.means)
        first, second = _pairs(dims)
        quadratic = precision[:, first, second] * np.where(first == second, -0.5, -1.0)
        constant = (
            np.log(np.maximum(self.priors, np.finfo(float).tiny))
            - 0.5 * dims * np.log(2 * np.pi)
            - log_det
            - 0.5 * (pulled * self.means).sum(axis=1)
        )
        return np.vstack([constant, pulled.T, quadratic.T])

    def expect(self, features: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, float]:
        """E-step: the weighted responsibilities' moments (features x K) and the mean log-likelihood."""
        coefficients = self._coefficients()
        k = coefficients.shape[1]
        moments = np.zeros_like(coefficients)
        likelihood = 0.0
        block = max(1, _BLOCK // k)
        for top in range(0, len(features), block):
            rows, mass = features[top : top + block], weights[top : top + block]
            log_density = np.einsum("nf,fk->nk", rows, coefficients)
            peak = log_density.max(axis=1, keepdims=True)
            log_density -= peak
            responsibility = np.exp(log_density, out=log_density)
            total = responsibility.sum(axis=1, keepdims=True)
            likelihood += float((mass * (np.log(total[:, 0]) + peak[:, 0])).sum())
            responsibility *= (mass / total[:, 0])[:, None]
            moments += np.einsum("nf,nk->fk", rows, responsibility)
        return moments, likelihood / float(weights.sum())

    def maximise(self, moments: np.ndarray, reg_covar: float) -> _Mixture:
        """M-step from the moments; a component that lost all its weight keeps its place and shape."""
        k, dims = self.means.shape
        mass = moments[0]
        alive = mass > 1e-9 * mass.sum()
        means, covariances = self.means.copy(), self.covariances.copy()
        means[alive] = (moments[1 : 1 + dims, alive] / mass[alive]).T
        first, second = _pairs(dims)
        products = moments[1 + dims :, alive] / mass[alive]
        live = means[alive]
        for row, (a, b) in enumerate(zip(first, second, strict=True)):
            value = products[row] - live[:, a] * live[:, b] + (reg_covar if a == b else 0.0)
            covariances[alive, a, b] = covariances[alive, b, a] = value
        return _Mixture(mass / mass.sum(), means, covariances)
