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
from PIL import Image

from . import colorspace as spaces
from .errors import KmzError

METHODS = ("kmeans", "gmm")

#: Distinct colours above which the histogram drops the low bit of each channel.
FINE_LIMIT = 1 << 18
#: Points the first (coarse) k-means pass runs on, at least, per palette entry.
COARSE_POINTS_PER_CLUSTER = 24
COARSE_MIN_POINTS = 4096
#: Lloyd steps on the full histogram after the coarse pass.
REFINE_STEPS = 3
#: Pixels drawn (by histogram weight) for the Gaussian mixture fit.
GMM_SAMPLE = 40_000
GMM_MAX_ITER = 30


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
    """Distinct colours (or cells) of an image, their weights, and the way back to pixels."""

    colors: np.ndarray  # (n, channels) float64: mean colour of each entry
    counts: np.ndarray  # (n,) pixel counts
    exact: bool  # colours are the image's own (not cell means)
    to_pixels: Callable[[np.ndarray], np.ndarray]  # labels per entry -> (H, W) labels


def _index_dtype(colors: int) -> type:
    return np.uint8 if colors <= 256 else np.uint16


def _histogram_grey(values: np.ndarray) -> _Histogram:
    counts = np.bincount(values.ravel(), minlength=256)
    present = np.flatnonzero(counts)

    def to_pixels(labels: np.ndarray) -> np.ndarray:
        lut = np.zeros(256, dtype=labels.dtype)
        lut[present] = labels
        return lut[values]

    return _Histogram(present[:, None].astype(np.float64), counts[present], True, to_pixels)


def _pack_rgb(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) uint32 keys 0xRRGGBB, through a 4-byte view."""
    height, width, _ = pixels.shape
    padded = np.empty((height, width, 4), dtype=np.uint8)
    padded[:, :, 3] = 0
    padded[:, :, :3] = pixels[:, :, ::-1]  # little-endian: B, G, R, 0
    return padded.view(np.uint32)[:, :, 0]


def _unpack_rgb(keys: np.ndarray) -> np.ndarray:
    return np.stack([(keys >> 16) & 255, (keys >> 8) & 255, keys & 255], axis=1).astype(np.float64)


def _histogram_rgb(pixels: np.ndarray) -> _Histogram:
    keys = _pack_rgb(pixels)
    distinct, counts = np.unique(keys, return_counts=True)
    if len(distinct) <= FINE_LIMIT:
        colors = _unpack_rgb(distinct)
        lut_keys, lut_shift, exact = distinct, 0, True
    else:
        # Too many colours to cluster one by one: 7 bits a channel, cell means.
        cells = (distinct >> 1) & 0x7F7F7F
        cell_ids, first, inverse = np.unique(cells, return_index=True, return_inverse=True)
        del first
        weight = np.bincount(inverse, weights=counts)
        exact_colors = _unpack_rgb(distinct)
        colors = np.stack(
            [np.bincount(inverse, weights=exact_colors[:, c] * counts) for c in range(3)], axis=1
        ) / weight[:, None]
        counts = weight
        lut_keys, lut_shift, exact = cell_ids, 1, False

    def to_pixels(labels: np.ndarray) -> np.ndarray:
        lut = np.zeros(1 << 24, dtype=labels.dtype)
        lut[lut_keys] = labels
        if lut_shift:
            return lut[(keys >> 1) & 0x7F7F7F]
        return lut[keys]

    return _Histogram(colors, counts, exact, to_pixels)


def _histogram_rgba(pixels: np.ndarray) -> _Histogram:
    keys = np.ascontiguousarray(pixels).view(np.uint32)[:, :, 0]
    distinct, inverse, counts = np.unique(keys.ravel(), return_inverse=True, return_counts=True)
    colors = distinct.view(np.uint8).reshape(-1, 4).astype(np.float64)

    def to_pixels(labels: np.ndarray) -> np.ndarray:
        return labels[inverse].reshape(keys.shape)

    return _Histogram(colors, counts, True, to_pixels)


def _histogram(pixels: np.ndarray) -> _Histogram:
    channels = pixels.shape[2]
    if channels == 1:
        return _histogram_grey(pixels[:, :, 0])
    if channels == 3:
        return _histogram_rgb(pixels)
    return _histogram_rgba(pixels)


def _to_space(colors: np.ndarray, space: str) -> np.ndarray:
    """Histogram colours (n, 1|3|4) -> clustering coordinates (alpha kept as is)."""
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


def _nearest(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest centre for every point (exact, Euclidean)."""
    from scipy.spatial import cKDTree

    return cKDTree(centers).query(points, k=1, workers=-1)[1]


def _weighted_means(points: np.ndarray, weights: np.ndarray, labels: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Lloyd's update; a centre that lost all its points stays where it was."""
    k = len(centers)
    mass = np.bincount(labels, weights=weights, minlength=k)
    sums = np.stack([np.bincount(labels, weights=points[:, d] * weights, minlength=k) for d in range(points.shape[1])], axis=1)
    updated = centers.copy()
    alive = mass > 0
    updated[alive] = sums[alive] / mass[alive, None]
    return updated


def _grid_cells(points: np.ndarray, weights: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge points into grid cells (weighted means) until about ``target`` remain."""
    low = points.min(axis=0)
    span = np.maximum(points.max(axis=0) - low, 1e-9)
    best = points, weights
    for level in range(2, 9):
        scaled = np.minimum(((points - low) / span * (1 << level)).astype(np.int64), (1 << level) - 1)
        ids = np.zeros(len(points), dtype=np.int64)
        for d in range(points.shape[1]):
            ids = (ids << level) | scaled[:, d]
        cell_ids, inverse = np.unique(ids, return_inverse=True)
        if len(cell_ids) >= target or level == 8:
            mass = np.bincount(inverse, weights=weights)
            sums = np.stack([np.bincount(inverse, weights=points[:, d] * weights) for d in range(points.shape[1])], axis=1)
            best = sums / mass[:, None], mass
            break
    return best


def _kmeans(points: np.ndarray, weights: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Weighted k-means centres: coarse pass on grid cells, then Lloyd on all points."""
    from sklearn.cluster import KMeans

    target = max(COARSE_MIN_POINTS, COARSE_POINTS_PER_CLUSTER * k)
    cells, mass = (points, weights) if len(points) <= target else _grid_cells(points, weights, target)
    if len(cells) <= k:
        cells, mass = points, weights
    if k <= 1024:
        model = KMeans(n_clusters=k, init="k-means++", n_init=1, random_state=seed, max_iter=300)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning on duplicate points
            model.fit(cells, sample_weight=mass)
        centers = model.cluster_centers_
    else:
        # k-means++ costs O(n k) per centre; for near-lossless palettes a
        # weight-proportional sample is a good enough start for Lloyd.
        rng = np.random.default_rng(seed)
        start = rng.choice(len(cells), size=k, replace=False, p=mass / mass.sum())
        centers = cells[np.sort(start)]
        for _ in range(REFINE_STEPS):
            centers = _weighted_means(cells, mass, _nearest(cells, centers), centers)
    if cells is not points:
        for _ in range(REFINE_STEPS):
            centers = _weighted_means(points, weights, _nearest(points, centers), centers)
    return centers


def _gmm(points: np.ndarray, weights: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Gaussian mixture means, fitted on a weighted subsample from the k-means start."""
    from sklearn.mixture import GaussianMixture

    start = _kmeans(points, weights, k, seed)
    rng = np.random.default_rng(seed)
    sample = points[rng.choice(len(points), size=GMM_SAMPLE, p=weights / weights.sum())]
    labels = _nearest(sample, start)
    share = np.bincount(labels, minlength=k) + 1.0
    model = GaussianMixture(
        n_components=k,
        covariance_type="full",
        means_init=start,
        weights_init=share / share.sum(),
        max_iter=GMM_MAX_ITER,
        reg_covar=1.0,  # in squared colour units: keeps one-colour components stable
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(sample)
    return model.means_


def _dither(pixels: np.ndarray, palette: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Floyd-Steinberg through Pillow's C remapper; returns (H, W) indices.

    Palette entries beyond K are padded with copies of entry 0 and folded back.
    RGBA: opaque pixels are dithered against the opaque entries, the rest keep
    their nearest entry (Pillow dithers colour only).
    """
    k, channels = palette.shape
    if k > 256:
        raise KmzError("dithering works with at most 256 colours", "bad-option")
    if channels == 4:
        opaque_entries = np.flatnonzero(palette[:, 3] == 255)
        if len(opaque_entries) == 0:
            return labels
        rgb = palette[opaque_entries, :3]
        dithered = _dither(np.ascontiguousarray(pixels[:, :, :3]), rgb, labels)
        opaque = pixels[:, :, 3] == 255
        return np.where(opaque, opaque_entries[dithered].astype(labels.dtype), labels)
    entries = np.repeat(palette, 3, axis=1) if channels == 1 else palette
    padded = np.vstack([entries, np.repeat(entries[:1], 256 - k, axis=0)])
    reference = Image.new("P", (1, 1))
    reference.putpalette(padded.tobytes())
    source = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, "L" if channels == 1 else "RGB")
    remapped = np.asarray(source.quantize(palette=reference, dither=Image.Dither.FLOYDSTEINBERG))
    fold = np.arange(256, dtype=np.uint8)
    fold[k:] = 0
    return fold[remapped]


def quantize(
    pixels: np.ndarray,
    colors: int,
    *,
    method: str = "kmeans",
    colorspace: str = "rgb",
    dither: bool = False,
    seed: int = 0,
) -> Quantized:
    """Choose a palette of at most ``colors`` entries for (H, W, 1|3|4) uint8 pixels.

    Fully transparent RGBA pixels share one entry (0, 0, 0, 0) of their own.
    Same input and options give the same result.
    """
    if method not in METHODS:
        raise KmzError(f"unknown method {method!r} (choose from {', '.join(METHODS)})", "bad-option")
    if colorspace not in spaces.SPACES:
        raise KmzError(f"unknown colour space {colorspace!r} (choose from {', '.join(spaces.SPACES)})", "bad-option")
    if not isinstance(colors, (int, np.integer)) or not 1 <= colors <= 65536:
        raise KmzError(f"colors must be an integer from 1 to 65536, not {colors!r}", "bad-option")
    channels = pixels.shape[2]
    if channels == 4:
        pixels = np.where(pixels[:, :, 3:] == 0, np.uint8(0), pixels)
    hist = _histogram(pixels)
    dtype = _index_dtype(colors)
    transparent = np.flatnonzero(hist.colors[:, 3] == 0) if channels == 4 else np.array([], dtype=np.int64)
    if hist.exact and len(hist.colors) <= colors:
        palette = hist.colors.astype(np.uint8)
        labels = np.arange(len(palette), dtype=dtype)
        used = "exact"
    else:
        clustered = np.ones(len(hist.colors), dtype=bool)
        clustered[transparent] = False
        k = colors - len(transparent)
        if k < 1:  # K = 1 and the image has transparent pixels: they win
            clustered[:] = False
            k = 0
        points = _to_space(hist.colors[clustered], colorspace)
        weights = hist.counts[clustered].astype(np.float64)
        if k >= len(points) and hist.exact:
            centers = points
        elif k:
            fit = _gmm if method == "gmm" else _kmeans
            centers = fit(points, weights, min(k, len(points)), seed)
        else:
            centers = np.empty((0, points.shape[1]))
        palette = _from_space(centers, colorspace, channels)
        palette = np.unique(palette, axis=0) if len(palette) else palette
        labels = np.zeros(len(hist.colors), dtype=dtype)
        if len(palette):
            labels[clustered] = _nearest(points, _to_space(palette.astype(np.float64), colorspace))
        if len(transparent):
            palette = np.vstack([palette, np.zeros((1, 4), dtype=np.uint8)])
            labels[transparent] = len(palette) - 1
        used = method
    indices = hist.to_pixels(labels)
    if dither and used != "exact":
        indices = _dither(pixels, palette, indices)
    return Quantized(palette, indices.astype(dtype, copy=False), used, colorspace, dither and used != "exact")
