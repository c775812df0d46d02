"""``compression="smallest"``: try the ways the format allows to store the rows, keep the smallest.

A writer policy, not a stored code: the header records the compression that won
(spec 7: none, zlib or lzma) and the width it packed at (spec 6), so every
decoder reads the result. The pixels are the same as with any other compression;
the palette's entries too, and their order unless the writer may reorder them
(``reorder``: palettes the encoder chose itself, see below).

What is tried, for each packing width the writer's trial considers
(``container._candidate_bits``: the minimum and the wider byte-friendly ones; or only
the width asked for), in the
fixed order of :data:`CANDIDATES` (a tie keeps the earlier one):

- none (tiny images, where every stream's own overhead is larger than the gain);
- zlib: libdeflate levels 6, 9 and 12 and zlib level 9 (one single-threaded stream);
- lzma (.xz, no integrity check, the trailer's CRC covers the bytes): liblzma preset 6
  (the settings of ``compression="lzma"``), and preset 9 extreme with the literal
  coder's context bits (lc, lp, pb) set three ways: (3, 0, 2), liblzma's default;
  (4, 0, 0), the previous index alone predicting the next, which suits palette
  indices at 8 bits (they have no 2- or 4-byte structure); (0, 1, 1), for 16-bit
  indices. The dictionary is the rows' length (4 KiB at least, 64 MiB at most: spec 7.3),
  as the xz tool does: a larger one would find no more matches, and it spares decoders memory.

With ``reorder`` (K <= :data:`REORDER_MAX_COLORS`), every candidate is also tried with
the palette in a second order, :func:`neighbour_order`: entries that are often next
to each other (left-right and up-down) placed close together, so that lzma's literal
context (the previous index's high bits) predicts more of the next index. It saves
0.5-3.5 % on most photographs at K = 256 and loses on some graphics, hence a candidate,
tried after the palette's own order.

Row filters (spec 6.5): the rows may also be stored as residuals of a prediction from
each index's neighbours, which pays where neighbouring indices are close in value: a grey
image whose palette is in grey-level order (photographs, scanned pages). For each packing
width and each palette order (as given; with ``reorder`` also by luminance,
:func:`luminance_order`, and the neighbour order), the four filters (sub, up, gradient,
Paeth) are ranked on the sample by the size of a fast zlib stream (:data:`RANKING`), and
the residuals of the :data:`RANKED_FILTERS` best are compressed by each of
:data:`FILTERED_CANDIDATES`: further candidates, tried after the unfiltered ones (so a
tie keeps the unfiltered file).

Images of up to ``container.TRIAL_PIXELS`` pixels are compressed every way and
the smallest stream is stored. Larger ones are first compressed every way on the
writer's trial sample (bands of rows spread over the image); the candidates within
:data:`FULL_MARGIN` of the sample's best, at most :data:`FULL_COUNT` of them, and the
best of each compression (none, zlib, lzma) on the sample if within :data:`FAMILY_MARGIN`
of the sample's best, are then compressed in full
(on up to two threads) and the smallest of those is stored. (A sample can rank zlib above
lzma where the whole image, with its longer matches, ranks them the other way.) These
rules are applied twice, to the unfiltered ways alone and to all of them, and the union is
compressed in full: a filtered way that wins on the sample but loses on the whole image
(camera.png at K = 16: 5 % larger in full) never displaces the unfiltered choice.

An lzma way compressed in full is written as :data:`MAX_BLOCKS` independent blocks of whole
rows when its stream, estimated from its size on the sample, is large enough
(:data:`BLOCKED_BYTES`, :func:`block_cuts`; below :data:`CHECKED_BYTES` only if the cut
costs at most :data:`MAX_CUT_COST`): decoders may decode the blocks at once
(kmzcodec.xzblocks), for a little size. The winner is the smallest of the streams so written.
"""

from __future__ import annotations

import lzma
import zlib
from dataclasses import dataclass
from functools import partial

import numpy as np

from . import bitpack, rowfilter, threads, xzblocks
from .format import Compression, Filter

#: On a sample, candidates this close to the best (relative size) are compressed in full ...
FULL_MARGIN = 0.02
#: ... at most this many of them (the sample's best always is); and each compression's best
#: on the sample if it is this close to the best.
FULL_COUNT = 3
FAMILY_MARGIN = 0.10
#: An lzma stream is written as MAX_BLOCKS blocks, which decoders may decode at once on
#: several cores (spec 7.3; kmzcodec.xzblocks), when its size estimated from the sample is
#: BLOCKED_BYTES or more: liblzma decodes some 20 MB/s of compressed indices, 3-5x slower
#: than PNG-8's inflate, so the stream is what decoding waits for (64 KiB: about 4 ms, where
#: starting a thread costs under 0.2 ms). A cut costs size, each block learning its statistics afresh: 0.1-1 %
#: of the stream on 4 MP photographs, 0.5-1.3 % on 0.25-2 MP ones, 2-40 % on flat graphics
#: (whose streams are small). So below CHECKED_BYTES the ways are compared in one block,
#: and the winner is cut only if that costs at most MAX_CUT_COST. Two blocks halve the decode
#: time on two cores; more cost more and gain nothing there.
BLOCKED_BYTES = 64 << 10
CHECKED_BYTES = 512 << 10
MAX_CUT_COST = 0.015
MAX_BLOCKS = 2
#: Strips of rows whose deflated sizes place the cuts (block_cuts) ...
COST_STRIPS = 64
#: ... and the weight of their raw length: liblzma took about 50 ns per compressed byte and
#: 5-6 ns per byte of output decoding 4 MP photographs at K = 256 here.
RAW_COST = 0.11
#: Palettes of at most this many entries may be reordered (the neighbour table is K x K).
REORDER_MAX_COLORS = 256
#: liblzma's smallest and the spec's largest dictionary (spec 7.3).
MIN_DICTIONARY = 1 << 12
MAX_DICTIONARY = 64 << 20


@dataclass(frozen=True)
class Candidate:
    """One way of storing packed rows: a compression and the engine settings behind it."""

    compression: Compression
    engine: str  # "none", "libdeflate", "zlib" or "xz"
    level: int = 0
    literal: tuple[int, int, int] = (3, 0, 2)  # xz: lc, lp, pb

    @property
    def label(self) -> str:
        if self.engine == "xz":
            lc, lp, pb = self.literal
            preset = f"{self.level & 0xFF}e" if self.level & lzma.PRESET_EXTREME else str(self.level)
            return f"lzma preset {preset} lc{lc} lp{lp} pb{pb}"
        return self.engine if self.engine == "none" else f"{self.engine} {self.level}"


_EXTREME = 9 | lzma.PRESET_EXTREME
#: Every way tried, in the order that breaks ties (cheaper to decode first).
CANDIDATES: tuple[Candidate, ...] = (
    Candidate(Compression.NONE, "none"),
    Candidate(Compression.ZLIB, "libdeflate", 6),
    Candidate(Compression.ZLIB, "libdeflate", 9),
    Candidate(Compression.ZLIB, "libdeflate", 12),
    Candidate(Compression.ZLIB, "zlib", 9),
    Candidate(Compression.LZMA, "xz", 6),
    Candidate(Compression.LZMA, "xz", _EXTREME, (3, 0, 2)),
    Candidate(Compression.LZMA, "xz", _EXTREME, (4, 0, 0)),
    Candidate(Compression.LZMA, "xz", _EXTREME, (0, 1, 1)),
)


#: How the filtered rows are compressed: lzma 9e with the previous residual's high bits as
#: the literal context. (No literal context, (0, 0, 0), was 2-7 % larger on the grey images
#: where filters win, and at most 2 % smaller on colour ones, where they lose anyway.)
FILTERED_CANDIDATES: tuple[Candidate, ...] = (Candidate(Compression.LZMA, "xz", _EXTREME, (4, 0, 0)),)
#: What ranks the filters on the sample (about 2 ms a filter on 2^17 pixels, a twentieth of
#: lzma 9e) ...
RANKING = Candidate(Compression.ZLIB, "libdeflate", 6)
#: ... and how many of the best it ranks go on to FILTERED_CANDIDATES: its order and lzma's
#: differ when two filters are within a few per cent (grey.jpg: sub and gradient).
RANKED_FILTERS = 2
FILTERS = (Filter.SUB, Filter.UP, Filter.GRADIENT, Filter.PAETH)


def block_cuts(rows: bytes | memoryview, height: int, estimate: int) -> list[int]:
    """Where an lzma stream of ``rows`` (``height`` rows, packed) is cut into blocks: offsets
    in the rows, from 0 to their length, at row boundaries; for a stream ``estimate`` bytes long.

    MAX_BLOCKS blocks if the estimate is at least BLOCKED_BYTES, else one. A block's decode time
    follows its compressed size more than its row count (a sky decodes faster than foliage),
    so the cuts share out a cost per strip of rows (COST_STRIPS of them): the size of a fast
    deflate of the strip plus RAW_COST times its length.
    """
    count = min(MAX_BLOCKS, height) if estimate >= BLOCKED_BYTES else 1
    row_length = len(rows) // height
    if count == 1:
        return [0, len(rows)]
    view = memoryview(rows).cast("B")
    strips = min(height, COST_STRIPS)
    bounds = [height * number // strips for number in range(strips + 1)]
    strip_rows = [
        view[top * row_length : bottom * row_length] for top, bottom in zip(bounds, bounds[1:], strict=False)
    ]
    costs = np.cumsum([len(compress(strip, RANKING)) + RAW_COST * len(strip) for strip in strip_rows])
    rows_at = [0]
    for number in range(1, count):
        strip = int(np.searchsorted(costs, costs[-1] * number / count))  # the strip where the share ends
        rows_at.append(max(rows_at[-1] + 1, min(bounds[strip + 1], height - (count - number))))
    return [row * row_length for row in rows_at] + [len(rows)]


def compress(
    raw: bytes | memoryview, candidate: Candidate, cuts: list[int] | None = None
) -> bytes | memoryview:
    """The stored data for ``raw`` (packed rows) made the candidate's way; an lzma stream as one
    block per piece between ``cuts`` (:func:`block_cuts`; None: one block)."""
    if candidate.engine == "none":
        return raw
    if candidate.engine == "libdeflate":
        import deflate as libdeflate  # imported here: only encoding needs it

        return bytes(libdeflate.zlib_compress(raw, candidate.level))
    if candidate.engine == "zlib":
        return zlib.compress(raw, candidate.level)
    lc, lp, pb = candidate.literal
    dictionary = min(MAX_DICTIONARY, max(MIN_DICTIONARY, len(raw)))
    chain = [{"id": lzma.FILTER_LZMA2, "preset": candidate.level, "dict_size": dictionary,
              "lc": lc, "lp": lp, "pb": pb}]  # fmt: skip
    if cuts is not None and len(cuts) > 2:
        return xzblocks.compress(raw, cuts, chain)
    return lzma.compress(raw, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, filters=chain)


@dataclass(frozen=True)
class Stored:
    """The winner: width, compression, the candidate that made it and its stored bytes."""

    bits: int
    candidate: Candidate
    stored: bytes | memoryview
    order: np.ndarray | None = None  # palette[order] is the palette stored; None: as given
    filter: Filter = Filter.NONE

    @property
    def compression(self) -> Compression:
        return self.candidate.compression

    def rows(self, indices: np.ndarray) -> bytes | memoryview:
        """``indices`` as this way stores them before compression: reordered, filtered, packed."""
        moved = _reordered(indices, self.order)
        if self.filter is not Filter.NONE:
            moved = rowfilter.residuals(moved, self.bits, self.filter)
        return bitpack.pack(moved, self.bits)


def luminance_order(palette: np.ndarray) -> np.ndarray:
    """A palette order by luma (Rec. 601 weights, in integers), then alpha, then position."""
    entries = palette.astype(np.int64)
    if entries.shape[1] == 1:
        luma = entries[:, 0]
    else:
        luma = entries[:, :3] @ np.array([299, 587, 114], dtype=np.int64)
    alpha = entries[:, 3] if entries.shape[1] == 4 else np.zeros(len(entries), dtype=np.int64)
    return np.lexsort((np.arange(len(entries)), alpha, luma))


def neighbour_order(indices: np.ndarray, colors: int) -> np.ndarray:
    """A palette order (a permutation of range(colors)) that keeps often-adjacent entries close.

    Counts, over ``indices``, how often each pair of entries are left-right or up-down
    neighbours, then grows a chain from the most frequent entry: at each step the unplaced
    entry that is most often next to one of the chain's two ends joins that end (ties:
    the right end, then the lower entry). Deterministic.
    """
    flat = np.ascontiguousarray(indices, dtype=np.int64)
    left, right = flat[:, :-1].ravel(), flat[:, 1:].ravel()
    above, below = flat[:-1, :].ravel(), flat[1:, :].ravel()
    pairs = np.bincount(np.concatenate([left * colors + right, above * colors + below]), minlength=colors**2)
    together = pairs.reshape(colors, colors)
    together = together + together.T
    np.fill_diagonal(together, 0)
    placed = np.zeros(colors, dtype=bool)
    first = int(np.argmax(np.bincount(flat.ravel(), minlength=colors)))
    placed[first] = True
    chain, ends = [first], [first, first]
    heads: list[int] = []
    while len(heads) + len(chain) < colors:
        at_left = np.where(placed, -1, together[ends[0]])
        at_right = np.where(placed, -1, together[ends[1]])
        grow_left, grow_right = int(np.argmax(at_left)), int(np.argmax(at_right))
        if at_right[grow_right] >= at_left[grow_left]:
            chain.append(grow_right)
            placed[grow_right], ends[1] = True, grow_right
        else:
            heads.append(grow_left)
            placed[grow_left], ends[0] = True, grow_left
    return np.array(heads[::-1] + chain, dtype=np.int64)


def _reordered(indices: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    """The indices into palette[order]."""
    if order is None:
        return indices
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return inverse.astype(indices.dtype)[indices]


def _all_ways(indices: np.ndarray, widths: list[int], orders: list[np.ndarray | None]) -> list[Stored]:
    """Every (order, width, candidate), compressed, in tie-break order: order, width, CANDIDATES."""
    made: list[Stored] = []
    for order in orders:
        moved = _reordered(indices, order)
        for bits in widths:
            packed = bitpack.pack(moved, bits)
            made.extend(
                Stored(bits, candidate, compress(packed, candidate), order) for candidate in CANDIDATES
            )
    return made


def _filtered_ways(indices: np.ndarray, widths: list[int], orders: list[np.ndarray | None]) -> list[Stored]:
    """For each (order, width), the RANKED_FILTERS best filters by RANKING, compressed by each
    FILTERED_CANDIDATES (in FILTERS order, for the ties)."""
    made: list[Stored] = []
    for order in orders:
        moved = _reordered(indices, order)
        for bits in widths:
            packed = [bitpack.pack(rowfilter.residuals(moved, bits, kind), bits) for kind in FILTERS]
            sizes = [len(compress(rows, RANKING)) for rows in packed]
            ranked = sorted(range(len(FILTERS)), key=lambda number: (sizes[number], number))
            made.extend(
                Stored(bits, candidate, compress(packed[best], candidate), order, FILTERS[best])
                for best in sorted(ranked[:RANKED_FILTERS])
                for candidate in FILTERED_CANDIDATES
            )
    return made


def _orders(palette: np.ndarray, sample: np.ndarray, colors: int, reorder: bool) -> tuple[list, list]:
    """The palette orders tried without a filter, and with one (None: as given; no repeats)."""
    plain: list[np.ndarray | None] = [None]
    filtered: list[np.ndarray | None] = [None]
    if reorder and colors > 2:
        filtered.append(luminance_order(palette))
        if colors <= REORDER_MAX_COLORS:
            plain.append(neighbour_order(sample, colors))
            filtered.append(plain[-1])
    unique: list[np.ndarray | None] = []
    for order in filtered:
        if order is not None and np.array_equal(order, np.arange(colors)):
            order = None
        if not any(_same(order, kept) for kept in unique):
            unique.append(order)
    return plain, unique


def _same(one: np.ndarray | None, other: np.ndarray | None) -> bool:
    if one is None or other is None:
        return one is other
    return bool(np.array_equal(one, other))


def _promising(trial: list[Stored], numbers: list[int]) -> set[int]:
    """Of ``trial[numbers]`` (on the sample), those to compress in full: the FULL_COUNT best
    within FULL_MARGIN of the best, and each compression's best within FAMILY_MARGIN."""
    order = sorted(numbers, key=lambda number: (len(trial[number].stored), number))
    limit = len(trial[order[0]].stored) * (1 + FULL_MARGIN)
    chosen = {number for number in order[:FULL_COUNT] if len(trial[number].stored) <= limit}
    family_limit = len(trial[order[0]].stored) * (1 + FAMILY_MARGIN)
    for compression in Compression:  # the sample may rank the compressions wrongly
        best = next(number for number in order if trial[number].compression is compression)
        if len(trial[best].stored) <= family_limit:
            chosen.add(best)
    return chosen


def _smallest_at(made: list[Stored]) -> int:
    """Where the smallest of ``made`` is (of equal sizes the first)."""
    return min(range(len(made)), key=lambda at: (len(made[at].stored), at))


def store(
    palette: np.ndarray,
    indices: np.ndarray,
    widths: list[int],
    sample: np.ndarray,
    *,
    reorder: bool,
) -> Stored:
    """The smallest way found to store ``indices`` (see the module's docstring for what is tried).

    ``sample`` is the writer's trial sample of the image (the image itself when it is small);
    ``reorder`` allows a palette order other than the one given (the result's ``order``).
    """
    plain, filtered = _orders(palette, sample, len(palette), reorder)
    if sample.shape == indices.shape:
        made = _all_ways(indices, widths, plain) + _filtered_ways(indices, widths, filtered)
        return made[_smallest_at(made)]
    trial = _all_ways(sample, widths, plain) + _filtered_ways(sample, widths, filtered)
    unfiltered = [number for number, way in enumerate(trial) if way.filter is Filter.NONE]
    # What would be chosen without the filters, and the best of all: a filtered stream that
    # wins on the sample and loses on the whole image never displaces the unfiltered choice.
    chosen = _promising(trial, unfiltered) | _promising(trial, list(range(len(trial))))

    def estimate(number: int) -> int:
        """The way's stream size in full, estimated from the sample."""
        return len(trial[number].stored) * indices.size // sample.size

    def full(number: int) -> Stored:
        way = trial[number]
        rows = way.rows(indices)
        cuts = None
        if way.compression is Compression.LZMA and estimate(number) >= CHECKED_BYTES:
            cuts = block_cuts(rows, indices.shape[0], estimate(number))  # cut whatever it costs
        return Stored(way.bits, way.candidate, compress(rows, way.candidate, cuts), way.order, way.filter)

    numbers = sorted(chosen)  # tie-break order
    # Two at once at most (liblzma and zlib release the GIL; each holds a whole stream).
    made = threads.run_all([partial(full, number) for number in numbers], 2)
    place = _smallest_at(made)
    best, number = made[place], numbers[place]
    # Below CHECKED_BYTES the ways were compared in one block; the winner is cut if that costs
    # at most MAX_CUT_COST (one more compression, of the winner only).
    if best.compression is Compression.LZMA and BLOCKED_BYTES <= estimate(number) < CHECKED_BYTES:
        rows = best.rows(indices)
        cuts = block_cuts(rows, indices.shape[0], estimate(number))
        if len(cuts) > 2:
            blocked = compress(rows, best.candidate, cuts)
            if len(blocked) <= len(best.stored) * (1 + MAX_CUT_COST):
                return Stored(best.bits, best.candidate, blocked, best.order, best.filter)
    return best
