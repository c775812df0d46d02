"""numba kernels of the k-means: exact nearest centres and the Lloyd bound checks, one pass per call.

The k-d tree of scipy answers a query in a few microseconds, most of it
overhead for a few hundred centres in 3-D; the Lloyd loop also paid for numpy
passes of fancy indexing over the suspects. Here each point is settled in one
go: its bounds are checked, its distances to its label and runner-up measured,
and only if those do not prove its nearest centre is it searched for.

The search is exact and brute force: the squared distances to all K centres
(K <= a few hundred; one vectorised loop per coordinate over the centres laid
out by coordinate), then one scan for the three smallest. It is several times
faster than a k-d tree query of the same points for K = 16..256 in 3-D. In the
Lloyd loop at K >= 64 the label's nearest centres are measured first, and the full
scan runs only when they cannot prove the answer (:func:`_search_near`).
Equal distances go to the lower centre index.

Compiled by numba at the first call, cached on disk (importing numba costs
about 0.3 s, which decoding need not pay).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from .bands import map_bands
from .threads import cpu_budget

T = TypeVar("T")

_COMPILED: list[bool] = []


def _compile() -> None:
    """Compile the kernels with numba (cached on disk) at their first use, not at import;
    in order, so each one calls the compiled form of the ones before."""
    if _COMPILED:
        return
    from numba import njit

    names = globals()
    for name in (
        "_squared_distances",
        "_keep_three",
        "_search",
        "_search_all",
        "_walk_all",
        "_near_centres",
        "_search_near",
        "_settle",
        "_draw",
        "_plusplus",
    ):
        names[name] = njit(cache=True, nogil=True)(names[name])
    _COMPILED.append(True)


def _chunks(function: Callable[[int, int], T], count: int, least: int) -> list[T]:
    """``function(start, stop)`` over ``count`` items: from ``least`` items on, in one
    chunk per thread of this encode's CPU budget (:func:`~kmzcodec.bands.map_bands`),
    results in chunk order. Fewer items are one direct call, since these calls come by
    the hundred and a thread pool's set-up (about 0.1 ms) would show. Every caller's
    items are independent, so the answer does not depend on how they are cut."""
    threads = cpu_budget()
    if count < least or threads < 2:
        return [function(0, count)] if count else []
    return map_bands(function, count, 1, -(-count // threads))


class Centres:
    """Centres laid out for :func:`_search` (one contiguous row per coordinate)."""

    def __init__(self, centers: np.ndarray) -> None:
        self.columns = np.ascontiguousarray(np.asarray(centers, dtype=np.float64).T)

    def nearest(
        self, points: np.ndarray, index: np.ndarray | None, depth: int, chunk: int = 1 << 62
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distances and indices (m, depth) of the ``depth`` (<= 3) nearest centres of
        ``points[index]`` (all points when ``index`` is None), nearest first, as a
        k-d tree query answers. From ``chunk`` points on, they are shared among threads (:func:`_chunks`)."""
        if index is None:
            index = np.arange(len(points))
        walk = depth == 1 and self.columns.shape[1] > 2
        # The walk finds the nearest only: one column (the memory of 14.7 MP images' colours).
        distances = np.empty((len(index), 1 if walk else 3))
        nearest = np.empty((len(index), 1 if walk else 3), dtype=np.intp)
        index = index.astype(np.intp, copy=False)
        _compile()
        if walk:
            rows = np.ascontiguousarray(self.columns.T)
            apart = np.sqrt(((rows[:, None, :] - rows[None, :, :]) ** 2).sum(axis=2))
            neighbours = np.argsort(apart, axis=1, kind="stable")[:, 1:]
            gaps = np.take_along_axis(apart, neighbours, axis=1)

            def search(start: int, stop: int) -> None:
                _walk_all(
                    points,
                    index[start:stop],
                    rows,
                    neighbours,
                    gaps,
                    distances[start:stop],
                    nearest[start:stop],
                )

        else:

            def search(start: int, stop: int) -> None:
                _search_all(
                    points, index[start:stop], self.columns, distances[start:stop], nearest[start:stop]
                )

        _chunks(search, len(index), chunk)
        return distances[:, :depth], nearest[:, :depth]

    def half_gaps(self) -> np.ndarray:
        """Half the distance from each centre to its nearest other centre."""
        if self.columns.shape[1] < 2:
            return np.full(self.columns.shape[1], np.inf)
        return self.nearest(np.ascontiguousarray(self.columns.T), None, 2)[0][:, 1] / 2


def _squared_distances(rows, i, columns, squared):  # type: ignore[no-untyped-def]
    """``squared[j]``: the squared distance from rows[i] to centre j (``columns``: one row of
    K values per dimension)."""
    dims, k = columns.shape
    squared[:] = 0.0
    for d in range(dims):
        value = rows[i, d]
        row = columns[d]
        for j in range(k):  # a loop the compiler vectorises
            step = value - row[j]
            squared[j] += step * step


def _keep_three(value, j, first, at_first, second, at_second, third, at_third):  # type: ignore[no-untyped-def]
    """The three smallest (distance, centre) pairs so far with (value, j) offered, ordered by
    distance and then by centre index: equal distances go to the lower index, whatever the
    order the centres are offered in (a scan in index order, or a label's neighbours)."""
    if value < third or (value == third and j < at_third):
        if value < second or (value == second and j < at_second):
            third, at_third = second, at_second
            if value < first or (value == first and j < at_first):
                second, at_second = first, at_first
                first, at_first = value, j
            else:
                second, at_second = value, j
        else:
            third, at_third = value, j
    return first, at_first, second, at_second, third, at_third


def _search(points, i, columns, squared, best_distance, best_index):  # type: ignore[no-untyped-def]
    """The three nearest centres of points[i] (exact squared distances; ``k`` and inf
    past the last centre), into the buffers; ``squared`` is scratch of K entries."""
    k = columns.shape[1]
    _squared_distances(points, i, columns, squared)
    first = second = third = np.inf
    at_first = at_second = at_third = k
    for j in range(k):
        first, at_first, second, at_second, third, at_third = _keep_three(
            squared[j], j, first, at_first, second, at_second, third, at_third
        )
    best_distance[0], best_distance[1], best_distance[2] = first, second, third
    best_index[0], best_index[1], best_index[2] = at_first, at_second, at_third


def _search_all(points, index, columns, distances, nearest):  # type: ignore[no-untyped-def]
    best_distance = np.empty(3)
    best_index = np.empty(3, dtype=np.intp)
    squared = np.empty(columns.shape[1])
    for row in range(index.shape[0]):
        _search(points, index[row], columns, squared, best_distance, best_index)
        for slot in range(3):
            distances[row, slot] = np.sqrt(best_distance[slot])
            nearest[row, slot] = best_index[slot]


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


#: Lloyd searches with at least this many centres (and LOCAL_SEARCH_POINTS points to
#: settle) first measure only the label's LOCAL_SEARCH_NEIGHBOURS nearest centres, and
#: fall back to all of them only when that cannot prove the three nearest.
LOCAL_SEARCH_CENTRES = 64
LOCAL_SEARCH_POINTS = 4096
LOCAL_SEARCH_NEIGHBOURS = 16


def _near_centres(centers, columns, neighbours, reach):  # type: ignore[no-untyped-def]
    """For each centre its ``neighbours.shape[1]`` nearest other centres, and ``reach``:
    the distance to the last of them (every centre not listed is at least that far)."""
    k = centers.shape[0]
    count = neighbours.shape[1]
    best = np.empty(count)
    squared = np.empty(k)
    for a in range(k):
        _squared_distances(centers, a, columns, squared)
        squared[a] = np.inf
        best[:] = np.inf
        neighbours[a, :] = a
        for c in range(k):
            value = squared[c]
            if value < best[count - 1]:
                slot = count - 1
                while slot > 0 and value < best[slot - 1]:
                    best[slot] = best[slot - 1]
                    neighbours[a, slot] = neighbours[a, slot - 1]
                    slot -= 1
                best[slot] = value
                neighbours[a, slot] = c
        reach[a] = np.sqrt(best[count - 1])


def _search_near(points, i, label, centers, neighbours, reach, best_distance, best_index):  # type: ignore[no-untyped-def]
    """:func:`_search`'s answer from ``label`` and its listed neighbours alone, when they
    prove it: any other centre c is at least reach[label] - |p label| from the point, so
    once that exceeds the third distance found, no other centre can be among the three
    nearest. Returns False (buffers undefined) when it cannot tell."""
    k, dims = centers.shape
    first = second = third = np.inf
    at_first = at_second = at_third = k
    own = 0.0
    for slot in range(-1, neighbours.shape[1]):
        j = label if slot < 0 else neighbours[label, slot]
        value = 0.0
        for d in range(dims):
            step = points[i, d] - centers[j, d]
            value += step * step
        if slot < 0:
            own = value
        first, at_first, second, at_second, third, at_third = _keep_three(
            value, j, first, at_first, second, at_second, third, at_third
        )
    if not reach[label] - np.sqrt(own) > np.sqrt(third) + 1e-6:
        return False
    best_distance[0], best_distance[1], best_distance[2] = first, second, third
    best_index[0], best_index[1], best_index[2] = at_first, at_second, at_third
    return True


def _settle(  # type: ignore[no-untyped-def]
    points, start, stop, centers, columns, neighbours, reach, half_gap,
    labels, upper, second, near, lower, swapped, looked,
):  # fmt: skip
    """Hamerly's check with the runner-up for points start..stop-1, in place; returns the
    counts of points whose label was swapped with the runner-up (listed in ``swapped``
    from ``start`` on) and of those searched again (in ``looked``, likewise)."""
    dims = points.shape[1]
    depth = min(3, centers.shape[0])
    best_distance = np.empty(3)
    best_index = np.empty(3, dtype=np.intp)
    squared = np.empty(centers.shape[0])
    swaps = 0
    looks = 0
    for i in range(start, stop):
        label = labels[i]
        bound = max(min(near[i], lower[i]), half_gap[label])
        if upper[i] <= bound:
            continue
        total = 0.0
        for d in range(dims):
            step = points[i, d] - centers[label, d]
            total += step * step
        upper[i] = np.sqrt(total)
        if upper[i] <= bound:
            continue
        other = second[i]
        total = 0.0
        for d in range(dims):
            step = points[i, d] - centers[other, d]
            total += step * step
        near[i] = np.sqrt(total)
        if upper[i] <= max(min(near[i], lower[i]), half_gap[label]):
            continue
        if near[i] < upper[i] and upper[i] <= lower[i]:
            # No other centre is nearer than these two exact distances: the nearer one wins.
            labels[i], second[i] = other, label
            upper[i], near[i] = near[i], upper[i]
            swapped[start + swaps] = i
            swaps += 1
            continue
        if neighbours.shape[1] == 0 or not _search_near(
            points, i, label, centers, neighbours, reach, best_distance, best_index
        ):
            _search(points, i, columns, squared, best_distance, best_index)
        labels[i] = best_index[0]
        upper[i] = np.sqrt(best_distance[0])
        second[i] = best_index[1]
        near[i] = np.sqrt(best_distance[1])
        lower[i] = np.sqrt(best_distance[depth - 1])
        looked[start + looks] = i
        looks += 1
    return swaps, looks


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
        for t in range(trials + 1):  # each candidate's gain, then the best one's update
            update = t == trials
            x = picks[best] if update else picks[t]
            gain = 0.0
            for g in range(groups):
                gap = np.float32(0.0)
                for d in range(dims):
                    step = max(low[g, d] - points[x, d], points[x, d] - high[g, d], np.float32(0.0))
                    gap += step * step
                if gap > widest[g] * margin:
                    continue
                farthest = np.float32(0.0)
                for r in range(g * _GROUP, min(n, (g + 1) * _GROUP)):
                    i = order[r]
                    value = np.float32(0.0)
                    for d in range(dims):
                        step = points[i, d] - points[x, d]
                        value += step * step
                    near = closest[i]
                    if value < near:
                        if update:
                            closest[i] = near = value
                            stale[i // _DRAW_BLOCK] = True
                        else:
                            gain += (near - value) * mass[i]
                    farthest = max(farthest, near)
                if update:
                    widest[g] = farthest
            if not update and gain > best_gain:
                best, best_gain = t, gain
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


def plusplus(points: np.ndarray, weights: np.ndarray, first: int, uniforms: np.ndarray) -> np.ndarray:
    """Indices of the k-means++ centres (see :func:`_plusplus`), ``first`` the first of them,
    one row of ``uniforms`` (in [0, 1)) per further centre, one column per candidate."""
    single = np.ascontiguousarray(points, dtype=np.float32)
    closest = ((single - single[first]) ** 2).sum(axis=1)
    chosen = np.empty(len(uniforms) + 1, dtype=np.intp)
    chosen[0] = first
    _compile()
    _plusplus(
        single, weights.astype(np.float64), weights.astype(np.float32), closest, uniforms, chosen,
        curve_order(single),
    )  # fmt: skip
    return chosen


def settle_points(
    points: np.ndarray,
    centers: np.ndarray,
    labels: np.ndarray,
    upper: np.ndarray,
    second: np.ndarray,
    near: np.ndarray,
    lower: np.ndarray,
    chunk: int,
) -> np.ndarray:
    """Make every label the nearest centre (bounds updated in place); returns the points
    swapped with their runner-up, then the points searched again, each in order.
    From ``chunk`` points on, they are shared among threads (:func:`_chunks`); the
    answer does not depend on how many."""
    centres = Centres(centers)
    rows, half_gap = np.ascontiguousarray(centers, dtype=np.float64), centres.half_gaps()
    swapped = np.empty(len(points), dtype=np.intp)
    looked = np.empty(len(points), dtype=np.intp)
    _compile()
    local = len(rows) >= LOCAL_SEARCH_CENTRES and len(points) >= LOCAL_SEARCH_POINTS
    neighbours = np.empty((len(rows), LOCAL_SEARCH_NEIGHBOURS if local else 0), dtype=np.intp)
    reach = np.zeros(len(rows))
    if local:
        _near_centres(rows, centres.columns, neighbours, reach)

    def settle(start: int, stop: int) -> tuple[int, int, int]:
        swaps, looks = _settle(
            points, start, stop, rows, centres.columns, neighbours, reach, half_gap,
            labels, upper, second, near, lower, swapped, looked,
        )  # fmt: skip
        return start, swaps, looks

    counts = _chunks(settle, len(points), chunk)
    if not counts:
        return np.empty(0, dtype=np.intp)
    return np.concatenate(
        [swapped[start : start + swaps] for start, swaps, _ in counts]
        + [looked[start : start + looks] for start, _, looks in counts]
    )
