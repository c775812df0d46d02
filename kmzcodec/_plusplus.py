"""numba kernel of the seeding: greedy k-means++ that skips groups of points far from a candidate.

Compiled at the first call and cached on disk, as :mod:`kmzcodec._kernels`.
"""

from __future__ import annotations

import numpy as np

from .jit import compile_in_place

_COMPILED: list[bool] = []


def _compile() -> None:
    compile_in_place(globals(), ("_draw", "_plusplus"), _COMPILED)


#: Points per block of the running weight sums that draw k-means++ candidates (in the points' order).
_DRAW_BLOCK = 256
#: Points per group of the k-means++ look-ups (in space-filling-curve order): a group whose
#: bounding box is farther from a candidate than its farthest point is from its nearest
#: centre cannot gain from that candidate, so its points are not measured.
_GROUP = 32


def _draw(weights, closest, block_total, target):  # type: ignore[no-untyped-def]
    """The first point whose running sum of weight x ``closest`` exceeds ``target`` (the
    last point if none does), walking whole blocks by their totals."""
    n = weights.shape[0]
    running = 0.0
    for b in range(block_total.shape[0]):
        if running + block_total[b] > target:
            stop = min(n, (b + 1) * _DRAW_BLOCK)
            for i in range(b * _DRAW_BLOCK, stop):
                running += weights[i] * closest[i]
                if running > target:
                    return i
            return stop - 1
        running += block_total[b]
    return n - 1


def _plusplus(points, weights, mass, closest, uniforms, chosen, order):  # type: ignore[no-untyped-def]
    """Greedy k-means++ after the first centre (``chosen[0]``, ``closest`` its squared
    distances): centre c is the best by weighted inertia of the candidates drawn with
    ``uniforms[c - 1]`` in proportion to weight x ``closest``. ``points`` and the
    distances are float32 (the sampling sums are float64), as
    :func:`kmzcodec.kmeans.kmeans_plusplus` has them.

    The picks of measuring every point for every candidate, for a fraction of the work:
    points are visited in groups of ``_GROUP`` along ``order`` (a space-filling curve),
    and a group is skipped when its bounding box is no nearer the candidate than its
    points' largest ``closest``. The draws walk blocks of running sums, recomputed only
    where ``closest`` changed. A candidate's gain (the weighted inertia it removes)
    ranks the candidates; ties go to the first drawn.
    """
    n, dims = points.shape
    trials = uniforms.shape[1]
    blocks = (n + _DRAW_BLOCK - 1) // _DRAW_BLOCK
    block_total = np.empty(blocks)
    stale = np.ones(blocks, dtype=np.bool_)
    groups = (n + _GROUP - 1) // _GROUP
    low = np.full((groups, dims), np.inf, dtype=np.float32)
    high = np.full((groups, dims), -np.inf, dtype=np.float32)
    widest = np.zeros(groups, dtype=np.float32)
    for g in range(groups):
        for r in range(g * _GROUP, min(n, (g + 1) * _GROUP)):
            i = order[r]
            widest[g] = max(widest[g], closest[i])
            for d in range(dims):
                low[g, d] = min(low[g, d], points[i, d])
                high[g, d] = max(high[g, d], points[i, d])
    picks = np.empty(trials, dtype=np.intp)
    # Each candidate's distances to the points it measured (by position in ``order``) and
    # the groups it measured: the best one's update reads them instead of measuring again.
    measured = np.empty((trials, n), dtype=np.float32)
    visited = np.zeros((trials, groups), dtype=np.bool_)
    margin = np.float32(1.0001)  # float32 rounding: measure rather than skip on a near-tie
    for c in range(1, chosen.shape[0]):
        total = 0.0
        for b in range(blocks):
            if stale[b]:
                part = 0.0
                for i in range(b * _DRAW_BLOCK, min(n, (b + 1) * _DRAW_BLOCK)):
                    part += weights[i] * closest[i]
                block_total[b] = part
                stale[b] = False
            total += block_total[b]
        for t in range(trials):
            picks[t] = _draw(weights, closest, block_total, uniforms[c - 1, t] * total)
        best, best_gain = 0, -1.0
        for t in range(trials):  # each candidate's gain
            x = picks[t]
            gain = 0.0
            for g in range(groups):
                gap = np.float32(0.0)
                for d in range(dims):
                    step = max(low[g, d] - points[x, d], points[x, d] - high[g, d], np.float32(0.0))
                    gap += step * step
                visited[t, g] = not gap > widest[g] * margin
                if not visited[t, g]:
                    continue
                for r in range(g * _GROUP, min(n, (g + 1) * _GROUP)):
                    i = order[r]
                    value = np.float32(0.0)
                    for d in range(dims):
                        step = points[i, d] - points[x, d]
                        value += step * step
                    measured[t, r] = value
                    near = closest[i]
                    if value < near:
                        gain += (near - value) * mass[i]
            if gain > best_gain:
                best, best_gain = t, gain
        # The best one's update, from its distances measured above (the groups it skipped
        # have no point it is nearer to).
        for g in range(groups):
            if not visited[best, g]:
                continue
            farthest = np.float32(0.0)
            for r in range(g * _GROUP, min(n, (g + 1) * _GROUP)):
                i = order[r]
                value = measured[best, r]
                near = closest[i]
                if value < near:
                    closest[i] = near = value
                    stale[i // _DRAW_BLOCK] = True
                farthest = max(farthest, near)
            widest[g] = farthest
        chosen[c] = picks[best]


def curve_order(points: np.ndarray) -> np.ndarray:
    """Indices of ``points`` in Morton (Z-curve) order of their first three coordinates,
    each cut into 256 steps over its range: points near in the order are near in space."""
    spread = np.zeros(256, dtype=np.uint32)  # bit b of a byte moved to bit 3b
    for bit in range(8):
        spread |= ((np.arange(256, dtype=np.uint32) >> bit) & 1) << (3 * bit)
    code = np.zeros(len(points), dtype=np.uint32)
    for d in range(min(3, points.shape[1])):
        column = points[:, d].astype(np.float64)
        low, span = float(column.min()), float(column.max() - column.min())
        steps = (column - low) * (255.0 / span) if span > 0 else np.zeros(len(points))
        code |= spread[np.clip(steps.astype(np.intp), 0, 255)] << np.uint32(d)
    return np.argsort(code, kind="stable")


def plusplus(
    points: np.ndarray, weights: np.ndarray, first: int, uniforms: np.ndarray, order: np.ndarray | None = None
) -> np.ndarray:
    """Indices of the k-means++ centres (see :func:`_plusplus`), ``first`` the first of them,
    one row of ``uniforms`` (in [0, 1)) per further centre, one column per candidate.
    ``order``: the points' :func:`curve_order` (of their float32 values), when the caller
    has it (several starts on the same points); made here otherwise."""
    single = np.ascontiguousarray(points, dtype=np.float32)
    closest = ((single - single[first]) ** 2).sum(axis=1)
    chosen = np.empty(len(uniforms) + 1, dtype=np.intp)
    chosen[0] = first
    _compile()
    _plusplus(
        single, weights.astype(np.float64), weights.astype(np.float32), closest, uniforms, chosen,
        curve_order(single) if order is None else order,
    )  # fmt: skip
    return chosen
