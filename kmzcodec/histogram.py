"""The distinct colours of an image with their pixel counts, and the way back to pixels.

RGB and RGBA pixels are packed into 32-bit keys (:func:`pack`) and counted a
band of rows at a time; a label per distinct colour goes back to a label per
pixel through a lookup table indexed by the packed colour, one gather over the
pixels, never a pixels x K distance matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .bands import map_bands


@dataclass
class Histogram:
    """The distinct colours of an image, their pixel counts, and the way back to pixels."""

    colors: np.ndarray  # (n, channels) uint8, sorted
    counts: np.ndarray  # (n,) pixel counts
    to_pixels: Callable[[np.ndarray], np.ndarray]  # a label per colour -> (H, W) labels


def histogram(pixels: np.ndarray, band: int) -> Histogram:
    """The histogram of (H, W, 1|3|4) uint8 pixels, counted ``band`` pixels at a time."""
    if pixels.shape[2] == 1:
        return _histogram_grey(pixels[:, :, 0])
    return _histogram_color(pixels, band)


def _histogram_grey(values: np.ndarray) -> Histogram:
    counts = np.bincount(values.ravel(), minlength=256)
    present = np.flatnonzero(counts)

    def to_pixels(labels: np.ndarray) -> np.ndarray:
        lut = np.zeros(256, dtype=labels.dtype)
        lut[present] = labels
        return lut[values]

    return Histogram(present.astype(np.uint8)[:, None], counts[present], to_pixels)


#: Images of at most this many pixels are mapped by binary search of their colours instead
#: of through the 2**24-entry table, whose allocation alone costs more than the search.
SEARCHED_PIXELS = 1 << 16


def pack(pixels: np.ndarray) -> np.ndarray:
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


def _histogram_color(pixels: np.ndarray, band: int) -> Histogram:
    """RGB and RGBA: sorted packed keys, counted a band of ``band`` pixels at a time.

    Working in bands keeps the memory to the pixels, the indices and a 2**24
    lookup table (no full-size key array or sort copy). Pixels go back through
    that table, indexed by the packed colour; RGBA pixels that are not opaque
    (usually few) are found by binary search instead. An image of one band keeps its keys
    (4 bytes a pixel, one band of them) for that: packing them again took about
    0.5 ms of a 0.26 MP photograph's encode.
    """
    height, width, channels = pixels.shape
    whole: list[np.ndarray] = []  # the keys of the whole image, when it is one band

    def count(top: int, bottom: int) -> tuple[np.ndarray, np.ndarray]:
        keys = pack(pixels[top:bottom])
        if top == 0 and bottom == height:
            whole.append(keys)
        return np.unique(keys, return_counts=True)

    distinct, counts = _merge_counts(map_bands(count, height, width, band))
    colors = distinct.view(np.uint8).reshape(-1, 4)[:, :channels]
    opaque = np.uint32(0xFF000000 if channels == 4 else 0)

    def to_pixels(labels: np.ndarray) -> np.ndarray:
        if height * width <= SEARCHED_PIXELS:  # every key is in ``distinct``: an exact search
            return labels[np.searchsorted(distinct, whole[0] if whole else pack(pixels))]
        # Left unset but where a colour of the image falls: every key read below is one of
        # ``distinct`` (RGBA keys that are not opaque are then replaced by a search), and
        # a 16 MB table need not be cleared (about 1 ms, as much as the look-up).
        lut = np.empty(1 << 24, dtype=labels.dtype)
        if channels == 3:  # every key is below 2**24
            lut[distinct] = labels
        else:
            plain = distinct >= opaque
            lut[distinct[plain] & 0xFFFFFF] = labels[plain]
        out = np.empty((height, width), dtype=labels.dtype)

        def look_up(top: int, bottom: int) -> None:
            keys = whole[0][top:bottom] if whole else pack(pixels[top:bottom])
            if channels == 3:  # keys are below 2**24
                np.take(lut, keys, out=out[top:bottom], mode="clip")
                return
            found = lut[keys & 0xFFFFFF]
            rest = keys < opaque
            found[rest] = labels[np.searchsorted(distinct, keys[rest])]
            out[top:bottom] = found

        map_bands(look_up, height, width)
        return out

    return Histogram(colors, counts, to_pixels)


@dataclass(frozen=True)
class ColorCounts:
    """How many pixels of each colour one or more images have: a summary that adds up.

    ``keys`` are sorted, distinct RGBA keys as :func:`pack` makes them but with
    alpha 255 for opaque colours (so RGB, grey and RGBA images share one key
    space; every fully transparent pixel is key 0), ``counts`` their pixel
    counts. Merging adds counts of equal keys: integers, so the result is the
    same in any order or grouping — computed in one process, in workers or on
    a cluster. ``grey`` says every image counted was grey.
    """

    keys: np.ndarray  # (n,) uint32, sorted, distinct
    counts: np.ndarray  # (n,) int64
    grey: bool

    @staticmethod
    def merge(many: list[ColorCounts]) -> ColorCounts:
        if not many:
            raise ValueError("nothing to merge")
        keys, counts = _merge_counts([(part.keys, part.counts) for part in many])
        return ColorCounts(keys, counts.astype(np.int64, copy=False), all(part.grey for part in many))

    @property
    def colors(self) -> np.ndarray:
        """(n, 1|3|4) uint8: grey when every image was, RGB when every colour is opaque, else RGBA."""
        rgba = self.keys.view(np.uint8).reshape(-1, 4)
        if (rgba[:, 3] == 255).all():
            return rgba[:, :1] if self.grey else rgba[:, :3]
        return rgba


def color_counts(pixels: np.ndarray, band: int) -> ColorCounts:
    """The :class:`ColorCounts` of (H, W, 1|3|4) uint8 pixels, counted ``band`` pixels at a time."""
    height, width, channels = pixels.shape
    if channels == 1:
        counts = np.bincount(pixels.ravel(), minlength=256)
        present = np.flatnonzero(counts).astype(np.uint32)
        keys = present | present << 8 | present << 16 | np.uint32(0xFF000000)
        return ColorCounts(keys, counts[present].astype(np.int64), True)
    opaque = np.uint32(0xFF000000 if channels == 3 else 0)

    def count(top: int, bottom: int) -> tuple[np.ndarray, np.ndarray]:
        return np.unique(pack(pixels[top:bottom]) | opaque, return_counts=True)

    keys, counts = _merge_counts(map_bands(count, height, width, band))
    return ColorCounts(keys, counts.astype(np.int64, copy=False), False)
