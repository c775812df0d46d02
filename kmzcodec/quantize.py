"""Image pixels -> (palette, indices) by clustering the colour histogram.

Knows nothing of bytes. The steps, each chosen for speed at equal quality
(README "How the encoder works" has the numbers; every tuning number is a field
of :class:`~kmzcodec.settings.QuantizerSettings`, passed in explicitly):

1. Histogram (:mod:`kmzcodec.histogram`): the distinct colours and their pixel
   counts. RGB(A) pixels are packed into 32-bit keys (R | G << 8 | B << 16 |
   A << 24, every fully transparent pixel key 0) and counted band by band, each
   band sorted on its own thread and the sorted tables merged; grey images are
   a 256-bin count. Fully transparent pixels keep a palette entry of their own.
2. Seeding (:mod:`kmzcodec.kmeans`): weighted greedy k-means++ (the best of
   2 + ln K candidates per centre) on a sample of the colours drawn by pixel
   count, then Lloyd on that sample, the best of several starts for small
   palettes. Large palettes on small histograms seed on every colour instead;
   above 1,024 entries the weighted sample itself is the seed.
3. Refinement: weighted Lloyd on the colours merged into 6-bit, then 7-bit grid
   cells (each cell the weighted mean of its colours), then on the exact
   colours; stages too large or too close to the next are skipped. Each point
   keeps Hamerly's bounds with the runner-up tracked, and only points whose
   bounds overlap are measured or searched (exactly, over the label's nearest
   centres where they prove the answer, else over all, in a numba kernel,
   :mod:`kmzcodec._kernels`); the bounds carry from
   each stage to the next (:mod:`kmzcodec.lloyd`).
   Grey images get the exact optimum instead, by dynamic programming in 1-D.
4. Gaussian mixture (``method="gmm"``, :mod:`kmzcodec.gmm`): weighted EM on the
   histogram (or a weighted sample of it), started from the k-means solution;
   its means are the palette.
5. Mapping: the centres are rounded to the palette (the k-means bounds settle
   which colours change entry), and pixels get their colour's entry through a
   2**24 lookup table indexed by the packed colour (RGBA pixels that are not
   opaque by binary search): one gather over the pixels, never a pixels x K
   distance matrix. Dithering (:mod:`kmzcodec.dither`, :mod:`kmzcodec.diffusion`):
   adaptive serpentine error diffusion against the chosen palette, its entries
   first moved towards colours that lack a partner entry beyond them
   (:meth:`Quantizer._partnered`), then widened about the mean colour to the
   image's variance (:meth:`Quantizer._spread`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import colorspace as spaces
from . import options
from ._kernels import Centres
from .dither import dither as error_diffusion
from .dither import dithered_planes
from .dithermap import MIN_MAP_SIDE, contrast_map
from .errors import KmzError
from .gmm import gmm
from .histogram import histogram
from .kmeans import cells_of, dot, kmeans, merge_cells
from .lloyd import Bounds, cluster_sums, nearest, nearest_distance, settle
from .settings import DEFAULT_SETTINGS, QuantizerSettings
from .threads import cpu_budget

#: The dithered palette's partner steps (:meth:`Quantizer._partnered`): how many, and the most a
#: colour's weight is raised by, in units of the mean squared gap. libimagequant's feedback loop
#: raises weights without a bound; unbounded here, a few far outliers took entries from the bulk
#: of the image (by-the-water at K = 64: SSIMULACRA2 -7 to -12 points against pngquant, +1.8
#: with the bound; one step: -11.8; measured with the steps on every colour).
PARTNER_STEPS = 3
PARTNER_CAP = 3.0

#: Dithered images of at least this many pixels get their dither map's contrast made on a
#: second CPU while the palette is clustered (smaller ones: not worth a thread).
BESIDE_PIXELS = 1 << 18


@dataclass(frozen=True)
class Quantized:
    """The quantizer's answer: a palette of K entries and one index per pixel."""

    palette: np.ndarray  # (K, channels) uint8; channels 1, 3 or 4
    indices: np.ndarray  # (height, width) uint8 when K <= 256, else uint16
    method: str  # "kmeans", "gmm" or "exact" (the image had <= K colours)
    colorspace: str
    dithered: bool


def _index_dtype(colors: int) -> type:
    return np.uint8 if colors <= 256 else np.uint16


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


def check_options(method: str, colorspace: str, seed: int) -> None:
    """Raise KmzError for a method, colour space or seed the quantizer does not take."""
    options.check_quantizer(method, colorspace, seed)


def _assign(
    points: np.ndarray,
    centers: np.ndarray,
    bounds: Bounds | None,
    space: str,
    channels: int,
    settings: QuantizerSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 palette (centres rounded, duplicates merged) and each point's nearest entry.

    With bounds from the k-means, rounding is one more small move of the
    centres (after the k-means' last, pending one): only points near a boundary are
    looked up again.
    """
    palette, which = np.unique(_from_space(centers, space, channels), axis=0, return_inverse=True)
    entries = _to_space(palette, space)
    if len(palette) == 1:
        return palette, np.zeros(len(points), dtype=np.intp)
    if bounds is None:
        return palette, nearest(points, entries, settings)
    which = which.reshape(-1)
    shift = bounds.take_pending(np.sqrt(((entries[which] - centers) ** 2).sum(axis=1)))
    bounds.upper += shift[bounds.labels]
    bounds.near -= shift[bounds.second]
    bounds.labels, bounds.second = which[bounds.labels], which[bounds.second]
    # Any other entry is the rounding of centres other than the label and the runner-up,
    # so at most the largest of their moves nearer: the settle loosens ``lower`` by that.
    spread = np.zeros(len(palette))
    np.maximum.at(spread, which, shift)
    return palette, settle(points, entries, bounds, settings, spread)[0].labels


class Quantizer:
    """The colour histogram of one image, from which palettes of any size are cut.

    Building the histogram is the part of quantizing that does not depend on K,
    so a search over K (automatic K, sweeps) makes one Quantizer and asks it for
    several palettes. Options are checked once, here; nothing else is kept but
    the pixels and their histogram. ``settings`` tune speed against quality
    (:class:`~kmzcodec.settings.QuantizerSettings`).
    """

    def __init__(
        self,
        pixels: np.ndarray,
        *,
        method: str = "kmeans",
        colorspace: str = "rgb",
        seed: int = 0,
        settings: QuantizerSettings = DEFAULT_SETTINGS,
    ):
        check_options(method, colorspace, seed)
        if not isinstance(settings, QuantizerSettings):
            raise KmzError(f"settings must be a QuantizerSettings, not {settings!r}", "bad-option")
        self.pixels = pixels
        self.method, self.colorspace, self.seed = method, colorspace, int(seed)
        self.settings = settings
        self._histogram = histogram(pixels, settings.histogram_band)
        self._contrast: Future[np.ndarray] | None = None  # the dither map's, once made

    @property
    def distinct_colors(self) -> int:
        """How many different colours the image has (RGBA: all fully transparent ones count once)."""
        return len(self._histogram.colors)

    def quantize(
        self, colors: int, *, dither: bool | float = False, quality: int = options.DEFAULT_QUALITY
    ) -> Quantized:
        """A palette of at most ``colors`` entries and the index of every pixel.

        ``dither`` is a strength 0..1 of error diffusion (True: the default strength);
        ``quality`` below 100 lets the diffusion trade error for bytes (undithered
        indices are traded by the encoder instead: :mod:`kmzcodec.ratedistortion`).
        """
        dither = options.check_dither(dither)
        quality = options.check_quality(quality)
        colors = int(options.check_colors(colors, method=self.method, dither=dither, auto=False))
        hist = self._histogram
        dtype = _index_dtype(colors)
        labels: np.ndarray
        contrast: Future[np.ndarray] | None = None
        if len(hist.colors) <= colors:
            palette, labels, used = hist.colors, np.arange(len(hist.colors), dtype=dtype), "exact"
        else:
            with self._beside(dither > 0) as contrast:
                palette, labels = cluster(
                    hist.colors, hist.counts, colors, self.method, self.colorspace, self.seed, self.settings
                )
                if dither > 0:
                    palette, labels = self._spread(*self._partnered(palette, labels, dither), dither)
            used = self.method
        indices = hist.to_pixels(labels.astype(dtype, copy=False))
        dithered = dither > 0 and used != "exact"
        if dithered:
            known = contrast.result() if contrast is not None else None
            indices = error_diffusion(self.pixels, palette, indices, dither, quality, known)
        return Quantized(palette, indices.astype(dtype, copy=False), used, self.colorspace, dithered)

    def _partnered(
        self, palette: np.ndarray, labels: np.ndarray, strength: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """The clustered palette moved, for dithering, towards the colours that have no entry
        on the far side of them (weighted Lloyd steps, as libimagequant's feedback loop does).

        Error diffusion renders a colour c that lies between entries by alternating between
        them; with c's nearest entry p, the partner it needs is near the mirror point 2c - p.
        Where that point's nearest entry is far, the diffused error builds up until it picks
        a far entry (speckles of another hue on a flat background). Each step raises every
        colour's weight by its mirror point's squared gap, in units of the image's mean gap
        (at most PARTNER_CAP, times ``strength``), and moves each entry to the weighted mean
        of its colours (an entry left without colours stays); pixels get their nearest
        entry again. The steps work on the colours merged into the k-means' first grid
        cells. Colour and grey images; with alpha the palette is kept.
        """
        hist = self._histogram
        if palette.shape[1] == 4 or len(palette) < 2:
            return palette, labels
        space, channels = self.colorspace, palette.shape[1]
        colors = _to_space(hist.colors, space)
        # On the colours merged into the k-means' first grid cells: the same moves for a
        # fraction of the look-ups (a photograph's million colours are some 20-60 K cells).
        points, weights = colors, hist.counts.astype(np.float64)
        if self.settings.levels:
            points, weights = merge_cells(colors, weights, cells_of(hist.colors, self.settings.levels[0][0]))
        # One look-up structure per palette: it serves the step's two look-ups and the next's.
        entries = _to_space(palette, space)
        lookup = Centres(entries)
        near = nearest(points, lookup, self.settings)
        moved_any = False
        for _ in range(PARTNER_STEPS):
            gaps = nearest_distance(2.0 * points - entries[near], lookup, self.settings) ** 2
            mean_gap = dot(weights, gaps) / weights.sum()
            if mean_gap <= 0.0:
                break
            boost = weights * (1.0 + strength * np.minimum(gaps / mean_gap, PARTNER_CAP))
            mass, sums = cluster_sums(points, boost, near, len(palette))
            centres = np.where(mass[:, None] > 0, sums / np.maximum(mass, 1e-300)[:, None], entries)
            moved = np.unique(_from_space(centres, space, channels), axis=0)
            if np.array_equal(moved, palette):
                break
            palette, moved_any = moved, True
            entries = _to_space(palette, space)
            lookup = Centres(entries)
            near = nearest(points, lookup, self.settings)
        return palette, nearest(colors, lookup, self.settings) if moved_any else labels

    def _spread(
        self, palette: np.ndarray, labels: np.ndarray, strength: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """A palette to dither with: the clustered one widened about the image's mean colour
        until its variance (entries weighted by their pixels) is the image's.

        Cluster centres are means, so the palette spans less than the image: the
        image's variance is the palette's plus the clustering error, T = B + W. Error
        diffusion reproduces local averages only inside the palette's span, so the
        colours beyond the outer centres (highlights, shadows, saturated colours,
        clipped channels) come out flattened, and their error drives far entries.
        Scaling the entries about the mean by sqrt(T / B) gives them the image's
        variance back: a few percent at K = 16, well under one at K = 256, nothing
        for an exact fit; a weaker ``strength`` (0..1) widens it as much less. Colour
        and grey images; with alpha the palette is kept. Pixels get their nearest
        entry of the widened palette again. After :meth:`_partnered` the entries are
        no longer means, so T - W understates their variance and this widens more
        (up to a fifth above the image's variance at K = 4 on a noisy ramp); measured
        on photographs that way (partner steps on every colour), it did as well as or
        better than widening to exactly the image's variance (SSIMULACRA2 median over
        pngquant at K = 16: +4.3 / +4.1 against +4.2 / +3.5 on the corpus photographs /
        12 scikit-image photographs).
        """
        hist = self._histogram
        if palette.shape[1] == 4 or len(palette) < 2:
            return palette, labels
        colors = hist.colors.astype(np.float64)
        weights = hist.counts.astype(np.float64) / hist.counts.sum()
        entries = palette.astype(np.float64)
        # Sums per entry, not an (n, channels) array of differences: T = E|x|^2 - |mean|^2 and
        # W = E|x|^2 - 2 sum_j c_j . S_j + sum_j m_j |c_j|^2 (S_j, m_j: entry j's weighted sum and mass).
        squares = dot(weights, np.einsum("ij,ij->i", colors, colors))
        mass, sums = cluster_sums(colors, weights, labels, len(palette))
        mean = sums.sum(axis=0)
        total = squares - mean @ mean
        within = squares - 2.0 * (entries * sums).sum() + mass @ (entries * entries).sum(axis=1)
        if not 0.0 < within < total:
            return palette, labels
        scale = 1.0 + strength * (math.sqrt(total / (total - within)) - 1.0)
        widened = np.clip(np.rint(mean + (entries - mean) * scale), 0, 255).astype(np.uint8)
        if np.array_equal(widened, palette):  # large palettes: too little to move an entry
            return palette, labels
        widened = np.unique(widened, axis=0)  # clipping may merge entries
        space = self.colorspace
        return widened, nearest(_to_space(hist.colors, space), _to_space(widened, space), self.settings)

    @contextlib.contextmanager
    def _beside(self, wanted: bool) -> Iterator[Future[np.ndarray] | None]:
        """While the block clusters, the dither map's contrast (which does not depend on the
        palette) is made on a second CPU, when the encode has one and the image is large
        enough to be worth a thread: the same map, made sooner. Kept for later K's (auto K)."""
        height, width = self.pixels.shape[:2]
        worth = height * width >= BESIDE_PIXELS and min(height, width) >= MIN_MAP_SIDE
        if self._contrast is None and wanted and worth and cpu_budget() > 1:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="kmz-contrast") as pool:
                self._contrast = pool.submit(contrast_map, dithered_planes(self.pixels))
                yield self._contrast
            return
        yield self._contrast if wanted else None

    def remap(
        self, palette: np.ndarray, *, dither: bool | float = False, quality: int = options.DEFAULT_QUALITY
    ) -> Quantized:
        """Every pixel onto the nearest entry of a given palette (K x 1|3|4 uint8).

        Distances are measured in this quantizer's colour space, over alpha too
        when the palette has it (images without alpha count as opaque); grey
        palettes and grey images are compared as RGB. With a palette that has
        no alpha the result is opaque. ``quality``: as for :meth:`quantize`.
        """
        dither = options.check_dither(dither)
        quality = options.check_quality(quality)
        if dither and len(palette) > options.DITHER_MAX_COLORS:
            raise KmzError(f"dithering works with at most {options.DITHER_MAX_COLORS} colours", "bad-option")
        hist = self._histogram
        width = _common_channels(hist.colors.shape[1], palette.shape[1])
        labels = (
            nearest(
                _to_space(_widen(hist.colors, width), self.colorspace),
                _to_space(_widen(palette, width), self.colorspace),
                self.settings,
            )
            if len(palette) > 1
            else np.zeros(len(hist.colors), dtype=np.intp)
        )
        dtype = _index_dtype(len(palette))
        indices = hist.to_pixels(labels.astype(dtype))
        dithered = dither > 0 and len(palette) > 1
        if dithered:
            pixels, entries = _widen(self.pixels, width), _widen(palette, width)
            indices = error_diffusion(pixels, entries, indices, dither, quality)
        return Quantized(palette, indices.astype(dtype, copy=False), "given", self.colorspace, dithered)


def _common_channels(image: int, palette: int) -> int:
    """Channels two kinds of colour are compared in: grey with grey, else RGB; RGBA if either has alpha."""
    if image == palette == 1:
        return 1
    return 4 if 4 in (image, palette) else 3


def _widen(values: np.ndarray, channels: int) -> np.ndarray:
    """uint8 colours or pixels (..., 1|3|4) -> (..., channels): grey repeated, alpha 255 added or dropped."""
    have = values.shape[-1]
    if have == channels:
        return values
    if have == 1:
        values = np.repeat(values, 3, axis=-1)
    if channels == 4:
        opaque = np.full((*values.shape[:-1], 1), 255, dtype=np.uint8)
        return np.concatenate([values[..., :3], opaque], axis=-1)
    return np.ascontiguousarray(values[..., :3])


def cluster(
    colors: np.ndarray,
    counts: np.ndarray,
    k: int,
    method: str,
    colorspace: str,
    seed: int,
    settings: QuantizerSettings = DEFAULT_SETTINGS,
) -> tuple[np.ndarray, np.ndarray]:
    """A palette of at most ``k`` entries for a histogram of more than ``k`` distinct colours.

    ``colors`` (n, 1|3|4) uint8, sorted as :mod:`kmzcodec.histogram` sorts them,
    with their pixel ``counts``; returns the palette and each colour's entry.
    Fully transparent pixels (all one colour, (0, 0, 0, 0), the smallest) keep
    an entry of their own unless K = 1 leaves no room for one.
    """
    channels = colors.shape[1]
    reserved = channels == 4 and k > 1 and not colors[0].any()
    clustered = slice(1, None) if reserved else slice(None)
    # One contiguous copy (the histogram's colours are often a view of its RGBA keys) for
    # the coordinates and the k-means' grids both.
    chosen = np.ascontiguousarray(colors[clustered])
    points = _to_space(chosen, colorspace)
    weights = counts[clustered].astype(np.float64)
    fit = gmm if method == "gmm" else kmeans
    centers, bounds = fit(points, weights, chosen, k - int(reserved), seed, settings)
    labels = np.zeros(len(colors), dtype=np.intp)
    palette, labels[clustered] = _assign(points, centers, bounds, colorspace, channels, settings)
    if reserved:
        palette = np.vstack([palette, np.zeros((1, 4), dtype=np.uint8)])
        labels[0] = len(palette) - 1
    return palette, labels


def quantize(
    pixels: np.ndarray,
    colors: int,
    *,
    method: str = "kmeans",
    colorspace: str = "rgb",
    dither: bool | float = False,
    seed: int = 0,
    settings: QuantizerSettings = DEFAULT_SETTINGS,
) -> Quantized:
    """Choose a palette of at most ``colors`` entries for (H, W, 1|3|4) uint8 pixels.

    Fully transparent RGBA pixels share one entry (0, 0, 0, 0) of their own.
    Same input and options give the same result.
    """
    quantizer = Quantizer(pixels, method=method, colorspace=colorspace, seed=seed, settings=settings)
    return quantizer.quantize(colors, dither=dither)
