"""Weighted Lloyd iterations that look up only the points whose nearest centre may have changed.

Each point keeps Hamerly's bounds with the runner-up tracked (:class:`Bounds`);
after the centres move, the bounds are loosened by how far they moved (the bound on
the other centres by the moves near the point's label: :func:`kmzcodec._kernels._settle`),
and only points whose bounds overlap are measured again or searched (exactly, by
brute force over the centres, or the label's nearest ones where they prove it, in a
compiled kernel: :mod:`kmzcodec._kernels`).
Bounds carry over from a coarse grid of cells to a finer one by the triangle
inequality, so each stage starts without a full look-up. A run's last move is left
pending in the bounds (:attr:`Bounds.pending`) for the next settle to loosen them by:
the labels a settle after it would give are only looked at again by the next one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _sums
from ._kernels import Centres, Scratch, settle_and_shift, settle_points
from .settings import QuantizerSettings


def nearest(points: np.ndarray, centers: np.ndarray | Centres, settings: QuantizerSettings) -> np.ndarray:
    """Index of the nearest centre for every point (exact, Euclidean; ties to the lower index).
    ``centers`` may be a :class:`Centres` made once for several look-ups (its tables are kept)."""
    return _nearest_one(points, centers, settings)[1][:, 0]


def nearest_distance(
    points: np.ndarray, centers: np.ndarray | Centres, settings: QuantizerSettings
) -> np.ndarray:
    """Distance from every point to its nearest centre (``centers`` as in :func:`nearest`)."""
    return _nearest_one(points, centers, settings)[0][:, 0]


def _nearest_one(
    points: np.ndarray, centers: np.ndarray | Centres, settings: QuantizerSettings
) -> tuple[np.ndarray, np.ndarray]:
    rows = np.ascontiguousarray(points, dtype=np.float64)
    lookup = centers if isinstance(centers, Centres) else Centres(centers)
    return lookup.nearest(rows, None, 1, settings.threaded_points)


def cluster_sums(
    points: np.ndarray, weights: np.ndarray, labels: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster weight and weighted coordinate sums, added in the points' order (as
    ``np.bincount`` adds them), in one compiled pass."""
    mass, sums = np.empty(k), np.empty((k, points.shape[1]))
    _sums._compile()
    _sums._cluster_sums(
        np.ascontiguousarray(points, dtype=np.float64),
        np.ascontiguousarray(weights, dtype=np.float64),
        np.ascontiguousarray(labels),
        mass,
        sums,
    )
    return mass, sums


@dataclass
class Bounds:
    """Hamerly's bounds with the runner-up tracked, per point: its centre, an
    upper bound on the distance to it, the runner-up centre found at the last
    look-up with a lower bound on the distance to that one, and a lower bound on
    the distance to every other centre.

    At K = 256 the centres are only a few units apart and many colours sit
    between their two nearest ones; tracking the runner-up settles most of
    them without a search (it spares a third of the searches).
    """

    labels: np.ndarray
    upper: np.ndarray
    second: np.ndarray
    near: np.ndarray
    lower: np.ndarray
    #: How far centre j moved since the bounds were last settled (None: not at all): the
    #: last Lloyd step's move is left for the next settle to loosen the bounds by, so a
    #: run's final step needs no settle of its own (its labels would only be looked at again).
    pending: np.ndarray | None = None

    def moved(self, shift: np.ndarray) -> None:
        """Keep the bounds valid after centre j moved by shift[j] (and by any pending move).

        A centre moves at most its own shift nearer or farther; the centres
        other than the label and the runner-up, at most the largest shift.
        """
        shift = self.take_pending(shift)
        self.upper += shift[self.labels]
        self.near -= shift[self.second]
        self.lower -= shift.max()

    def take_pending(self, shift: np.ndarray) -> np.ndarray:
        """``shift``, a move of the centres, plus any pending one before it: the move the
        caller now loosens the bounds by; none is pending after."""
        pending, self.pending = self.pending, None
        return shift if pending is None else pending + shift

    def inherited(self, points: np.ndarray, coarse: np.ndarray, parent: np.ndarray) -> Bounds:
        """Bounds for finer ``points``, point i lying some offset from ``coarse[parent[i]]``.

        The triangle inequality carries the coarse bounds over (the offset added to the
        upper bound, taken off the lower ones), so moving to a finer grid needs no fresh
        look-up for points well inside their cluster. A pending move stays pending.
        """
        n = len(points)
        into = Bounds(*(np.empty(n, dtype=dtype) for dtype in (np.intp, float, np.intp, float, float)))
        _sums._compile()
        _sums._inherit(
            np.ascontiguousarray(points, dtype=np.float64),
            np.ascontiguousarray(coarse, dtype=np.float64),
            np.ascontiguousarray(parent, dtype=np.intp),
            *_arrays(self),
            _arrays(into),
        )
        into.pending = self.pending
        return into

    def found(self, index: np.ndarray | slice, distances: np.ndarray, nearest: np.ndarray) -> None:
        """Exact bounds for the points ``index`` from a look-up of their nearest centres."""
        self.labels[index], self.upper[index] = nearest[:, 0], distances[:, 0]
        self.second[index], self.near[index] = nearest[:, 1], distances[:, 1]
        self.lower[index] = distances[:, -1]  # the third nearest (two centres: no others, any bound)


def _found(rows: np.ndarray, centers: np.ndarray, settings: QuantizerSettings) -> Bounds:
    """Exact bounds for every point from a full look-up of its nearest centres."""
    n = len(rows)
    bounds = Bounds(*(np.empty(n, dtype=dtype) for dtype in (np.intp, float, np.intp, float, float)))
    nearest = Centres(centers).nearest(rows, None, min(3, len(centers)), settings.threaded_points)
    bounds.found(slice(None), *nearest)  # every point, in order
    return bounds


def _arrays(bounds: Bounds) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return bounds.labels, bounds.upper, bounds.second, bounds.near, bounds.lower


def settle(
    points: np.ndarray,
    centers: np.ndarray,
    bounds: Bounds | None,
    settings: QuantizerSettings,
    spread: np.ndarray | None = None,
) -> tuple[Bounds, np.ndarray]:
    """Make every label the nearest centre, searching only points whose bounds overlap.

    Returns the bounds and the indices of the points whose label changed (all when there
    were no bounds). Needs at least two centres. The checks and the exact search
    run point by point in one compiled pass (:mod:`kmzcodec._kernels`).
    """
    rows = np.ascontiguousarray(points, dtype=np.float64)
    if bounds is None:
        return _found(rows, centers, settings), np.arange(len(rows))
    shift = bounds.take_pending(np.zeros(len(centers)))
    scratch = Scratch(len(rows), len(centers), rows.shape[1])
    changed = settle_points(rows, centers, _arrays(bounds), settings.threaded_points, shift, scratch, spread)
    return bounds, changed


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
    (exactly, over all centres), so nearly converged steps touch few points.
    ``bounds`` carried over from a coarser stage spare the first full look-up. The
    returned bounds are those of the centres before the last step's move, which they
    hold as pending (:attr:`Bounds.pending`); :func:`settle` applies it.
    A centre that loses all its points stays where it was. Each step is three compiled
    passes (:mod:`kmzcodec._kernels`): the centres moved, the points settled (the bounds
    loosened by the moves on the way), the cluster sums updated by the points that changed
    cluster, with the arithmetic numpy had when these were whole-array operations.
    """
    k = len(centers)
    if k == 1:
        center = (points * weights[:, None]).sum(axis=0, keepdims=True) / weights.sum()
        distance = np.sqrt(((points - center) ** 2).sum(axis=1))
        zero, infinite = np.zeros(len(points), dtype=np.intp), np.full(len(points), np.inf)
        return center, Bounds(zero, distance, zero.copy(), infinite, infinite.copy())
    rows = np.ascontiguousarray(points, dtype=np.float64)
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    centers = np.array(centers, dtype=np.float64)  # a copy: the caller's stays as it was
    moved, shift = np.empty_like(centers), np.zeros(k)
    scratch = Scratch(len(rows), k, rows.shape[1])
    if bounds is None:
        bounds = _found(rows, centers, settings)
    else:
        still = bounds.take_pending(shift)  # a new array when a move was pending
        settle_points(rows, centers, _arrays(bounds), settings.threaded_points, still, scratch)
    mass, sums = cluster_sums(rows, weights, bounds.labels, k)
    for step in range(steps):
        largest = _sums._move_centres(centers, mass, sums, moved, shift)
        centers, moved = moved, centers
        if largest <= settings.shift_tolerance or step == steps - 1:
            bounds.pending = shift  # the last move: settled by whoever uses the bounds next
            break
        settle_and_shift(
            rows, weights, centers, _arrays(bounds), settings.threaded_points, shift, scratch, mass, sums
        )
    return centers, bounds
