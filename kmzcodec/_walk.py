"""numba kernel of the nearest centre alone: a walk over the centres' neighbours.

Used by :class:`kmzcodec._kernels.Centres` for look-ups of the nearest centre only
(mapping colours to a palette); compiled at the first call and cached on disk, as
:mod:`kmzcodec._kernels`.
"""

from __future__ import annotations

import numpy as np

from .jit import compile_in_place

_COMPILED: list[bool] = []


def _compile() -> None:
    compile_in_place(globals(), ("_walk_all",), _COMPILED)


def _walk_all(points, index, centers, neighbours, gaps, distances, nearest):  # type: ignore[no-untyped-def]
    """The nearest centre of each point (exact; equal distances to the lower index).

    The search starts at the previous point's answer ``a`` (histogram colours come
    sorted, so neighbours are alike) and walks the other centres in order of their
    distance from ``a``: a centre ``c`` is at least |ac| - |pa| from the point, so
    the walk stops once that exceeds the best distance found (with a margin for
    rounding, so that equal distances are all seen).
    """
    dims = points.shape[1]
    guess = 0
    for row in range(index.shape[0]):
        i = index[row]
        total = 0.0
        for d in range(dims):
            step = points[i, d] - centers[guess, d]
            total += step * step
        best, at = total, guess
        reach = np.sqrt(total)
        for slot in range(neighbours.shape[1]):
            if gaps[guess, slot] - reach > np.sqrt(best) + 1e-6:
                break
            j = neighbours[guess, slot]
            total = 0.0
            for d in range(dims):
                step = points[i, d] - centers[j, d]
                total += step * step
            if total < best or (total == best and j < at):
                best, at = total, j
        distances[row, 0] = np.sqrt(best)
        nearest[row, 0] = at
        guess = at
