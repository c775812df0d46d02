"""Gaussian mixture palettes (old scikit-learn version, being replaced)."""

from __future__ import annotations

import warnings

import numpy as np

from .kmeans import kmeans
from .lloyd import nearest
from .settings import QuantizerSettings


def gmm(
    points: np.ndarray,
    weights: np.ndarray,
    colors: np.ndarray,
    k: int,
    seed: int,
    settings: QuantizerSettings,
) -> tuple[np.ndarray, None]:
    """Gaussian mixture means, fitted on a weighted subsample from the k-means solution.

    GaussianMixture takes no sample weights, so it sees GMM_SAMPLE pixels drawn
    from the histogram. Means, weights and precisions all start from the k-means
    clusters of that sample (its own k-means initialisation would cost more than
    the fit), and EM runs at most GMM_MAX_ITER steps.
    """
    from sklearn.mixture import GaussianMixture  # slow to import: only when asked for
    from threadpoolctl import threadpool_limits

    start, _ = kmeans(points, weights, colors, k, seed, settings)
    rng = np.random.default_rng(seed)
    sample = points[rng.choice(len(points), size=settings.gmm_sample, p=weights / weights.sum())]
    labels = nearest(sample, start, settings)
    members = np.bincount(labels, minlength=k).astype(np.float64)
    spread = sample - start[labels]
    dims = points.shape[1]
    covariances = np.empty((k, dims, dims))
    for i in range(dims):
        for j in range(dims):
            covariances[:, i, j] = np.bincount(labels, weights=spread[:, i] * spread[:, j], minlength=k)
    covariances /= np.maximum(members, 1.0)[:, None, None]
    covariances += np.eye(dims) * settings.gmm_reg_covar
    model = GaussianMixture(
        n_components=k,
        covariance_type="full",
        init_params="random_from_data",  # overridden below; the cheapest to compute
        means_init=start,
        weights_init=(members + 1.0) / (members + 1.0).sum(),
        precisions_init=np.linalg.inv(covariances),
        max_iter=settings.gmm_max_iter,
        reg_covar=settings.gmm_reg_covar,
        random_state=seed,
    )
    # EM works on 3x3 matrices: BLAS threads only add overhead there.
    with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
        warnings.simplefilter("ignore")  # ConvergenceWarning when max_iter is reached
        model.fit(sample)
    return model.means_, None
