"""Image pixels -> (palette, indices) by clustering the colour histogram.

Knows nothing of bytes. The steps, each chosen for speed at equal quality
(README "How the encoder works" has the numbers):

1. Histogram: the distinct colours of the image and their pixel counts. RGB
   pixels are packed into 24-bit keys and sorted once; when a photograph has so
   many distinct colours that clustering them all would be slow, the low bit of
   each channel is dropped (a cell of 2x2x2 colours, represented by the mean of
   its pixels), which costs far less than 0.1 dB.
2. k-means on the histogram with the counts as ``sample_weight``: first on a
   coarse grid of cells (k-means++ seeding, Lloyd to convergence), then a few
   Lloyd steps on the full histogram starting from that solution.
3. Mapping: each distinct colour gets the index of its nearest palette entry,
   and the pixels get theirs through a lookup table indexed by the packed
   colour: one gather over the pixels, never a pixels x K distance matrix.

GMM fits scikit-learn's GaussianMixture on a weighted subsample, started from the
k-means solution; its means are the palette. Dithering is Pillow's C
Floyd-Steinberg against the chosen palette.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import colorspace as spaces
from .bands import map_bands
from .diffusion import MAX_DITHER_COLORS, diffuse, strength
from .errors import KmzError
from .options import METHODS

#: Cell grids (bits per channel) the k-means refines on after seeding, coarse to
#: fine, before the exact colours: each starts from the previous answer, so a
#: few Lloyd steps on many fewer points do most of the work.
LEVELS = (6, 7)
#: Lloyd steps allowed on each grid and on the exact colours.
LEVEL_STEPS = {6: 8, 7: 4}
EXACT_STEPS = 2
#: Work (points x log2 K) a refinement stage may spend beyond its least steps.
STEP_BUDGET = 3_000_000
MAX_STEPS = 12
#: ...and for palettes of up to SMALL_PALETTE entries: their clusters are wide and
#: their centres drift for many steps (evening-glow at K = 16 gains 0.07 dB going
#: from 12 to 30), while Lloyd stops by itself once no centre moves; at K = 256
#: more steps cost 6 % of the time for under 0.01 dB.
SMALL_PALETTE = 64
SMALL_PALETTE_MAX_STEPS = 30
#: Refinement stages with more points than this are skipped.
STAGE_LIMIT = 1 << 18
#: Colours drawn per palette entry for seeding.
SEED_SAMPLE_PER_CLUSTER = 32
#: ...and for small palettes more, up to this many (sample x k, the cost of k-means++).
SEED_SAMPLE_WORK = 1 << 18
#: Large palettes on histograms of at most SEED_ALL_LIMIT colours seed on every colour,
#: with SEED_ALL_TRIALS candidates per centre and no Lloyd steps of their own: a sample
#: drops rare colours that count at high PSNR (kite.jpg, 34 K colours, K = 256: 45.46 dB
#: from a sample, 45.57 from all).
SEED_ALL_LIMIT = 1 << 16
SEED_ALL_TRIALS = 2
#: Lloyd steps on the sample (it usually converges well before).
SEED_STEPS = 20
#: Stop when no centre moves further than this (colour units; palette entries
#: are rounded to whole units anyway).
SHIFT_TOLERANCE = 0.05
#: Grey histograms of up to this many values (all of 8-bit grey) get the exact k-means
#: by dynamic programming, O(K n^2).
EXACT_1D_LIMIT = 256
#: Pixels per band when counting colours (each band is sorted on its own).
HISTOGRAM_BAND = 1 << 20
#: Pixels drawn (by histogram weight) for the Gaussian mixture fit.
GMM_SAMPLE = 8_000
GMM_MAX_ITER = 10
#: Added to every covariance diagonal (squared colour units): keeps components
#: that sit on a single colour from collapsing.
GMM_REG_COVAR = 1.0


@dataclass(frozen=True)
class Quantized:
    """The quantizer's answer: a palette of K entries and one index per pixel."""

    palette: np.ndarray  # (K, channels) uint8; channels 1, 3 or 4
    indices: np.ndarray  # (height, width) uint8 when K <= 256, else uint16
    method: str  # "kmeans", "gmm" or "exact" (the image had <= K colours)
    colorspace: str
    dithered: bool


@dataclass
class _Histogram:
    """The distinct colours of an image, their pixel counts, and the way back to pixels."""

    colors: np.ndarray  # (n, channels) uint8, sorted
    counts: np.ndarray  # (n,) pixel counts
    to_pixels: Callable[[np.ndarray], np.ndarray]  # a label per colour -> (H, W) labels


def _index_dtype(colors: int) -> type:
    return np.uint8 if colors <= 256 else np.uint16


def _histogram_grey(values: np.ndarray) -> _Histogram:
    counts = np.bincount(values.ravel(), minlength=256)
    present = np.flatnonzero(counts)

    def to_pixels(labels: np.ndarray) -> np.ndarray:
        lut = np.zeros(256, dtype=labels.dtype)
        lut[present] = labels
        return lut[values]

    return _Histogram(present.astype(np.uint8)[:, None], counts[present], to_pixels)


def _pack(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3|4) uint8 -> (H, W) uint32 keys, little-endian: R | G << 8 | B << 16 | A << 24.

    RGB pixels get A = 0, so an RGB key is below 2**24 and indexes a table;
    fully transparent RGBA pixels all get key 0.
    """
    height, width, channels = pixels.shape
    if channels == 4:
        keys = np.ascontiguousarray(pixels).view(np.uint32)[:, :, 0].copy()
        keys[keys < 1 << 24] = 0  # alpha 0: the colour is invisible, one key for all
        return keys
    keys = np.empty((height, width), dtype=np.uint32)
    planes = keys.view(np.uint8).reshape(height, width, 4)
    for channel in range(3):  # a plane at a time: several times faster than one (H, W, 3) copy
        planes[:, :, channel] = pixels[:, :, channel]
    planes[:, :, 3] = 0
    return keys


def _merge_counts(tables: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """One sorted, unique (keys, counts) table from several such tables (emptied as they are read)."""
    if len(tables) == 1:
        return tables.pop()
    keys = np.concatenate([keys for keys, _ in tables])
    counts = np.concatenate([counts for _, counts in tables])
    tables.clear()  # the bands' tables go before the sort's copies come
    order = np.argsort(keys, kind="stable")  # a merge of sorted runs
    keys = keys[order]
    counts = counts[order]
    del order
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[starts], np.add.reduceat(counts, starts)


def _histogram_color(pixels: np.ndarray) -> _Histogram:
    """RGB and RGBA: sorted packed keys, counted a band of rows at a time.

    Working in bands of HISTOGRAM_BAND pixels keeps the memory to the pixels, the indices and a 2**24
    lookup table (no full-size key array or sort copy). Pixels go back through
    that table, indexed by the packed colour; RGBA pixels that are not opaque
    (usually few) are found by binary search instead.
    """
    height, width, channels = pixels.shape

    def count(top: int, bottom: int) -> tuple[np.ndarray, np.ndarray]:
        return np.unique(_pack(pixels[top:bottom]), return_counts=True)

    distinct, counts = _merge_counts(map_bands(count, height, width, HISTOGRAM_BAND))
    colors = distinct.view(np.uint8).reshape(-1, 4)[:, :channels]
    opaque = np.uint32(0xFF000000 if channels == 4 else 0)

    def to_pixels(labels: np.ndarray) -> np.ndarray:
        lut = np.zeros(1 << 24, dtype=labels.dtype)
        plain = distinct >= opaque
        lut[distinct[plain] & 0xFFFFFF] = labels[plain]
        out = np.empty((height, width), dtype=labels.dtype)

        def look_up(top: int, bottom: int) -> None:
            keys = _pack(pixels[top:bottom])
            if channels == 3:  # keys are below 2**24
                np.take(lut, keys, out=out[top:bottom], mode="clip")
                return
            band = lut[keys & 0xFFFFFF]
            rest = keys < opaque
            band[rest] = labels[np.searchsorted(distinct, keys[rest])]
            out[top:bottom] = band

        map_bands(look_up, height, width)
        return out

    return _Histogram(colors, counts, to_pixels)


def _histogram(pixels: np.ndarray) -> _Histogram:
    if pixels.shape[2] == 1:
        return _histogram_grey(pixels[:, :, 0])
    return _histogram_color(pixels)


def _to_space(colors: np.ndarray, space: str) -> np.ndarray:
    """uint8 colours (n, 1|3|4) -> clustering coordinates (alpha kept as is)."""
    colors = colors.astype(np.float64)
    channels = colors.shape[1]
    if channels == 1:
        return spaces.from_rgb(np.repeat(colors, 3, axis=1), space)[:, :1]
    coords = spaces.from_rgb(colors[:, :3], space)
    return coords if channels == 3 else np.hstack([coords, colors[:, 3:]])


def _from_space(coords: np.ndarray, space: str, channels: int) -> np.ndarray:
    """Clustering coordinates -> uint8 palette entries."""
    if channels == 1:
        if space == "rgb":
            grey = coords
        else:  # lightness only: back through a neutral colour
            neutral = np.hstack([coords, np.zeros((len(coords), 2))])
            grey = spaces.to_rgb(neutral, space)[:, :1]
    else:
        grey = spaces.to_rgb(coords[:, :3], space)
        if channels == 4:
            grey = np.hstack([grey, coords[:, 3:]])
    return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def _tree(centers: np.ndarray):  # type: ignore[no-untyped-def]
    """A k-d tree of the centres (scipy is imported here: it is slow to import and
    only encoding needs it)."""
    from scipy.spatial import cKDTree

    return cKDTree(centers)


#: Queries of fewer points than this run on one thread (scipy starts Python
#: threads per query, which costs more than it saves on small ones).
THREADED_QUERY = 1 << 14


def _query(tree, points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """Distances and indices of the ``k`` nearest centres of every point."""
    return tree.query(points, k=k, workers=-1 if len(points) >= THREADED_QUERY else 1)


def _nearest(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest centre for every point (exact, Euclidean)."""
    return _query(_tree(centers), points, 1)[1]


def _columns(points: np.ndarray) -> list[np.ndarray]:
    """Each coordinate of ``points`` as a contiguous array.

    The Lloyd loop gathers and measures scattered subsets of points; numpy does
    that several times faster one coordinate at a time than row by row.
    """
    return [np.ascontiguousarray(points[:, d]) for d in range(points.shape[1])]


def _rows(columns: list[np.ndarray], index: np.ndarray) -> np.ndarray:
    """The points ``index`` as rows (for the k-d tree)."""
    rows = np.empty((len(index), len(columns)))
    for d, column in enumerate(columns):
        rows[:, d] = column[index]
    return rows


def _distance(
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


def _sums(
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
class _Bounds:
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

    def inherited(self, parent: np.ndarray, offset: np.ndarray) -> _Bounds:
        """Bounds for finer points, point i lying ``offset[i]`` from coarse point ``parent[i]``.

        The triangle inequality carries the coarse bounds over, so moving to a
        finer grid needs no fresh look-up for points well inside their cluster.
        """
        return _Bounds(
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


def _settle(
    points: np.ndarray, columns: list[np.ndarray], centers: np.ndarray, bounds: _Bounds | None
) -> tuple[_Bounds, np.ndarray]:
    """Make every label the nearest centre, looking up only points whose bounds overlap.

    ``columns`` are the points' coordinates (_columns). Returns the bounds and
    the indices of the points whose label may have changed (all when there
    were no bounds). Needs at least two centres.
    """
    tree = _tree(centers)
    depth = min(3, len(centers))
    if bounds is None:
        n = len(points)
        bounds = _Bounds(*(np.empty(n, dtype=dtype) for dtype in (np.intp, float, np.intp, float, float)))
        everything = np.arange(n)
        bounds.found(everything, *_query(tree, points, depth))
        return bounds, everything
    half_gap = tree.query(centers, k=2)[0][:, 1] / 2
    labels, upper, second, near, lower = bounds.labels, bounds.upper, bounds.second, bounds.near, bounds.lower

    def overlapping(index: np.ndarray) -> np.ndarray:
        """The points of ``index`` whose nearest centre the bounds do not prove."""
        bound = np.maximum(np.minimum(near[index], lower[index]), half_gap[labels[index]])
        return index[upper[index] > bound]

    bound = np.minimum(near, lower)
    np.maximum(bound, half_gap[labels], out=bound)
    suspects = np.flatnonzero(upper > bound)
    upper[suspects] = _distance(columns, suspects, centers, labels[suspects])
    suspects = overlapping(suspects)
    near[suspects] = _distance(columns, suspects, centers, second[suspects])
    suspects = overlapping(suspects)
    # No other centre is nearer than these two exact distances: the nearer one wins.
    swap = suspects[(near[suspects] < upper[suspects]) & (upper[suspects] <= lower[suspects])]
    labels[swap], second[swap] = second[swap], labels[swap]
    upper[swap], near[swap] = near[swap], upper[swap]
    looked = suspects[upper[suspects] > np.minimum(near[suspects], lower[suspects])]
    if looked.size:
        bounds.found(looked, *_query(tree, _rows(columns, looked), depth))
    return bounds, np.concatenate([swap, looked])


def _lloyd(
    points: np.ndarray, weights: np.ndarray, centers: np.ndarray, steps: int, bounds: _Bounds | None = None
) -> tuple[np.ndarray, _Bounds]:
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
        return center, _Bounds(zero, distance, zero.copy(), infinite, infinite.copy())
    columns = _columns(points)
    bounds, _ = _settle(points, columns, centers, bounds)
    mass, sums = _sums(columns, weights, bounds.labels, k)
    for _ in range(steps):
        moved = centers.copy()
        alive = mass > 0
        moved[alive] = sums[alive] / mass[alive, None]
        shift = np.sqrt(((moved - centers) ** 2).sum(axis=1))
        centers = moved
        bounds.moved(shift)
        if shift.max() <= SHIFT_TOLERANCE:
            break
        before = bounds.labels.copy()
        bounds, looked = _settle(points, columns, centers, bounds)
        moving = looked[before[looked] != bounds.labels[looked]]
        if moving.size:
            gone = _sums(columns, weights, before[moving], k, moving)
            came = _sums(columns, weights, bounds.labels[moving], k, moving)
            mass = mass - gone[0] + came[0]
            sums = sums - gone[1] + came[1]
    return centers, bounds


def _cells(colors: np.ndarray, level: int) -> np.ndarray:
    """Cell number (dense, 0..m-1) of each colour on a grid of ``level`` bits per channel."""
    shift = np.uint8(8 - level)
    ids = np.zeros(len(colors), dtype=np.int32)  # level * channels <= 28 bits
    for channel in range(colors.shape[1]):
        ids <<= level
        ids |= colors[:, channel] >> shift
    bins = 1 << (level * colors.shape[1])
    if bins > 1 << 22:
        return np.unique(ids, return_inverse=True)[1]
    occupied = np.zeros(bins, dtype=bool)
    occupied[ids] = True
    dense = np.cumsum(occupied, dtype=np.int32)
    dense -= 1
    return dense[ids]


def _merge(points: np.ndarray, weights: np.ndarray, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean point and total weight of each cell."""
    mass, sums = _sums(_columns(points), weights, cells, int(cells.max()) + 1)
    return sums / mass[:, None], mass


def _kmeans_plusplus(
    points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator, trials: int | None = None
) -> np.ndarray:
    """Weighted greedy k-means++ (Arthur and Vassilvitskii; scikit-learn's variant).

    Each new centre is the best, by weighted inertia, of ``trials`` (default
    2 + ln k, as scikit-learn) candidates drawn in proportion to weight x squared distance to the nearest
    centre so far. Written here rather than taken from scikit-learn because
    importing ``sklearn.cluster`` costs about 1.6 s, more than a whole 4 MP
    encode; it runs as fast as scikit-learn's and starts k-means as well.
    """
    trials = trials or 2 + int(np.log(k))
    # Distances in float32 (the sampling sums stay float64): half the memory
    # traffic of the hot loop; rounding only matters between near-equal candidates.
    single = points.astype(np.float32)
    columns = _columns(single)
    mass = weights.astype(np.float32)
    centers = np.empty((k, points.shape[1]))
    first = rng.choice(len(points), p=weights / weights.sum())
    centers[0] = points[first]
    closest = ((single - single[first]) ** 2).sum(axis=1)
    distances = np.empty((trials, len(points)), dtype=np.float32)
    scratch = np.empty_like(distances)
    for c in range(1, k):
        cumulative = np.cumsum(weights * closest)
        picks = np.searchsorted(cumulative, rng.random(trials) * cumulative[-1], side="right")
        np.minimum(picks, len(points) - 1, out=picks)
        candidates = single[picks]
        np.subtract(columns[0][None, :], candidates[:, 0, None], out=distances)
        np.square(distances, out=distances)
        for d in range(1, len(columns)):
            np.subtract(columns[d][None, :], candidates[:, d, None], out=scratch)
            np.square(scratch, out=scratch)
            distances += scratch
        np.minimum(distances, closest, out=distances)
        best = int(np.argmin(distances @ mass))
        closest = distances[best].copy()
        centers[c] = points[picks[best]]
    return centers


def _seed(points: np.ndarray, weights: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Starting centres from a weighted sample of the colours.

    k-means++ runs on SEED_SAMPLE_PER_CLUSTER * k colours drawn in proportion to
    their pixel counts (a grid of cells would be cheaper, but merges exactly the
    dense regions that need many entries), then Lloyd converges on that sample.
    Large palettes on histograms of at most SEED_ALL_LIMIT colours seed on all
    of them instead. Small palettes are cheap to try several times: the start
    with the lowest inertia wins. Above 1,024 entries k-means++ (O(n k)) is replaced by the
    weight-proportional sample itself.
    """
    rng = np.random.default_rng(seed)
    size = max(SEED_SAMPLE_PER_CLUSTER * k, SEED_SAMPLE_WORK // k)
    if k > SMALL_PALETTE and size < len(points) <= SEED_ALL_LIMIT:
        # Few colours: seed on all of them (the stages after refine on them anyway).
        return _kmeans_plusplus(points, weights, k, rng, SEED_ALL_TRIALS)
    if size < len(points):
        drawn, counts = np.unique(
            rng.choice(len(points), size=size, p=weights / weights.sum()), return_counts=True
        )
        points, weights = points[drawn], counts.astype(np.float64)
    if k >= len(points):
        return points
    if k > 1024:
        start = rng.choice(len(points), size=k, replace=False, p=weights / weights.sum())
        return points[np.sort(start)]
    tries = 4 if k <= 32 else 2 if k <= 128 else 1
    best, best_inertia = points[:k], np.inf
    for _ in range(tries):
        start = _kmeans_plusplus(points, weights, k, rng)
        centers, _ = _lloyd(points, weights, start, SEED_STEPS)
        distance = _query(_tree(centers), points, 1)[0]
        inertia = float(weights @ distance**2)
        if inertia < best_inertia:
            best, best_inertia = centers, inertia
    return best


def _steps(points: int, k: int, least: int) -> int:
    """Lloyd steps for a stage: at least ``least``, more while the stage is cheap.

    A step costs about points x log2(k) (k-d tree queries), so small histograms
    and small palettes get more steps within the same STEP_BUDGET, up to
    MAX_STEPS (SMALL_PALETTE_MAX_STEPS for small palettes).
    """
    affordable = int(STEP_BUDGET / (points * max(1.0, np.log2(k))))
    return max(least, min(SMALL_PALETTE_MAX_STEPS if k <= SMALL_PALETTE else MAX_STEPS, affordable))


def _kmeans_1d(points: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """The optimal weighted k-means of one-dimensional points (grey images), k < len(points).

    Optimal clusters of sorted values are runs, so dynamic programming over the
    (at most EXACT_1D_LIMIT) distinct values finds the global minimum of the
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


def _kmeans(
    points: np.ndarray, weights: np.ndarray, colors: np.ndarray, k: int, seed: int
) -> tuple[np.ndarray, _Bounds | None]:
    """Weighted k-means centres: seeded on a sample, refined on finer and finer grids.

    ``colors`` are the uint8 colours behind ``points``: the grids (LEVELS) are cut
    in them, whatever space the points are in. Each grid's cells carry the
    weighted mean of their colours, and each stage inherits the bounds of the
    one before. A grid barely smaller than the full histogram is skipped, and so
    is any stage larger than STAGE_LIMIT points (noisy photographs with a
    million colours: their clusters are wide, so a coarser grid already places
    the centres well). Also returns bounds for ``points`` when the exact stage
    ran (None otherwise).
    """
    if points.shape[1] == 1 and len(points) <= EXACT_1D_LIMIT:
        return _kmeans_1d(points, weights, k), None
    centers = _seed(points, weights, k, seed)
    bounds: _Bounds | None = None
    coarse = np.empty(0)  # points of the last stage run
    cells_of_coarse = np.empty(0, dtype=np.int32)  # its cell number for each colour

    def carried(stage_points: np.ndarray, cells: np.ndarray) -> _Bounds | None:
        """The last stage's bounds moved onto ``stage_points`` (one per cell, or per colour)."""
        if bounds is None:
            return None
        parent = np.empty(len(stage_points), dtype=np.intp)
        parent[cells] = cells_of_coarse
        return bounds.inherited(parent, _distance(_columns(stage_points), None, coarse, parent))

    for level in LEVELS:
        cells = _cells(colors, level)
        count = int(cells.max()) + 1
        if count > STAGE_LIMIT:
            break  # finer grids only have more cells
        if k < count < 0.8 * len(points):
            stage_points, stage_weights = _merge(points, weights, cells)
            steps = _steps(count, k, LEVEL_STEPS[level])
            centers, bounds = _lloyd(
                stage_points, stage_weights, centers, steps, carried(stage_points, cells)
            )
            coarse, cells_of_coarse = stage_points, cells
    if len(points) > STAGE_LIMIT:
        return centers, None  # bounds for so many colours would cost more memory than a look-up
    steps = _steps(len(points), k, EXACT_STEPS)
    return _lloyd(points, weights, centers, steps, carried(points, np.arange(len(points), dtype=np.int32)))


def _gmm(
    points: np.ndarray, weights: np.ndarray, colors: np.ndarray, k: int, seed: int
) -> tuple[np.ndarray, None]:
    """Gaussian mixture means, fitted on a weighted subsample from the k-means solution.

    GaussianMixture takes no sample weights, so it sees GMM_SAMPLE pixels drawn
    from the histogram. Means, weights and precisions all start from the k-means
    clusters of that sample (its own k-means initialisation would cost more than
    the fit), and EM runs at most GMM_MAX_ITER steps.
    """
    from sklearn.mixture import GaussianMixture  # slow to import: only when asked for
    from threadpoolctl import threadpool_limits

    start, _ = _kmeans(points, weights, colors, k, seed)
    rng = np.random.default_rng(seed)
    sample = points[rng.choice(len(points), size=GMM_SAMPLE, p=weights / weights.sum())]
    labels = _nearest(sample, start)
    members = np.bincount(labels, minlength=k).astype(np.float64)
    spread = sample - start[labels]
    dims = points.shape[1]
    covariances = np.empty((k, dims, dims))
    for i in range(dims):
        for j in range(dims):
            covariances[:, i, j] = np.bincount(labels, weights=spread[:, i] * spread[:, j], minlength=k)
    covariances /= np.maximum(members, 1.0)[:, None, None]
    covariances += np.eye(dims) * GMM_REG_COVAR
    model = GaussianMixture(
        n_components=k,
        covariance_type="full",
        init_params="random_from_data",  # overridden below; the cheapest to compute
        means_init=start,
        weights_init=(members + 1.0) / (members + 1.0).sum(),
        precisions_init=np.linalg.inv(covariances),
        max_iter=GMM_MAX_ITER,
        reg_covar=GMM_REG_COVAR,
        random_state=seed,
    )
    # EM works on 3x3 matrices: BLAS threads only add overhead there.
    with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
        warnings.simplefilter("ignore")  # ConvergenceWarning when max_iter is reached
        model.fit(sample)
    return model.means_, None


def _dither(pixels: np.ndarray, palette: np.ndarray, labels: np.ndarray, amount: float) -> np.ndarray:
    """Adaptive error diffusion (kmzcodec.diffusion) of strength ``amount``; returns (H, W) indices.

    RGBA: opaque pixels are dithered (colour only) against the opaque entries, the
    rest keep their nearest entry.
    """
    k, channels = palette.shape
    if k > MAX_DITHER_COLORS:
        raise KmzError(f"dithering works with at most {MAX_DITHER_COLORS} colours", "bad-option")
    if channels == 4:
        opaque_entries = np.flatnonzero(palette[:, 3] == 255)
        if len(opaque_entries) == 0:
            return labels
        within = np.zeros(k, dtype=np.int32)  # an entry's place among the opaque ones: the search's start
        within[opaque_entries] = np.arange(len(opaque_entries))
        opaque = pixels[:, :, 3] == 255
        rgb = palette[opaque_entries, :3]
        dithered = diffuse(pixels[:, :, :3], rgb, within[labels], amount, active=opaque)
        return np.where(opaque, opaque_entries[dithered].astype(labels.dtype), labels)
    return diffuse(pixels, palette, labels, amount).astype(labels.dtype)


def check_options(method: str, colorspace: str, seed: int) -> None:
    """Raise KmzError for a method, colour space or seed the quantizer does not take."""
    if method not in METHODS:
        raise KmzError(f"unknown method {method!r} (choose from {', '.join(METHODS)})", "bad-option")
    if colorspace not in spaces.SPACES:
        names = ", ".join(spaces.SPACES)
        raise KmzError(f"unknown colour space {colorspace!r} (choose from {names})", "bad-option")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise KmzError(f"seed must be an integer from 0 to 2**32 - 1, not {seed!r}", "bad-option")


def _assign(
    points: np.ndarray, centers: np.ndarray, bounds: _Bounds | None, space: str, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 palette (centres rounded, duplicates merged) and each point's nearest entry.

    With bounds from the k-means, rounding is one more small move of the
    centres: only points near a boundary are looked up again.
    """
    palette, which = np.unique(_from_space(centers, space, channels), axis=0, return_inverse=True)
    entries = _to_space(palette, space)
    if len(palette) == 1:
        return palette, np.zeros(len(points), dtype=np.intp)
    if bounds is None:
        return palette, _nearest(points, entries)
    which = which.reshape(-1)
    shift = np.sqrt(((entries[which] - centers) ** 2).sum(axis=1))
    bounds.moved(shift)
    bounds.labels, bounds.second = which[bounds.labels], which[bounds.second]
    return palette, _settle(points, _columns(points), entries, bounds)[0].labels


class Quantizer:
    """The colour histogram of one image, from which palettes of any size are cut.

    Building the histogram is the part of quantizing that does not depend on K,
    so a search over K (automatic K, sweeps) makes one Quantizer and asks it for
    several palettes. Options are checked once, here; nothing else is kept but
    the pixels and their histogram.
    """

    def __init__(self, pixels: np.ndarray, *, method: str = "kmeans", colorspace: str = "rgb", seed: int = 0):
        check_options(method, colorspace, seed)
        self.pixels = pixels
        self.method, self.colorspace, self.seed = method, colorspace, int(seed)
        self._histogram = _histogram(pixels)

    @property
    def distinct_colors(self) -> int:
        """How many different colours the image has (RGBA: all fully transparent ones count once)."""
        return len(self._histogram.colors)

    def quantize(self, colors: int, *, dither: bool | float = False) -> Quantized:
        """A palette of at most ``colors`` entries and the index of every pixel.

        ``dither`` is a strength 0..1 of error diffusion (True: the default strength).
        """
        if isinstance(colors, bool) or not isinstance(colors, (int, np.integer)) or not 1 <= colors <= 65536:
            raise KmzError(f"colors must be an integer from 1 to 65536, not {colors!r}", "bad-option")
        amount = strength(dither)
        hist, channels = self._histogram, self.pixels.shape[2]
        dtype = _index_dtype(colors)
        labels: np.ndarray
        if len(hist.colors) <= colors:
            palette, labels, used = hist.colors, np.arange(len(hist.colors), dtype=dtype), "exact"
        else:
            # Fully transparent pixels (all one key, 0, the smallest) keep an entry
            # of their own unless K = 1 leaves no room for one.
            reserved = channels == 4 and colors > 1 and not hist.colors[0].any()
            clustered = slice(1, None) if reserved else slice(None)
            points = _to_space(hist.colors[clustered], self.colorspace)
            weights = hist.counts[clustered].astype(np.float64)
            fit = _gmm if self.method == "gmm" else _kmeans
            centers, bounds = fit(points, weights, hist.colors[clustered], colors - int(reserved), self.seed)
            labels = np.zeros(len(hist.colors), dtype=dtype)
            palette, labels[clustered] = _assign(points, centers, bounds, self.colorspace, channels)
            del points, weights, centers, bounds  # before the pixel-sized mapping below
            if reserved:
                palette = np.vstack([palette, np.zeros((1, 4), dtype=np.uint8)])
                labels[0] = len(palette) - 1
            used = self.method
        indices = hist.to_pixels(labels)
        dithered = amount > 0 and used != "exact"
        if dithered:
            indices = _dither(self.pixels, palette, indices, amount)
        return Quantized(palette, indices.astype(dtype, copy=False), used, self.colorspace, dithered)


def quantize(
    pixels: np.ndarray,
    colors: int,
    *,
    method: str = "kmeans",
    colorspace: str = "rgb",
    dither: bool | float = False,
    seed: int = 0,
) -> Quantized:
    """Choose a palette of at most ``colors`` entries for (H, W, 1|3|4) uint8 pixels.

    Fully transparent RGBA pixels share one entry (0, 0, 0, 0) of their own.
    Same input and options give the same result.
    """
    return Quantizer(pixels, method=method, colorspace=colorspace, seed=seed).quantize(colors, dither=dither)
