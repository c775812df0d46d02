"""numba kernels of Lloyd's update: the cluster sums, the centres moved, the sums updated.

A Lloyd step (:func:`kmzcodec.lloyd.lloyd`) moves the centres (:func:`_move_centres`),
settles the points (:mod:`kmzcodec._kernels`), then updates the cluster sums by the points
that changed cluster (:func:`_shift_sums`), each with the arithmetic, in the order, that
numpy's whole-array steps had, so the centres are the same to the bit. Also the stages'
grid cells (:func:`_dense_cells`) and the bounds of a coarse stage carried onto the finer
points of the next (:func:`_inherit`).

Compiled at the first call and cached on disk, as :mod:`kmzcodec._kernels`.
"""

from __future__ import annotations

import numpy as np

from .jit import compile_in_place

_COMPILED: list[bool] = []


def _compile() -> None:
    compile_in_place(
        globals(), ("_move_centres", "_cluster_sums", "_shift_sums", "_inherit", "_dense_cells"), _COMPILED
    )


def _move_centres(centers, mass, sums, moved, shift):  # type: ignore[no-untyped-def]
    """Lloyd's update: into ``moved`` each centre with points at their weighted mean
    (``sums[j] / mass[j]``), the others where they were; ``shift[j]``, how far centre j
    moved. Returns the largest shift. The same arithmetic as numpy on whole arrays."""
    k, dims = centers.shape
    for j in range(k):
        total = 0.0
        for d in range(dims):
            value = sums[j, d] / mass[j] if mass[j] > 0 else centers[j, d]
            step = value - centers[j, d]
            total += step * step
            moved[j, d] = value
        shift[j] = np.sqrt(total)
    return shift.max()


def _cluster_sums(points, weights, labels, mass, sums):  # type: ignore[no-untyped-def]
    """Each cluster's weight and weighted coordinate sums, added in the points' order (as
    ``np.bincount``)."""
    mass[:] = 0.0
    sums[:] = 0.0
    for i in range(points.shape[0]):
        label = labels[i]
        mass[label] += weights[i]
        for d in range(points.shape[1]):
            sums[label, d] += points[i, d] * weights[i]


def _shift_sums(points, weights, moving, previous, labels, mass, sums):  # type: ignore[no-untyped-def]
    """The sums of :func:`_cluster_sums` after the points ``moving`` went from cluster
    ``previous[i]`` to ``labels[i]``: what left and what came each added up in the order of
    ``moving``, then taken off and added on (as numpy did it on whole arrays)."""
    k, dims = sums.shape
    gone_mass = np.zeros(k)
    came_mass = np.zeros(k)
    gone = np.zeros((k, dims))
    came = np.zeros((k, dims))
    for m in range(moving.shape[0]):
        i = moving[m]
        before, after, weight = previous[i], labels[i], weights[i]
        gone_mass[before] += weight
        came_mass[after] += weight
        for d in range(dims):
            value = points[i, d] * weight
            gone[before, d] += value
            came[after, d] += value
    for j in range(k):
        mass[j] = mass[j] - gone_mass[j] + came_mass[j]
        for d in range(dims):
            sums[j, d] = sums[j, d] - gone[j, d] + came[j, d]


def _inherit(points, coarse, parent, labels, upper, second, near, lower, into):  # type: ignore[no-untyped-def]
    """The bounds of coarse point ``parent[i]`` carried onto point i, which lies ``offset``
    from it (the distance added up over the coordinates in order, as numpy's whole-array
    passes added it): the same labels, ``upper + offset``, ``near - offset`` and
    ``lower - offset``, into the five arrays of ``into``."""
    labels_into, upper_into, second_into, near_into, lower_into = into
    for i in range(points.shape[0]):
        p = parent[i]
        total = 0.0
        for d in range(points.shape[1]):
            gap = points[i, d] - coarse[p, d]
            total += gap * gap
        offset = np.sqrt(total)
        labels_into[i] = labels[p]
        upper_into[i] = upper[p] + offset
        second_into[i] = second[p]
        near_into[i] = near[p] - offset
        lower_into[i] = lower[p] - offset


def _dense_cells(colors, shift, level, occupied, words, ids, rank, cells):  # type: ignore[no-untyped-def]
    """``cells[i]``: the rank of colour i's cell id (its channels' top ``level`` bits, first
    channel highest) among the ids present; ``occupied``, zeros, one byte per cell
    (``words``: the same bytes eight at a time); ``ids`` and ``rank``: scratch, one entry
    per colour and per cell."""
    n, channels = colors.shape
    for i in range(n):
        key = 0
        for c in range(channels):
            key = (key << level) | (colors[i, c] >> shift)
        ids[i] = key
        occupied[key] = 1
    count = 0
    for w in range(words.shape[0]):
        if words[w] != 0:
            for b in range(8 * w, 8 * w + 8):
                if occupied[b] != 0:
                    rank[b] = count
                    count += 1
    for i in range(n):
        cells[i] = rank[ids[i]]
