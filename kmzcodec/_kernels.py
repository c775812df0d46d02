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
scan runs only when they cannot prove the answer (:func:`_search_near`); a first
look-up of many points tries the previous point's nearest centre likewise.
Equal distances go to the lower centre index. (The nearest centre alone is found by
:mod:`kmzcodec._walk`.) A point settled by its bounds keeps its label, so where two
centres are exactly as near the label depends on which points were searched.

A Lloyd step is three calls (:func:`kmzcodec.lloyd.lloyd`): the centres moved
(:mod:`kmzcodec._sums`), the points settled with their bounds loosened on the way
(:func:`settle_points`), the cluster sums updated by the points that changed cluster
(:mod:`kmzcodec._sums`).

Compiled by numba at the first call, cached on disk (importing numba costs
about 0.3 s, which decoding need not pay).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from . import _sums, _walk
from .bands import map_bands
from .jit import compile_in_place
from .threads import cpu_budget

T = TypeVar("T")

_COMPILED: list[bool] = []


def _compile() -> None:
    _sums._compile()  # _settle_and_shift calls _sums._shift_sums
    compile_in_place(
        globals(),
        (
            "_squared_distances",
            "_keep_three",
            "_search",
            "_insert",
            "_prepare",
            "_search_near",
            "_search_all",
            "_settle",
            "_nearby",
            "_settle_one",
            "_settle_and_shift",
        ),
        _COMPILED,
    )


def _chunks(function: Callable[[int, int], T], count: int, least: int) -> list[T]:
    """``function(start, stop)`` over ``count`` items: from ``least`` items on, in one
    chunk per thread of this encode's CPU budget (:func:`~kmzcodec.bands.map_bands`),
    results in chunk order. Fewer items are one direct call, since these calls come by
    the hundred and a thread pool's set-up (about 0.1 ms) would show. Every caller's
    items are independent, so the answer does not depend on how they are cut."""
    if _one_call(count, least):
        return [function(0, count)] if count else []
    return map_bands(function, count, 1, -(-count // cpu_budget()))


def _one_call(count: int, least: int) -> bool:
    """Whether :func:`_chunks` makes ``count`` items one direct call."""
    return count < least or cpu_budget() < 2


#: Nearest-only look-ups walk the centres' neighbour tables (:mod:`kmzcodec._walk`) up to
#: this many centres; above it the tables (K x K distances and orders) cost more memory and
#: time than they save, and the look-up is the exact search the Lloyd checks use, which
#: gives the same nearest centre (equal distances to the lower index) in O(K) memory.
WALK_MAX_CENTRES = 1024


class Centres:
    """Centres laid out for :func:`_search` (one contiguous row per coordinate)."""

    def __init__(self, centers: np.ndarray) -> None:
        self.columns = np.ascontiguousarray(np.asarray(centers, dtype=np.float64).T)
        self._walk: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def _walk_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The centres as rows, each one's others nearest first and their distances: made at
        the first walk and kept (at K = 256 they cost more than walking 10,000 points)."""
        if self._walk is None:
            rows = np.ascontiguousarray(self.columns.T)
            apart = np.sqrt(((rows[:, None, :] - rows[None, :, :]) ** 2).sum(axis=2))
            neighbours = np.argsort(apart, axis=1, kind="stable")[:, 1:]
            self._walk = rows, neighbours, np.take_along_axis(apart, neighbours, axis=1)
        return self._walk

    def nearest(
        self, points: np.ndarray, index: np.ndarray | None, depth: int, chunk: int = 1 << 62
    ) -> tuple[np.ndarray, np.ndarray]:
        """Distances and indices (m, depth) of the ``depth`` (<= 3) nearest centres of
        ``points[index]`` (all points when ``index`` is None), nearest first, as a
        k-d tree query answers. From ``chunk`` points on, they are shared among threads (:func:`_chunks`)."""
        if index is None:
            index = np.arange(len(points))
        # The walk's tables are K x K (and slower than the search from about K = 1,000): a
        # given palette of tens of thousands of entries would need tens of GB for them.
        walk = depth == 1 and 2 < self.columns.shape[1] <= WALK_MAX_CENTRES
        # The walk finds the nearest only: one column (the memory of 14.7 MP images' colours).
        distances = np.empty((len(index), 1 if walk else 3))
        nearest = np.empty((len(index), 1 if walk else 3), dtype=np.intp)
        index = index.astype(np.intp, copy=False)
        _compile()
        if walk:
            rows, neighbours, gaps = self._walk_tables()
            _walk._compile()

            def search(start: int, stop: int) -> None:
                _walk._walk_all(
                    points,
                    index[start:stop],
                    rows,
                    neighbours,
                    gaps,
                    distances[start:stop],
                    nearest[start:stop],
                )

        else:
            k = self.columns.shape[1]
            rows = np.ascontiguousarray(self.columns.T)
            local = k >= LOCAL_SEARCH_CENTRES and len(index) >= LOCAL_SEARCH_POINTS
            width = LOCAL_SEARCH_NEIGHBOURS if local else 0
            neighbours = np.empty((k, width), dtype=np.intp)
            near = np.empty((k, width + 1), dtype=np.intp)
            near_columns = np.empty((k, rows.shape[1], width + 1))
            reach = np.zeros(k)
            if local:
                _prepare(
                    rows,
                    np.empty_like(self.columns),
                    neighbours,
                    reach,
                    np.empty(k),
                    False,
                    near,
                    near_columns,
                )

            def search(start: int, stop: int) -> None:
                _search_all(
                    points, index[start:stop], self.columns, near, near_columns, reach,
                    distances[start:stop], nearest[start:stop],
                )  # fmt: skip

        _chunks(search, len(index), chunk)
        return distances[:, :depth], nearest[:, :depth]


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
        # _keep_three's rule, simpler for a scan in index order (a third of the time at
        # K = 256): an equal distance never displaces the lower index seen before it.
        value = squared[j]
        if value < third:
            if value < second:
                third, at_third = second, at_second
                if value < first:
                    second, at_second = first, at_first
                    first, at_first = value, j
                else:
                    second, at_second = value, j
            else:
                third, at_third = value, j
    best_distance[0], best_distance[1], best_distance[2] = first, second, third
    best_index[0], best_index[1], best_index[2] = at_first, at_second, at_third


def _search_all(points, index, columns, near, near_columns, reach, distances, nearest):  # type: ignore[no-untyped-def]
    """The three nearest centres of each point ``index``: :func:`_search`'s answer, found
    where it can be among the previous point's nearest centre and its neighbours
    (:func:`_search_near`; ``near`` with one column, the centre alone: always by the full scan)."""
    best_distance = np.empty(3)
    best_index = np.empty(3, dtype=np.intp)
    squared = np.empty(columns.shape[1])
    values = np.empty(near.shape[1])
    guess = 0
    for row in range(index.shape[0]):
        i = index[row]
        if near.shape[1] == 1 or not _search_near(
            points, i, guess, near, near_columns, reach, best_distance, best_index, values
        ):
            _search(points, i, columns, squared, best_distance, best_index)
        guess = best_index[0]
        for slot in range(3):
            distances[row, slot] = np.sqrt(best_distance[slot])
            nearest[row, slot] = best_index[slot]


#: Lloyd searches with at least this many centres (and LOCAL_SEARCH_POINTS points to
#: settle) first measure only the label's LOCAL_SEARCH_NEIGHBOURS nearest centres, and
#: fall back to all of them only when that cannot prove the three nearest.
LOCAL_SEARCH_CENTRES = 64
LOCAL_SEARCH_POINTS = 4096
LOCAL_SEARCH_NEIGHBOURS = 16


def _insert(value, c, best, neighbours, a):  # type: ignore[no-untyped-def]
    """Put centre ``c`` at squared distance ``value`` (below ``best[-1]``) into the sorted
    list ``neighbours[a]`` of the nearest centres so far, ``best`` their squared distances."""
    slot = best.shape[0] - 1
    while slot > 0 and value < best[slot - 1]:
        best[slot] = best[slot - 1]
        neighbours[a, slot] = neighbours[a, slot - 1]
        slot -= 1
    best[slot] = value
    neighbours[a, slot] = c


def _prepare(centers, columns, neighbours, reach, half_gap, known, near, near_columns):  # type: ignore[no-untyped-def]
    """What the Lloyd checks need of the centres: ``columns``, the centres laid out by
    coordinate (for :func:`_search`); ``half_gap``, half the distance from each centre to
    its nearest other one (inf for a single centre); and, when ``neighbours`` has columns,
    each centre's ``neighbours.shape[1]`` nearest other centres, with ``reach`` the
    distance to the last of them (every centre not listed is at least that far), and the
    table :func:`_search_near` reads: ``near[a]``, centre a then its neighbours, and
    ``near_columns[a]``, their coordinates laid out by coordinate.

    ``known``: ``neighbours`` holds the lists of the centres a step before, offered first
    (centres move little in a step, so the list is then nearly full and few others get in;
    a list with ties at its end may differ, but any list with its reach proves as well).
    With lists, the half gap is read off the list's first entry (the nearest other centre)."""
    k, dims = centers.shape
    for d in range(dims):
        for j in range(k):
            columns[d, j] = centers[j, d]
    count = neighbours.shape[1]
    best = np.empty(max(count, 1))
    before = np.empty(max(count, 1), dtype=np.intp)
    squared = np.empty(k)
    for a in range(k):
        _squared_distances(centers, a, columns, squared)
        squared[a] = np.inf
        if count == 0:
            closest = np.inf
            for c in range(k):
                closest = min(closest, squared[c])
            half_gap[a] = np.sqrt(closest) / 2
            continue
        best[:] = np.inf
        if known:
            for slot in range(count):
                before[slot] = neighbours[a, slot]
        neighbours[a, :] = a
        if known:
            for slot in range(count):
                c = before[slot]
                if squared[c] < best[count - 1]:
                    _insert(squared[c], c, best, neighbours, a)
                    squared[c] = np.inf  # offered: not again in the scan below
        threshold = best[count - 1]
        for c in range(k):
            if squared[c] < threshold:
                _insert(squared[c], c, best, neighbours, a)
                threshold = best[count - 1]
        # The nearest other centre is the list's first (a shorter list than there are
        # other centres ends in a, at distance inf).
        half_gap[a] = np.sqrt(best[0]) / 2
        reach[a] = np.sqrt(best[count - 1])
        for slot in range(count + 1):
            c = a if slot == 0 else neighbours[a, slot - 1]
            near[a, slot] = c
            for d in range(dims):
                near_columns[a, d, slot] = centers[c, d]


def _search_near(points, i, label, near, near_columns, reach, best_distance, best_index, values):  # type: ignore[no-untyped-def]
    """:func:`_search`'s answer from ``label`` and its listed neighbours alone (``near[label]``,
    their coordinates ``near_columns[label]``: see :func:`_prepare`), when they prove it: any
    other centre c is at least reach[label] - |p label| from the point, so once that exceeds
    the third distance found, no other centre can be among the three nearest. Returns False
    (buffers undefined) when it cannot tell. ``values``: scratch, one entry per listed centre.

    The distances are measured first, one loop per coordinate over the listed centres
    (which the compiler vectorises), with the arithmetic of :func:`_squared_distances`."""
    dims, count = near_columns.shape[1], near_columns.shape[2]
    values[:] = 0.0
    for d in range(dims):
        value = points[i, d]
        for slot in range(count):
            step = value - near_columns[label, d, slot]
            values[slot] += step * step
    first = second = third = np.inf
    at_first = at_second = at_third = near.shape[0]
    for slot in range(count):
        first, at_first, second, at_second, third, at_third = _keep_three(
            values[slot], near[label, slot], first, at_first, second, at_second, third, at_third
        )
    if not reach[label] - np.sqrt(values[0]) > np.sqrt(third) + 1e-6:
        return False
    best_distance[0], best_distance[1], best_distance[2] = first, second, third
    best_index[0], best_index[1], best_index[2] = at_first, at_second, at_third
    return True


def _settle(  # type: ignore[no-untyped-def]
    points, start, stop, centers, columns, table, table_columns, reach, half_gap, shift, largest,
    nearby, labels, upper, second, near, lower, previous, swapped, looked,
):  # fmt: skip
    """Hamerly's check with the runner-up for points start..stop-1, in place, after centre j
    moved by ``shift[j]``. Returns the counts of points whose label changed by a swap with
    the runner-up (listed in ``swapped`` from ``start`` on) and of those whose label changed
    after a search (in ``looked``, likewise), ``previous[i]`` the label point i had before.

    The upper bound and the runner-up's are loosened by their own centres' shifts. The
    bound on every other centre, with neighbour lists (``table`` wider than one column), is
    loosened per label rather than by the largest move of all (``largest``, which one far
    centre still moving makes large for every point): a centre on the label's list moved at
    most ``nearby[label]`` (the most any of them moved), and an unlisted one is at least
    ``reach[label]`` from the label, so at least reach - upper from the point, or the old
    bound less ``largest``, whichever is more. The two are taken again once the distance to
    the label is measured. ``nearby`` and ``largest`` may come from other moves than
    ``shift`` (see :func:`settle_points`)."""
    dims = points.shape[1]
    depth = min(3, centers.shape[0])
    best_distance = np.empty(3)
    best_index = np.empty(3, dtype=np.intp)
    squared = np.empty(centers.shape[0])
    values = np.empty(table.shape[1])
    swaps = 0
    looks = 0
    for i in range(start, stop):
        label = labels[i]
        upper[i] += shift[label]
        near[i] -= shift[second[i]]
        if table.shape[1] == 1:
            lower[i] -= largest
            listed = unlisted = lower[i]
        else:
            listed = lower[i] - nearby[label]
            unlisted = lower[i] - largest
            lower[i] = min(listed, max(unlisted, reach[label] - upper[i]))
        bound = max(min(near[i], lower[i]), half_gap[label])
        if upper[i] <= bound:
            continue
        total = 0.0
        for d in range(dims):
            step = points[i, d] - centers[label, d]
            total += step * step
        upper[i] = np.sqrt(total)
        lower[i] = min(listed, max(unlisted, reach[label] - upper[i]))
        bound = max(min(near[i], lower[i]), half_gap[label])
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
            if other != label:
                previous[i] = label
                swapped[start + swaps] = i
                swaps += 1
            continue
        if table.shape[1] == 1 or not _search_near(
            points, i, label, table, table_columns, reach, best_distance, best_index, values
        ):
            _search(points, i, columns, squared, best_distance, best_index)
        labels[i] = best_index[0]
        upper[i] = np.sqrt(best_distance[0])
        second[i] = best_index[1]
        near[i] = np.sqrt(best_distance[1])
        lower[i] = np.sqrt(best_distance[depth - 1])
        if labels[i] != label:
            previous[i] = label
            looked[start + looks] = i
            looks += 1
    return swaps, looks


def _settle_one(  # type: ignore[no-untyped-def]
    points, centers, columns, neighbours, reach, half_gap, known, table, table_columns, shift, spread,
    labels, upper, second, near, lower, previous, swapped, looked,
):  # fmt: skip
    """:func:`_prepare` then :func:`_settle` of every point, in one call: what
    :func:`settle_points` does on one thread (a Lloyd run makes a call a step, and on small
    images the calls' own cost shows). ``largest`` and ``nearby`` are made from ``spread``
    as there (maxima: the same values)."""
    _prepare(centers, columns, neighbours, reach, half_gap, known, table, table_columns)
    return _settle(
        points, 0, points.shape[0], centers, columns, table, table_columns, reach, half_gap, shift,
        spread.max(), _nearby(spread, table), labels, upper, second, near, lower, previous, swapped,
        looked,
    )  # fmt: skip


def _nearby(spread, table):  # type: ignore[no-untyped-def]
    """For each centre, the most any centre on its list (``table[a, 1:]``, see :func:`_prepare`)
    moved, ``spread`` being each centre's move; ``spread`` itself without lists."""
    if table.shape[1] == 1:
        return spread
    nearby = np.empty(table.shape[0])
    for a in range(table.shape[0]):
        most = spread[table[a, 1]]
        for slot in range(2, table.shape[1]):
            most = max(most, spread[table[a, slot]])
        nearby[a] = most
    return nearby


def _settle_and_shift(  # type: ignore[no-untyped-def]
    points, weights, centers, columns, neighbours, reach, half_gap, known, table, table_columns, shift,
    labels, upper, second, near, lower, previous, swapped, looked, mass, sums,
):  # fmt: skip
    """A Lloyd step after the centres moved, on one thread, in one call: the points settled
    (:func:`_settle_one`, ``spread`` = ``shift``) and the cluster sums updated by those whose
    label changed, swapped ones first, then searched ones, each in order, as
    :func:`kmzcodec.lloyd.lloyd` does it with :func:`settle_points`."""
    swaps, looks = _settle_one(
        points, centers, columns, neighbours, reach, half_gap, known, table, table_columns, shift, shift,
        labels, upper, second, near, lower, previous, swapped, looked,
    )  # fmt: skip
    if swaps + looks:
        moving = np.empty(swaps + looks, dtype=np.intp)
        moving[:swaps] = swapped[:swaps]
        moving[swaps:] = looked[:looks]
        _sums._shift_sums(points, weights, moving, previous, labels, mass, sums)
    return swaps + looks


class Scratch:
    """Buffers of :func:`settle_points` for ``n`` points and ``k`` centres in ``dims``
    dimensions, kept through the steps of one Lloyd run: ``previous``, ``swapped`` and
    ``looked`` (n entries each), and what :func:`_prepare` makes of the centres (the
    neighbour lists of one step are the first guesses of the next)."""

    def __init__(self, n: int, k: int, dims: int) -> None:
        self.previous, self.swapped, self.looked = (np.empty(n, dtype=np.intp) for _ in range(3))
        local = k >= LOCAL_SEARCH_CENTRES and n >= LOCAL_SEARCH_POINTS
        width = LOCAL_SEARCH_NEIGHBOURS if local else 0
        self.neighbours = np.empty((k, width), dtype=np.intp)
        self.near, self.near_columns = np.empty((k, width + 1), dtype=np.intp), np.empty((k, dims, width + 1))
        self.columns, self.half_gap, self.reach = np.empty((dims, k)), np.empty(k), np.zeros(k)
        self.known = False


def settle_points(
    points: np.ndarray,
    centers: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    chunk: int,
    shift: np.ndarray,
    scratch: Scratch,
    spread: np.ndarray | None = None,
) -> np.ndarray:
    """Make every label the nearest centre after centre j moved by ``shift[j]``; the bounds
    (labels, upper, second, near, lower) are loosened by the shifts and updated in place.
    ``spread`` (default ``shift``): how far each centre other than a point's label and
    runner-up may have come nearer, for the bound on them (:func:`_settle`) when that is
    not ``shift`` (the palette's entries, each the rounding of one or more centres).
    Returns the points whose label changed, those swapped with their runner-up first, then
    those searched again, each in order; ``scratch.previous[i]`` is then the label such a
    point i had before. From ``chunk`` points on, they are shared among threads
    (:func:`_chunks`); the answer does not depend on how many."""
    rows = np.ascontiguousarray(centers, dtype=np.float64)
    _compile()
    spread = shift if spread is None else spread
    if len(points) and _one_call(len(points), chunk):
        swaps, looks = _settle_one(
            points, rows, scratch.columns, scratch.neighbours, scratch.reach, scratch.half_gap,
            scratch.known, scratch.near, scratch.near_columns, shift, spread, *bounds,
            scratch.previous, scratch.swapped, scratch.looked,
        )  # fmt: skip
        scratch.known = True
        return np.concatenate([scratch.swapped[:swaps], scratch.looked[:looks]])
    _prepare(
        rows, scratch.columns, scratch.neighbours, scratch.reach, scratch.half_gap, scratch.known,
        scratch.near, scratch.near_columns,
    )  # fmt: skip
    scratch.known = True
    largest = float(spread.max())
    nearby = _nearby(spread, scratch.near)

    def settle(start: int, stop: int) -> tuple[int, int, int]:
        swaps, looks = _settle(
            points, start, stop, rows, scratch.columns, scratch.near, scratch.near_columns, scratch.reach,
            scratch.half_gap,
            shift, largest, nearby, *bounds, scratch.previous, scratch.swapped, scratch.looked,
        )  # fmt: skip
        return start, swaps, looks

    counts = _chunks(settle, len(points), chunk)
    swapped, looked = scratch.swapped, scratch.looked
    if not counts:
        return np.empty(0, dtype=np.intp)
    if len(counts) == 1:
        _, swaps, looks = counts[0]
        return np.concatenate([swapped[:swaps], looked[:looks]])
    return np.concatenate(
        [swapped[start : start + swaps] for start, swaps, _ in counts]
        + [looked[start : start + looks] for start, _, looks in counts]
    )


def settle_and_shift(
    points: np.ndarray,
    weights: np.ndarray,
    centers: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    chunk: int,
    shift: np.ndarray,
    scratch: Scratch,
    mass: np.ndarray,
    sums: np.ndarray,
) -> None:
    """:func:`settle_points`, then the cluster sums ``mass`` and ``sums`` updated by the points
    whose label changed (:func:`kmzcodec._sums._shift_sums`): one compiled call where the
    points are settled on one thread. ``points``, ``weights`` and ``centers``: contiguous float64."""
    _compile()
    if len(points) and _one_call(len(points), chunk):
        _settle_and_shift(
            points, weights, centers, scratch.columns, scratch.neighbours, scratch.reach, scratch.half_gap,
            scratch.known, scratch.near, scratch.near_columns, shift, *bounds,
            scratch.previous, scratch.swapped, scratch.looked, mass, sums,
        )  # fmt: skip
        scratch.known = True
        return
    moving = settle_points(points, centers, bounds, chunk, shift, scratch)
    if moving.size:
        _sums._shift_sums(points, weights, moving, scratch.previous, bounds[0], mass, sums)
