"""The compiled nearest-centre search and the Lloyd bound checks (kmzcodec._kernels)."""

from __future__ import annotations

import dataclasses
import tracemalloc

import numpy as np
import pytest

from kmzcodec._kernels import WALK_MAX_CENTRES, Centres
from kmzcodec._plusplus import plusplus
from kmzcodec.lloyd import lloyd, settle
from kmzcodec.settings import DEFAULT_SETTINGS
from kmzcodec.threads import cpu_share


def _squared(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    return ((points[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)


@pytest.mark.parametrize("k", [2, 3, 17, 256])
def test_search_finds_the_nearest_centres_in_order(k: int) -> None:
    rng = np.random.default_rng(k)
    points = rng.integers(0, 256, (3000, 3)).astype(np.float64)
    centers = rng.random((k, 3)) * 255
    depth = min(3, k)
    distances, nearest = Centres(centers).nearest(points, None, depth)
    expected = np.sort(_squared(points, centers), axis=1)[:, :depth]
    np.testing.assert_allclose(distances**2, expected)
    found = _squared(points, centers)[np.arange(len(points))[:, None], nearest]
    np.testing.assert_allclose(found, expected)


def test_equal_distances_go_to_the_lower_index() -> None:
    centers = np.array([[10.0, 0, 0], [0, 0, 0], [0, 0, 0], [20.0, 0, 0]])
    points = np.array([[5.0, 0, 0], [0, 0, 0], [15.0, 0, 0]])
    _, nearest = Centres(centers).nearest(points, None, 3)
    assert nearest[:, 0].tolist() == [0, 1, 0]
    assert nearest[1].tolist() == [1, 2, 0]


def test_settle_after_moves_labels_every_point_with_its_nearest_centre() -> None:
    rng = np.random.default_rng(7)
    points = rng.normal(128, 40, (5000, 3))
    weights = rng.integers(1, 50, len(points)).astype(np.float64)
    centers, bounds = lloyd(points, weights, points[:64].copy(), 5, DEFAULT_SETTINGS)
    moved = centers + rng.normal(0, 3, centers.shape)
    shift = np.sqrt(((moved - centers) ** 2).sum(axis=1))
    bounds.moved(shift)
    bounds, _ = settle(points, moved, bounds, DEFAULT_SETTINGS)
    _check_bounds(points, moved, bounds)


def test_chunks_on_threads_give_the_same_answer_as_one_pass() -> None:
    rng = np.random.default_rng(3)
    points = rng.normal(128, 40, (20000, 3))
    weights = rng.integers(1, 50, len(points)).astype(np.float64)
    start = points[:32].copy()
    whole = lloyd(points, weights, start, 6, DEFAULT_SETTINGS)
    chunked = dataclasses.replace(DEFAULT_SETTINGS, threaded_points=3000)
    with cpu_share(1):  # all the CPUs: several chunks at once where there are several
        parts = lloyd(points, weights, start, 6, chunked)
    assert np.array_equal(whole[0], parts[0])
    assert np.array_equal(whole[1].labels, parts[1].labels)
    assert np.array_equal(whole[1].lower, parts[1].lower)


@pytest.mark.parametrize("k", [3, 16, 256, 1500])  # 1500: above WALK_MAX_CENTRES, the search answers
def test_nearest_alone_is_exact_with_ties_to_the_lower_index(k: int) -> None:
    rng = np.random.default_rng(k)
    points = np.sort(rng.integers(0, 256, (4000, 3)), axis=0).astype(np.float64)
    centers = rng.integers(0, 256, (k, 3)).astype(np.float64)
    centers[1] = centers[0]  # a duplicate: its points go to entry 0
    squared = _squared(points, centers)
    distances, nearest = Centres(centers).nearest(points, None, 1)
    assert np.array_equal(nearest[:, 0], squared.argmin(axis=1))  # argmin: the first of equals
    np.testing.assert_allclose(distances[:, 0] ** 2, squared.min(axis=1))


def test_nearest_alone_with_many_centres_needs_no_centres_by_centres_table() -> None:
    """A given palette of tens of thousands of entries (an image's colours, kmz encode
    --palette photo.jpg) once built K x K walk tables: 30 GB and the OOM killer at K = 31,557.
    At K = 6,000 that was over 1 GB; now the memory is that of the points and centres."""
    rng = np.random.default_rng(5)
    centers = rng.integers(0, 256, (6000, 3)).astype(np.float64)
    points = rng.integers(0, 256, (2000, 3)).astype(np.float64)
    assert len(centers) > WALK_MAX_CENTRES
    tracemalloc.start()
    try:
        _, nearest = Centres(centers).nearest(points, None, 1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    assert np.array_equal(nearest[:, 0], _squared(points, centers).argmin(axis=1))


def _plusplus_by_brute_force(
    points: np.ndarray, weights: np.ndarray, first: int, uniforms: np.ndarray
) -> list[int]:
    """Greedy k-means++ measuring every point for every candidate (float32 distances, as the kernel)."""
    single = points.astype(np.float32)
    closest = ((single - single[first]) ** 2).sum(axis=1)
    chosen = [first]
    for row in uniforms:
        cumulative = np.cumsum(weights * closest)
        picks = np.minimum(np.searchsorted(cumulative, row * cumulative[-1], side="right"), len(points) - 1)
        candidates = [np.minimum(((single - single[pick]) ** 2).sum(axis=1), closest) for pick in picks]
        inertias = [float(weights @ candidate) for candidate in candidates]
        best = int(np.argmin(inertias))
        closest = candidates[best]
        chosen.append(int(picks[best]))
    return chosen


@pytest.mark.parametrize("k, trials", [(5, 4), (40, 2), (120, 7)])
def test_plusplus_skipping_far_groups_picks_as_measuring_every_point(k: int, trials: int) -> None:
    rng = np.random.default_rng(k)
    # Clumps of colours, as photographs have: most groups are far from most candidates.
    middles = rng.integers(0, 256, (12, 3))
    points = np.clip(middles[rng.integers(0, 12, 4000)] + rng.normal(0, 9, (4000, 3)), 0, 255).round()
    weights = rng.integers(1, 50, len(points)).astype(np.float64)
    uniforms = rng.random((k - 1, trials))
    chosen = plusplus(points, weights, 7, uniforms)
    assert chosen.tolist() == _plusplus_by_brute_force(points, weights, 7, uniforms)


def test_local_search_answers_as_the_full_search_or_declines() -> None:
    from kmzcodec import _kernels

    rng = np.random.default_rng(11)
    centers = rng.integers(0, 256, (256, 3)).astype(np.float64)
    centers[5] = centers[4]  # equal distances: the lower index first, as the full scan
    points = np.clip(centers[rng.integers(0, 256, 3000)] + rng.normal(0, 6, (3000, 3)), 0, 255).round()
    points[:300] = np.clip(centers[4] + rng.normal(0, 3, (300, 3)), 0, 255).round()  # near the twins
    columns = np.empty((3, 256))
    width = _kernels.LOCAL_SEARCH_NEIGHBOURS
    neighbours = np.empty((256, width), dtype=np.intp)
    near, near_columns = np.empty((256, width + 1), dtype=np.intp), np.empty((256, 3, width + 1))
    reach, half_gap = np.empty(256), np.empty(256)
    _kernels._compile()
    _kernels._prepare(centers, columns, neighbours, reach, half_gap, False, near, near_columns)
    assert np.array_equal(columns, centers.T)
    # The table of the local search: each centre, then its neighbours, with their coordinates.
    assert np.array_equal(near, np.hstack([np.arange(256)[:, None], neighbours]))
    assert np.array_equal(near_columns, centers[near].transpose(0, 2, 1))
    squared = _squared(centers, centers)
    np.fill_diagonal(squared, np.inf)
    np.testing.assert_allclose(reach**2, np.sort(squared, axis=1)[:, neighbours.shape[1] - 1])
    np.testing.assert_allclose(half_gap, np.sqrt(squared.min(axis=1)) / 2)
    near_distance, near_index = np.empty(3), np.empty(3, dtype=np.intp)
    full_distance, full_index = np.empty(3), np.empty(3, dtype=np.intp)
    answered = 0
    for i in range(len(points)):
        label = (
            int(rng.integers(0, 256)) if i % 10 == 0 else int(_squared(points[i : i + 1], centers).argmin())
        )
        label = 5 if i < 300 and i % 2 else label  # the twin with the higher index as the label
        if _kernels._search_near(
            points, i, label, near, near_columns, reach, near_distance, near_index, np.empty(width + 1)
        ):
            answered += 1
            _kernels._search(points, i, columns, np.empty(256), full_distance, full_index)
            assert near_index.tolist() == full_index.tolist()
            assert near_distance.tolist() == full_distance.tolist()
    assert answered > len(points) // 2  # it answers most searches itself


def _lloyd_by_numpy(points: np.ndarray, weights: np.ndarray, centers: np.ndarray, steps: int) -> tuple:
    """The Lloyd loop as whole-array numpy steps (as kmzcodec.lloyd had it before its steps
    were compiled): labels by a full search each step, centres and shifts by numpy."""

    def labels_of(centers: np.ndarray) -> np.ndarray:
        return Centres(centers).nearest(points, None, 3)[1][:, 0]

    labels = labels_of(centers)
    for _ in range(steps):
        mass = np.bincount(labels, weights=weights, minlength=len(centers))
        sums = np.stack(
            [
                np.bincount(labels, weights=points[:, d] * weights, minlength=len(centers))
                for d in range(points.shape[1])
            ],
            axis=1,
        )
        moved = centers.copy()
        alive = mass > 0
        moved[alive] = sums[alive] / mass[alive, None]
        shift = np.sqrt(((moved - centers) ** 2).sum(axis=1))
        centers = moved
        if shift.max() <= DEFAULT_SETTINGS.shift_tolerance:
            break
        labels = labels_of(centers)
    return centers, labels


@pytest.mark.parametrize("k, dims", [(2, 3), (16, 3), (64, 4), (256, 3), (40, 1)])
def test_compiled_lloyd_steps_match_whole_array_numpy(k: int, dims: int) -> None:
    # Integer colours with counts, as histograms have them: the compiled steps add the
    # sums in the order numpy did, so the centres agree to the bit, not just closely.
    rng = np.random.default_rng(k + dims)
    points = np.unique(rng.integers(0, 256, (6000, dims)), axis=0).astype(np.float64)
    weights = rng.integers(1, 40, len(points)).astype(np.float64)
    start = points[rng.choice(len(points), k, replace=False)]
    centers, bounds = lloyd(points, weights, start, 7, DEFAULT_SETTINGS)
    expected, labels = _lloyd_by_numpy(points, weights, start, 7)
    assert np.array_equal(centers, expected)
    # The last move is left pending: the bounds are for the centres before it, and a
    # settle loosens them by it, after which every label is the nearest centre.
    assert bounds.pending is not None
    squared = _squared(points, centers)
    bounds, _ = settle(points, centers, bounds, DEFAULT_SETTINGS)
    assert bounds.pending is None
    assert np.array_equal(squared[np.arange(len(points)), bounds.labels], squared.min(axis=1))


def test_look_ups_from_the_previous_colours_answer_as_the_full_scan() -> None:
    # From LOCAL_SEARCH_POINTS points on, a look-up first tries the previous point's nearest
    # centre and its neighbours; fewer points always take the full scan. Same answers.
    from kmzcodec import _kernels

    rng = np.random.default_rng(9)
    points = np.unique(rng.integers(0, 256, (20000, 3)), axis=0).astype(np.float64)
    centers = rng.integers(0, 256, (256, 3)).astype(np.float64)
    centers[7] = centers[3]  # equal distances: the lower index first
    whole = Centres(centers).nearest(points, None, 3)
    step = _kernels.LOCAL_SEARCH_POINTS - 1
    parts = [
        Centres(centers).nearest(points, np.arange(i, min(i + step, len(points))), 3)
        for i in range(0, len(points), step)
    ]
    assert np.array_equal(whole[1], np.concatenate([part[1] for part in parts]))
    assert np.array_equal(whole[0], np.concatenate([part[0] for part in parts]))


def test_neighbour_lists_from_a_step_before_give_the_same_lists() -> None:
    from kmzcodec import _kernels

    rng = np.random.default_rng(5)
    centers = rng.random((256, 3)) * 255
    width = _kernels.LOCAL_SEARCH_NEIGHBOURS

    def prepared(centers: np.ndarray, neighbours: np.ndarray, known: bool) -> tuple:
        columns, reach, half_gap = np.empty((3, 256)), np.empty(256), np.empty(256)
        near, near_columns = np.empty((256, width + 1), dtype=np.intp), np.empty((256, 3, width + 1))
        _kernels._compile()
        _kernels._prepare(centers, columns, neighbours, reach, half_gap, known, near, near_columns)
        return neighbours, reach, half_gap

    before, _, _ = prepared(centers, np.empty((256, width), dtype=np.intp), False)
    moved = centers + rng.normal(0, 2, centers.shape)
    fresh = prepared(moved, np.empty((256, width), dtype=np.intp), False)
    guided = prepared(moved, before.copy(), True)
    assert np.array_equal(fresh[0], guided[0])  # no ties here: the very same lists, in order
    assert np.array_equal(fresh[1], guided[1]) and np.array_equal(fresh[2], guided[2])


def _check_bounds(points: np.ndarray, centers: np.ndarray, bounds) -> None:  # type: ignore[no-untyped-def]
    """Every label is a nearest centre, and the bounds are bounds: upper >= the distance to
    the label, near <= the one to the runner-up, lower <= the one to every other centre."""
    squared = _squared(points, centers)
    rows = np.arange(len(points))
    assert np.array_equal(squared[rows, bounds.labels], squared.min(axis=1))
    distance = np.sqrt(squared)
    assert (bounds.upper >= distance[rows, bounds.labels] - 1e-9).all()
    assert (bounds.near <= distance[rows, bounds.second] + 1e-9).all()
    distance[rows, bounds.labels] = distance[rows, bounds.second] = np.inf
    assert (bounds.lower <= distance.min(axis=1) + 1e-9).all()


def test_settle_loosens_the_third_bound_by_the_moves_near_the_label() -> None:
    # One centre far from most points jumps a long way, the others barely move: the bound
    # on the third centre of a point is loosened by its label's neighbours' moves and by how
    # far the unlisted centres are (not by the one long jump), and still holds everywhere.
    rng = np.random.default_rng(11)
    points = np.unique(rng.integers(0, 256, (9000, 3)), axis=0).astype(np.float64)
    weights = rng.integers(1, 30, len(points)).astype(np.float64)
    centers, bounds = lloyd(
        points, weights, points[rng.choice(len(points), 128, replace=False)], 4, DEFAULT_SETTINGS
    )
    bounds, _ = settle(points, centers, bounds, DEFAULT_SETTINGS)
    before = bounds.lower.copy()
    moved = centers + rng.normal(0, 0.05, centers.shape)
    far = int(np.argmax(((centers - points.mean(axis=0)) ** 2).sum(axis=1)))
    moved[far] += 40.0
    shift = np.sqrt(((moved - centers) ** 2).sum(axis=1))
    bounds.pending = shift
    bounds, _ = settle(points, moved, bounds, DEFAULT_SETTINGS)
    assert bounds.pending is None
    _check_bounds(points, moved, bounds)
    # The bound a global rule would leave (every third bound less the longest move, or a
    # fresh one where a search was made) is beaten almost everywhere (that rule: 63 %).
    assert np.mean(bounds.lower > before - shift.max() + 1e-9) > 0.9


def test_a_pending_move_is_carried_to_finer_points() -> None:
    # A coarse run's last move is left pending; bounds carried onto the finer points keep it,
    # and the fine run's first settle loosens them by it: the labels it starts from are exact.
    rng = np.random.default_rng(5)
    colors = rng.integers(0, 256, (20000, 3)).astype(np.uint8)
    points = np.unique(colors, axis=0).astype(np.float64)
    weights = rng.integers(1, 9, len(points)).astype(np.float64)
    cells = (points // 16).astype(np.int64) @ np.array([256, 16, 1])
    _, cells = np.unique(cells, return_inverse=True)
    mass = np.bincount(cells, weights=weights)
    coarse = (
        np.stack([np.bincount(cells, weights=points[:, d] * weights) for d in range(3)], axis=1)
        / mass[:, None]
    )
    centers, bounds = lloyd(coarse, mass, coarse[:96].copy(), 3, DEFAULT_SETTINGS)
    assert bounds.pending is not None
    fine = bounds.inherited(points, coarse, cells)
    assert fine.pending is bounds.pending
    fine, _ = settle(points, centers, fine, DEFAULT_SETTINGS)
    _check_bounds(points, centers, fine)


@pytest.mark.parametrize("k", [16, 256])
def test_rounded_palette_labels_are_nearest_entries(k: int) -> None:
    # The palette is the centres rounded (one more move of the centres, merged where they
    # round alike): every colour's entry is a nearest one.
    from kmzcodec import quantize

    rng = np.random.default_rng(k)
    colors = np.unique(rng.normal(120, 35, (60000, 3)).clip(0, 255).astype(np.uint8), axis=0)
    counts = rng.integers(1, 20, len(colors))
    palette, labels = quantize.cluster(colors, counts, k, "kmeans", "rgb", 0)
    squared = _squared(colors.astype(np.float64), palette.astype(np.float64))
    assert np.array_equal(squared[np.arange(len(colors)), labels], squared.min(axis=1))


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_cells_are_ranked_as_sorting_their_ids_ranks_them(channels: int) -> None:
    # The table walk gives each colour the rank of its cell's id among those present, as
    # np.unique's inverse does (the stages' points come in that order).
    from kmzcodec.kmeans import cells_of

    rng = np.random.default_rng(channels)
    for n in (1, 7, 3000):
        colors = rng.integers(0, 256, (n, channels)).astype(np.uint8)
        colors[: n // 3] = colors[0]  # repeats, and cells with several colours
        for level in range(1, 8):
            ids = np.zeros(n, dtype=np.int64)
            for channel in range(channels):
                ids = (ids << level) | (colors[:, channel] >> (8 - level))
            expected = np.unique(ids, return_inverse=True)[1].reshape(-1)
            assert np.array_equal(cells_of(colors, level), expected), (n, level)
