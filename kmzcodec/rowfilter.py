"""Row filters (spec 4.12 and 6.5): predict each index from its neighbours, store the residual.

A filtered file stores, in place of each index ``v`` at column x, row y, the residual
``(v - prediction) mod 2^bits`` (bits = bits_per_index), packed exactly as indices are
(spec 6.2). The prediction uses the *indices* (not the residuals) of the left (a), upper
(b) and upper-left (c) neighbours, 0 where a neighbour lies outside the image:

- sub: a;  up: b;  gradient: (a + b - c) mod 2^bits;
- Paeth: PNG's predictor, of whichever of a, b, c is nearest p = a + b - c (plain integers,
  ties to a, then b).

Undoing them: sub, up and gradient are cumulative sums modulo 2^bits (the gradient's is a
sum over both axes, because its prediction is linear), done by numpy with the wrap-around
of uint8 / uint16 arithmetic, in whole-array steps rather than numpy's cumsum, whose
running sum takes one element at a time (about 2.4 ns each here): along the rows by
doubling (log2(width) shifted adds, in bands on threads), down the columns a group of
rows at a time; Paeth picks one neighbour per pixel, so it is a compiled loop
(kmzcodec._paeth: numba, imported at the first Paeth file only; a decode of another
filter never imports numba).
"""

from __future__ import annotations

import math

import numpy as np

from ._paeth import undo_paeth
from .bands import map_bands, row_bands
from .format import Filter
from .threads import cpu_budget


def _value_type(bits: int) -> type[np.unsignedinteger]:
    return np.uint8 if bits <= 8 else np.uint16


def residuals(indices: np.ndarray, bits: int, kind: Filter) -> np.ndarray:
    """What a filtered file stores for ``indices`` (each < 2^bits): uint8 up to 8 bits, else uint16.

    Computed a band of rows at a time (each with the row above it), so the temporaries stay
    a few MB whatever the image's size.
    """
    dtype = _value_type(bits)
    if kind is Filter.NONE:
        return np.ascontiguousarray(indices, dtype=dtype)
    out = np.empty(indices.shape, dtype=dtype)
    for top, bottom in row_bands(*indices.shape):
        first = max(0, top - 1)
        band = _band_residuals(np.asarray(indices[first:bottom], dtype=np.int32), kind, top > 0)
        out[top:bottom] = band & ((1 << bits) - 1)
    return out


def _band_residuals(x: np.ndarray, kind: Filter, above: bool) -> np.ndarray:
    """Residuals (not yet reduced) of the rows of ``x``, less its first row when ``above``."""
    a, b, c = np.zeros_like(x), np.zeros_like(x), np.zeros_like(x)
    a[:, 1:], b[1:], c[1:, 1:] = x[:, :-1], x[:-1], x[:-1, :-1]
    if kind is Filter.SUB:
        guess = a
    elif kind is Filter.UP:
        guess = b
    elif kind is Filter.GRADIENT:
        guess = a + b - c
    else:
        base = a + b - c
        near_a, near_b, near_c = np.abs(base - a), np.abs(base - b), np.abs(base - c)
        guess = np.where((near_a <= near_b) & (near_a <= near_c), a, np.where(near_b <= near_c, b, c))
    rest = x - guess
    return rest[1:] if above else rest


def restore(values: np.ndarray, bits: int, kind: Filter) -> np.ndarray:
    """The indices behind stored ``values`` (a (height, width) array of residuals < 2^bits).

    Returns a new uint8 (bits <= 8) or uint16 array; nothing is checked against K here.
    """
    dtype = _value_type(bits)
    mask = (1 << bits) - 1
    if kind is Filter.NONE:
        return np.asarray(values, dtype=dtype)
    if kind is Filter.PAETH:
        out = np.empty(values.shape, dtype=dtype)
        undo_paeth(np.ascontiguousarray(values, dtype=dtype), mask, out)
        return out
    out = np.array(values, dtype=dtype)  # a copy: restored in place
    if kind is not Filter.SUB:  # up and gradient: a running sum down the columns
        _sum_down(out)
    if kind is not Filter.UP:  # sub and gradient: a running sum along the rows
        _sum_across(out)
    if mask != np.iinfo(dtype).max:
        np.bitwise_and(out, dtype(mask), out=out)
    return out


#: Images of fewer pixels than this per thread are summed along the rows on one thread.
PARALLEL_PIXELS = 1 << 18
#: Rows narrower than this are summed down by numpy's cumsum (the grouped steps of
#: :func:`_sum_down` cost more calls than the additions there).
ROW_LOOP_WIDTH = 256
#: Pixels of rows summed along at once by :func:`_scan_rows`: the two buffers it adds
#: between stay in the CPU's cache. Measured on 0.25-4 MP, 300-4000 wide: 2**18 gave
#: 0.36-4.0 ms where numpy's cumsum took 0.64-10 ms; 2**14 was slower than cumsum.
SCAN_PIXELS = 1 << 18


def _sum_down(out: np.ndarray) -> None:
    """``out`` replaced by its running sum down the columns (wrapping in its dtype), in place.

    Rows are taken in about sqrt(height) groups of as many rows: each row of every group
    adds the row above it in its group (one call per row of a group, for all the groups at
    once), the groups' totals are summed down (one call per group), and each group adds the
    total of the groups above it. So about 2 sqrt(height) numpy calls instead of one per
    row (3-7x faster on 0.25-4 MP); the sums are the same, addition modulo 2^n being
    associative.
    """
    height, width = out.shape
    if width < ROW_LOOP_WIDTH:
        np.cumsum(out, axis=0, dtype=out.dtype, out=out)
        return
    size = max(1, math.isqrt(height))
    groups = height // size
    done = 1
    if groups > 1:
        grid = out[: groups * size].view()
        grid.shape = (groups, size, width)  # a view of ``out`` (raises rather than copy)
        for row in range(1, size):
            np.add(grid[:, row - 1], grid[:, row], out=grid[:, row])
        totals = grid[:, size - 1].copy()  # each group's own total, then summed down
        for group in range(1, groups):
            np.add(totals[group - 1], totals[group], out=totals[group])
        np.add(grid[1:], totals[:-1, None, :], out=grid[1:])
        done = groups * size
    for y in range(done, height):  # rows after the last whole group (all rows if one group)
        np.add(out[y - 1], out[y], out=out[y])


def _scan_rows(out: np.ndarray, scratch: np.ndarray) -> None:
    """``out`` replaced by its running sum along each row, by doubling: after the step of
    ``shift``, each element holds the sum of the ``2 * shift`` elements ending at it.
    ``scratch`` (the shape of ``out``) takes every other step's result."""
    width = out.shape[1]
    source, target = out, scratch
    shift = 1
    while shift < width:
        target[:, :shift] = source[:, :shift]
        np.add(source[:, shift:], source[:, :-shift], out=target[:, shift:])
        source, target = target, source
        shift *= 2
    if source is not out:
        out[...] = source


def _sum_across(out: np.ndarray) -> None:
    """``out`` replaced by its running sum along each row, in place: one band of rows per
    thread (kmzcodec.bands.map_bands; rows are independent; numpy releases the GIL. Measured
    on 4 MP on two cores: two bands on two threads take half the time of one, four bands on
    two threads no less than one), each summed SCAN_PIXELS at a time by :func:`_scan_rows`."""
    height, width = out.shape
    count = max(1, min(cpu_budget(), height, out.size // PARALLEL_PIXELS))
    rows = max(1, SCAN_PIXELS // width)

    def band(top: int, bottom: int) -> None:
        scratch = np.empty((min(rows, bottom - top), width), dtype=out.dtype)
        for first in range(top, bottom, rows):
            last = min(bottom, first + rows)
            _scan_rows(out[first:last], scratch[: last - first])

    map_bands(band, height, width, pixels=-(-height // count) * width)
