"""Weighted k-means of a colour histogram: seeding, coarse-to-fine Lloyd, and exact 1-D.

- Seeding: weighted greedy k-means++ on a sample of the colours drawn by pixel
  count, converged by Lloyd on that sample (several starts for small palettes);
  large palettes on small histograms seed on every colour instead.
- Refinement: Lloyd (:mod:`kmzcodec.lloyd`) on grids of cells, coarse to fine
  (each cell the weighted mean of its colours), then on the exact colours, each
  stage starting from the centres and the bounds of the one before.
- Grey: the exact optimum by dynamic programming over the (at most 256) values.
"""

from __future__ import annotations

import numpy as np

from . import _sums
from ._plusplus import curve_order, plusplus
from .lloyd import Bounds, cluster_sums, lloyd, nearest_distance
from .settings import QuantizerSettings


def dot(first: np.ndarray, second: np.ndarray) -> float:
    """The dot product of two long vectors, on this thread. ``first @ second`` goes to OpenBLAS,
    which splits dot products of over 10,000 terms over all its threads; those then spin waiting
    for more work for a while (on a 2-CPU machine about 0.1 s of CPU per dithered encode, a
    seventh of a 4 MP photograph's at K = 256; and after the inertias of the four seeding
    starts at K = 16 on a 0.25 MP photograph, 0.19 s of CPU for a 0.11 s encode), and the
    sum's rounding depends on their count."""
    return float(np.einsum("i,i->", first, second))


def cells_of(colors: np.ndarray, level: int) -> np.ndarray:
    """Cell number (dense, 0..m-1, in the order of the cells' ids) of each colour on a grid
    of ``level`` bits per channel."""
    shift = 8 - level
    bins = 1 << (level * colors.shape[1])
    if bins > 1 << 22:  # RGBA at 6 or 7 bits: by sorting (no table of 2**24 or more cells)
        ids = np.zeros(len(colors), dtype=np.int32)  # level * channels <= 28 bits
        for channel in range(colors.shape[1]):
            ids <<= level
            ids |= colors[:, channel] >> np.uint8(shift)
        return np.unique(ids, return_inverse=True)[1].reshape(-1).astype(np.int32, copy=False)
    # A table of the cells, marked where a colour falls, ranked by a walk of its words
    # (eight cells a word, most of them empty on a fine grid): one pass over the colours
    # and one over the table, not a sort (3.4 -> 1.9 ms for 113 K colours on 2**21 cells).
    occupied = np.zeros(-(-bins // 8) * 8, dtype=np.uint8)
    cells = np.empty(len(colors), dtype=np.int32)
    rank = np.empty(len(occupied), dtype=np.int32)
    ids = np.empty(len(colors), dtype=np.int32)  # level * channels <= 22 bits
    words = occupied.view(np.uint64)
    _sums._compile()
    _sums._dense_cells(np.ascontiguousarray(colors), shift, level, occupied, words, ids, rank, cells)
    return cells


def merge_cells(points: np.ndarray, weights: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean point and total weight of each cell."""
    mass, sums = cluster_sums(points, weights, cells, int(cells.max()) + 1)
    return sums / mass[:, None], mass


def _cumulative(weights: np.ndarray) -> np.ndarray:
    """The cumulative sum that ``Generator.choice(n, p=weights / weights.sum())`` searches:
    numpy takes ``cdf = p.cumsum(); cdf /= cdf[-1]``, draws ``random(size)`` and finds each
    uniform by ``cdf.searchsorted(u, side="right")``. Done here the same way (the same
    indices for the same generator state), without choice's checks of ``p`` (positive counts)."""
    cdf = (weights / weights.sum()).cumsum()
    cdf /= cdf[-1]
    return cdf


def weighted_draw(rng: np.random.Generator, weights: np.ndarray) -> int:
    """``rng.choice(len(weights), p=weights / weights.sum())``: the same index, the same draw."""
    return int(_cumulative(weights).searchsorted(rng.random(), side="right"))


def weighted_sample(
    rng: np.random.Generator, weights: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(rng.choice(len(weights), size, p=weights / weights.sum()), return_counts=True)``
    for the same generator state, at a fraction of the cost: the same ``size`` uniforms are
    looked up in sorted order (a search of sorted keys walks the table in order, and the
    indices come out sorted, so no sort is needed to count them). Each uniform finds the same
    index whatever the order, so the indices drawn and their counts are the same."""
    found = _cumulative(weights).searchsorted(np.sort(rng.random(size)), side="right")
    starts = np.flatnonzero(np.concatenate(([True], found[1:] != found[:-1])))
    return found[starts], np.diff(np.append(starts, len(found)))


def kmeans_plusplus(
    points: np.ndarray,
    weights: np.ndarray,
    k: int,
    rng: np.random.Generator,
    trials: int | None = None,
    order: np.ndarray | None = None,
) -> np.ndarray:
    """Weighted greedy k-means++ (Arthur and Vassilvitskii; scikit-learn's variant).

    Each new centre is the best, by weighted inertia, of ``trials`` (default
    2 + ln k, as scikit-learn) candidates drawn in proportion to weight x squared distance to the nearest
    centre so far. Written here rather than taken from scikit-learn because
    importing ``sklearn.cluster`` costs about 1.6 s, more than a whole 4 MP
    encode; it runs as fast as scikit-learn's and starts k-means as well. ``order``: the
    points' visiting order (:func:`kmzcodec._plusplus.curve_order`), if already made.
    """
    trials = trials or 2 + int(np.log(k))
    # Distances in float32 (the sampling sums stay float64): half the memory
    # traffic of the hot loop; rounding only matters between near-equal candidates.
    # The draws are made here, in the order the loop uses them (kmzcodec._plusplus).
    first = weighted_draw(rng, weights)
    uniforms = rng.random((k - 1, trials))
    return points[plusplus(points, weights, first, uniforms, order)]


def seed_centers(
    points: np.ndarray, weights: np.ndarray, k: int, seed: int, settings: QuantizerSettings
) -> np.ndarray:
    """Starting centres from a weighted sample of the colours.

    k-means++ runs on ``seed_sample_per_cluster`` * k colours drawn in proportion to
    their pixel counts (a grid of cells would be cheaper, but merges exactly the
    dense regions that need many entries), then Lloyd converges on that sample.
    Large palettes on histograms of at most ``seed_all_limit`` colours seed on all
    of them instead. Small palettes are cheap to try several times: the start
    with the lowest inertia wins. Above 1,024 entries k-means++ (O(n k)) is replaced by the
    weight-proportional sample itself.
    """
    rng = np.random.default_rng(seed)
    size = max(settings.seed_sample_per_cluster * k, settings.seed_sample_work // k)
    if k > settings.small_palette and size < len(points) <= settings.seed_all_limit:
        # Few colours: seed on all of them (the stages after refine on them anyway).
        return kmeans_plusplus(points, weights, k, rng, settings.seed_all_trials)
    if size < len(points):
        drawn, counts = weighted_sample(rng, weights, size)
        points, weights = points[drawn], counts.astype(np.float64)
    if k >= len(points):
        return points
    if k > 1024:
        start = rng.choice(len(points), size=k, replace=False, p=weights / weights.sum())
        return points[np.sort(start)]
    tries = 4 if k <= 32 else 2 if k <= 128 else 1
    best, best_inertia = points[:k], np.inf
    # The starts share their points, so the order k-means++ visits them in is made once.
    order = curve_order(np.ascontiguousarray(points, dtype=np.float32)) if tries > 1 else None
    for _ in range(tries):
        start = kmeans_plusplus(points, weights, k, rng, order=order)
        steps = settings.seed_steps if tries > 1 else min(settings.seed_steps, settings.single_seed_steps)
        centers, _ = lloyd(points, weights, start, steps, settings)
        if tries == 1:
            return centers  # nothing to compare it with
        distance = nearest_distance(points, centers, settings)
        inertia = dot(weights, distance * distance)
        if inertia < best_inertia:
            best, best_inertia = centers, inertia
    return best


def _steps(points: int, k: int, least: int, settings: QuantizerSettings) -> int:
    """Lloyd steps for a stage: at least ``least``, more while the stage is cheap.

    The budget counts points x log2(k) per step (tuned when steps were k-d tree
    queries), so small histograms and small palettes get more steps within the
    same ``step_budget``, up to
    ``max_steps`` (``small_palette_max_steps`` for small palettes).
    """
    affordable = int(settings.step_budget / (points * max(1.0, np.log2(k))))
    most = settings.small_palette_max_steps if k <= settings.small_palette else settings.max_steps
    return max(least, min(most, affordable))


def kmeans_1d(points: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """The optimal weighted k-means of one-dimensional points (grey images), k < len(points).

    Optimal clusters of sorted values are runs, so dynamic programming over the
    (at most ``exact_1d_limit``) distinct values finds the global minimum of the
    weighted squared error exactly, as Ckmeans.1d.dp does; Lloyd's local
    optima on grey photographs differ by up to 0.25 dB with the seed.
    """
    order = np.argsort(points[:, 0], kind="stable")
    values, mass = points[order, 0], weights[order]
    zero = np.zeros(1)
    total = np.concatenate([zero, np.cumsum(mass)])
    first = np.concatenate([zero, np.cumsum(mass * values)])
    second = np.concatenate([zero, np.cumsum(mass * values**2)])
    n = len(values)
    # cost[i, j]: squared error of the run of values i..j-1 around its mean.
    with np.errstate(divide="ignore", invalid="ignore"):
        span = total[None, :] - total[:, None]
        linear = first[None, :] - first[:, None]
        cost = second[None, :] - second[:, None] - linear**2 / span
    cost[np.tril_indices(n + 1)] = np.inf  # empty or reversed runs
    np.maximum(cost, 0, out=cost)
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    starts = np.zeros((k, n + 1), dtype=np.intp)
    for run in range(k):
        totals = best[:, None] + cost
        starts[run] = np.argmin(totals, axis=0)
        best = totals[starts[run], np.arange(n + 1)]
    bounds = [n]
    for run in range(k - 1, -1, -1):
        bounds.append(int(starts[run, bounds[-1]]))
    edges = np.array(bounds[::-1])
    return ((first[edges[1:]] - first[edges[:-1]]) / (total[edges[1:]] - total[edges[:-1]]))[:, None]


def kmeans(
    points: np.ndarray,
    weights: np.ndarray,
    colors: np.ndarray,
    k: int,
    seed: int,
    settings: QuantizerSettings,
) -> tuple[np.ndarray, Bounds | None]:
    """Weighted k-means centres: seeded on a sample, refined on finer and finer grids.

    ``colors`` are the uint8 colours behind ``points``: the grids (``levels``) are cut
    in them, whatever space the points are in. Each grid's cells carry the
    weighted mean of their colours, and each stage inherits the bounds of the
    one before. A grid barely smaller than the full histogram is skipped, and so
    is any stage larger than ``stage_limit`` points (noisy photographs with a
    million colours: their clusters are wide, so a coarser grid already places
    the centres well). Also returns bounds for ``points`` when the exact stage
    ran (None otherwise).
    """
    if points.shape[1] == 1 and len(points) <= settings.exact_1d_limit:
        return kmeans_1d(points, weights, k), None
    centers = seed_centers(points, weights, k, seed, settings)
    colors = np.ascontiguousarray(colors)  # once, not per grid (often a view of RGBA keys)
    bounds: Bounds | None = None
    coarse = np.empty(0)  # points of the last stage run
    cells_of_coarse = np.empty(0, dtype=np.int32)  # its cell number for each colour

    def carried(stage_points: np.ndarray, cells: np.ndarray) -> Bounds | None:
        """The last stage's bounds moved onto ``stage_points`` (one per cell, or per colour)."""
        if bounds is None:
            return None
        parent = np.empty(len(stage_points), dtype=np.intp)
        parent[cells] = cells_of_coarse
        return bounds.inherited(stage_points, coarse, parent)

    for level, least_steps in settings.levels:
        cells = cells_of(colors, level)
        count = int(cells.max()) + 1
        if count > settings.stage_limit:
            break  # finer grids only have more cells
        if k < count < 0.8 * len(points):
            stage_points, stage_weights = merge_cells(points, weights, cells)
            steps = _steps(count, k, least_steps, settings)
            centers, bounds = lloyd(
                stage_points, stage_weights, centers, steps, settings, carried(stage_points, cells)
            )
            coarse, cells_of_coarse = stage_points, cells
    if len(points) > settings.stage_limit:
        return centers, None  # bounds for so many colours would cost more memory than a look-up
    steps = _steps(len(points), k, settings.exact_steps, settings)
    everything = np.arange(len(points), dtype=np.int32)
    return lloyd(points, weights, centers, steps, settings, carried(points, everything))
