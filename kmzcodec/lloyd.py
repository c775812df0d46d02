"""Weighted Lloyd iterations that look up only the points whose nearest centre may have changed.

Each point keeps Hamerly's bounds with the runner-up tracked (:class:`Bounds`);
after the centres move, the bounds are loosened by how far they moved, and
only points whose bounds overlap are measured again or looked up in a k-d tree
of the centres. Bounds carry over from a coarse grid of cells to a finer one
by the triangle inequality, so each stage starts without a full look-up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .settings import QuantizerSettings
from .threads import cpu_budget


def tree(centers: np.ndarray):  # type: ignore[no-untyped-def]
    """A k-d tree of the centres (scipy is imported here: it is slow to import and
    only encoding needs it)."""
    from scipy.spatial import cKDTree

    return cKDTree(centers)


def query(  # type: ignore[no-untyped-def]
    kd_tree, points: np.ndarray, k: int, settings: QuantizerSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Distances and indices of the ``k`` nearest centres of every point."""
    return kd_tree.query(points, k=k, workers=cpu_budget() if len(points) >= settings.threaded_query else 1)


def nearest(points: np.ndarray, centers: np.ndarray, settings: QuantizerSettings) -> np.ndarray:
    """Index of the nearest centre for every point (exact, Euclidean)."""
    return query(tree(centers), points, 1, settings)[1]


def by_column(points: np.ndarray) -> list[np.ndarray]:
    """Each coordinate of ``points`` as a contiguous array.

    The Lloyd loop gathers and measures scattered subsets of points; numpy does
    that several times faster one coordinate at a time than row by row.
    """
    return [np.ascontiguousarray(points[:, d]) for d in range(points.shape[1])]


def as_rows(columns: list[np.ndarray], index: np.ndarray) -> np.ndarray:
    """The points ``index`` as rows (for the k-d tree)."""
    rows = np.empty((len(index), len(columns)))
    for d, column in enumerate(columns):
        rows[:, d] = column[index]
    return rows


def distance_to(
    columns: list[np.ndarray], index: np.ndarray | None, centers: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Distance from each point ``index`` (all when None) to ``centers[labels]``, pairwise."""
    total = np.zeros(len(labels))
    for d, column in enumerate(columns):
        gap = column[index] if index is not None else column.copy()
        gap -= centers[:, d][labels]
        gap *= gap
        total += gap
    return np.sqrt(total, out=total)


def cluster_sums(
    columns: list[np.ndarray],
    weights: np.ndarray,
    labels: np.ndarray,
    k: int,
    index: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster weight and weighted coordinate sums (of the points ``index``, or all)."""
    if index is not None:
        columns, weights = [column[index] for column in columns], weights[index]
    mass = np.bincount(labels, weights=weights, minlength=k)
    sums = [np.bincount(labels, weights=column * weights, minlength=k) for column in columns]
    return mass, np.stack(sums, axis=1)


@dataclass
class Bounds:
    """Hamerly's bounds with the runner-up tracked, per point: its centre, an
    upper bound on the distance to it, the runner-up centre found at the last
    look-up with a lower bound on the distance to that one, and a lower bound on
    the distance to every other centre.

    At K = 256 the centres are only a few units apart and many colours sit
    between their two nearest ones; tracking the runner-up settles most of
    them without a k-d tree look-up (it spares a third of the look-ups).
    """

    labels: np.ndarray
    upper: np.ndarray
    second: np.ndarray
    near: np.ndarray
    lower: np.ndarray

    def moved(self, shift: np.ndarray) -> None:
        """Keep the bounds valid after centre j moved by shift[j].

        A centre moves at most its own shift nearer or farther; the centres
        other than the label and the runner-up, at most the largest shift.
        """
        self.upper += shift[self.labels]
        self.near -= shift[self.second]
        self.lower -= shift.max()

    def inherited(self, parent: np.ndarray, offset: np.ndarray) -> Bounds:
        """Bounds for finer points, point i lying ``offset[i]`` from coarse point ``parent[i]``.

        The triangle inequality carries the coarse bounds over, so moving to a
        finer grid needs no fresh look-up for points well inside their cluster.
        """
        return Bounds(
            self.labels[parent],
            self.upper[parent] + offset,
            self.second[parent],
            self.near[parent] - offset,
            self.lower[parent] - offset,
        )

    def found(self, index: np.ndarray, distances: np.ndarray, nearest: np.ndarray) -> None:
        """Exact bounds for the points ``index`` from a look-up of their nearest centres."""
        self.labels[index], self.upper[index] = nearest[:, 0], distances[:, 0]
        self.second[index], self.near[index] = nearest[:, 1], distances[:, 1]
        self.lower[index] = distances[:, -1]  # the third nearest (two centres: no others, any bound)


def settle(
    points: np.ndarray,
    columns: list[np.ndarray],
    centers: np.ndarray,
    bounds: Bounds | None,
    settings: QuantizerSettings,
) -> tuple[Bounds, np.ndarray]:
    """Make every label the nearest centre, looking up only points whose bounds overlap.

    ``columns`` are the points' coordinates (:func:`by_column`). Returns the bounds and
    the indices of the points whose label may have changed (all when there
    were no bounds). Needs at least two centres.
    """
    kd_tree = tree(centers)
    depth = min(3, len(centers))
    if bounds is None:
        n = len(points)
        bounds = Bounds(*(np.empty(n, dtype=dtype) for dtype in (np.intp, float, np.intp, float, float)))
        everything = np.arange(n)
        bounds.found(everything, *query(kd_tree, points, depth, settings))
        return bounds, everything
    half_gap = kd_tree.query(centers, k=2)[0][:, 1] / 2
    labels, upper, second, near, lower = bounds.labels, bounds.upper, bounds.second, bounds.near, bounds.lower

    def overlapping(index: np.ndarray) -> np.ndarray:
        """The points of ``index`` whose nearest centre the bounds do not prove."""
        bound = np.maximum(np.minimum(near[index], lower[index]), half_gap[labels[index]])
        return index[upper[index] > bound]

    bound = np.minimum(near, lower)
    np.maximum(bound, half_gap[labels], out=bound)
    suspects = np.flatnonzero(upper > bound)
    upper[suspects] = distance_to(columns, suspects, centers, labels[suspects])
    suspects = overlapping(suspects)
    near[suspects] = distance_to(columns, suspects, centers, second[suspects])
    suspects = overlapping(suspects)
    # No other centre is nearer than these two exact distances: the nearer one wins.
    swap = suspects[(near[suspects] < upper[suspects]) & (upper[suspects] <= lower[suspects])]
    labels[swap], second[swap] = second[swap], labels[swap]
    upper[swap], near[swap] = near[swap], upper[swap]
    looked = suspects[upper[suspects] > np.minimum(near[suspects], lower[suspects])]
    if looked.size:
        bounds.found(looked, *query(kd_tree, as_rows(columns, looked), depth, settings))
    return bounds, np.concatenate([swap, looked])


def lloyd(
    points: np.ndarray,
    weights: np.ndarray,
    centers: np.ndarray,
    steps: int,
    settings: QuantizerSettings,
    bounds: Bounds | None = None,
) -> tuple[np.ndarray, Bounds]:
    """Weighted Lloyd iterations with Hamerly's bounds; returns the centres and bounds.

    Only points whose bounds overlap after the centres move are looked up again
    (in a k-d tree of the centres), so nearly converged steps touch few points.
    ``bounds`` carried over from a coarser stage spare the first full look-up.
    A centre that loses all its points stays where it was.
    """
    k = len(centers)
    if k == 1:
        center = (points * weights[:, None]).sum(axis=0, keepdims=True) / weights.sum()
        distance = np.sqrt(((points - center) ** 2).sum(axis=1))
        zero, infinite = np.zeros(len(points), dtype=np.intp), np.full(len(points), np.inf)
        return center, Bounds(zero, distance, zero.copy(), infinite, infinite.copy())
    columns = by_column(points)
    bounds, _ = settle(points, columns, centers, bounds, settings)
    mass, sums = cluster_sums(columns, weights, bounds.labels, k)
    for _ in range(steps):
        moved = centers.copy()
        alive = mass > 0
        moved[alive] = sums[alive] / mass[alive, None]
        shift = np.sqrt(((moved - centers) ** 2).sum(axis=1))
        centers = moved
        bounds.moved(shift)
        if shift.max() <= settings.shift_tolerance:
            break
        before = bounds.labels.copy()
        bounds, looked = settle(points, columns, centers, bounds, settings)
        moving = looked[before[looked] != bounds.labels[looked]]
        if moving.size:
            gone = cluster_sums(columns, weights, before[moving], k, moving)
            came = cluster_sums(columns, weights, bounds.labels[moving], k, moving)
            mass = mass - gone[0] + came[0]
            sums = sums - gone[1] + came[1]
    return centers, bounds
