"""Feasibility study: a context-modelled coder for palette indices instead of lzma (issue 12, part 3).

Not a format change: a research prototype, kept for its numbers. The question: could a new
compression method, specialised for palette indices, store what ``compression="smallest"``
stores within about 1-2 % of its size (or smaller) on photographs and graphics, and decode
on one thread in <= ~1.5x PNG-8's time (liblzma decodes at ~76 ns per stored byte, PNG-8 at
~17 ns per PNG byte: bench_smallest.py)?

For each image of bench_smallest.py (downscaled to ``--max-pixels`` as it does), K = 256,
the file ``container.write(..., compression="smallest", method=...)`` makes is decoded again,
so the indices modelled are exactly those smallest stores, in its palette order. Then:

Ideal code lengths (sum of -log2 p with the probabilities a 12-bit rANS coder would use,
plus the bytes of its static tables: every context's 12-bit frequencies as uint16, raw
lzma2 at preset 9e, an honest but not tight estimate), per model:

- ``rank``: per pixel, the candidates left, up, up-right, up-left (duplicates dropped, in
  that order); the symbol is the candidate's rank, or an escape: the pixel's rank among the
  other entries in the palette sorted by RGB(A) distance from the left entry (``nn`` table,
  K x K, built by the decoder from the palette), ranks 0..15 coded directly, larger ones as
  4 buckets per octave plus raw bits (44 symbols). Context: which of left, up, up-left,
  up-right are equal (5 bits) times 5 buckets of the rank of up in left's distance order.
  Static tables, one per context.
- ``rank-up``: the ``rank`` symbols, but contexts that need no pixel of the row being
  decoded: which of up, up-left, up-right and up-up are equal, times 5 buckets of the rank of
  up-left in up's order (81 contexts);
- ``rank-up+prev``: ``rank-up`` times 4 classes of the previous pixel's symbol (0, 1, 2-3,
  escape): a decoder can then find all of a row's symbols before any of its indices.
- ``rank-grad``: the ``rank`` model, but the escape is the index's difference from the
  gradient predictor clamp(left + up - up-left) (index space, zig-zag): for grey palettes.
- ``order1``: static order-1 tables on the left index (256 x 256 frequencies stored).
- ``best``: the smallest of rank, rank-grad and order1, + 1 byte to say which.
- ``adaptive``: the ``rank`` symbols with adaptive counts per context (no tables; a decoder
  would need a cumulative-frequency search per pixel: slower, given for reference).
- ``rank+lz``: ``rank`` plus an LZ77 layer (greedy, hash of 8 indices, 32 tries, matches
  >= 8 pixels anywhere within 1 << 22 pixels back, taken when the model would spend more
  bits on those pixels than 8 + 2 log2(length) + log2(distance); a match is a 45th symbol
  of the rank model, its length and distance coded as buckets + raw bits with their own
  static tables). Not decoded here.

Then ``rank`` and ``rank-up+prev`` are really coded (numba rANS, 12-bit probabilities,
32-bit state, 16-bit words; STRIPS = 2 strips of rows, each its own stream, one set of
tables) and decoded by numba prototypes; the decoded indices must equal the stored ones:

- ``rank``: one loop over the pixels, a pixel of each strip in turn (so the processor can
  overlap the two chains of dependent steps); the symbol from a 256-entry first guess per
  context plus a short search of the cumulative frequencies; candidates without branches.
- ``rank-up+prev``: per row, the contexts from the rows above, then the symbols (a chain
  only through the coder's state), then the indices (a chain only through the left index).
- ``chain``: the rANS symbol decode of rank-up+prev alone (one stream, contexts given): a
  floor for any per-pixel coder of this kind in numba on this machine; ``2 chains``: the
  same for the two strips' streams, a symbol of each in turn.

Columns: each model's bytes (payload + tables + the 44 bytes of header and trailer + the
palette) / smallest's file; for the coded ones, the real bytes / smallest's, decode ns per
pixel including what the decoder builds from the palette and tables (the 256 x 256 distance
order, about 3 ms, and the search tables), "kernel" without them, and PNG-8's decode (Pillow
Image.open + load of the same palette and indices saved with optimize=True); medians of
``--repeat``, one thread, numba compile time excluded (numba's import and the first calls
are printed once). ``--cache DIR`` keeps the stored rows for later runs.

    flock /tmp/kmz-bench.lock .venv/bin/python benchmarks/proto_coder.py --corpus ../shared/corpus

Found (2026-12-03, 2 cores shared, one thread timed): the size is there, the speed is not.
``rank`` is 0.81x smallest's file on photographs (geometric mean; best of three models
0.80x, 15 of 18 at least 5 % smaller; grey 1.06x at best, path and hubble 0.90x only with
order1), and really coded within 0.3 % of its ideal on photographs (graphics: up to 1.1 %).
On graphics the per-pixel models lose (document 6.6x, screen 3.0x): the greedy LZ layer
brings them to 0.95x but leaves document 1.25x, screen 1.22x. The decoders take 3.8x (rank,
tables excluded) to 4.4x (included) PNG-8's time on photographs and 7-9x on graphics; the
rANS chain alone (contexts given) is 1.9x PNG-8 on photographs with one stream and 1.3x
with two, before any context or index work, and 4-6x on graphics, whose PNG-8 decodes at
about 1 ns per pixel. Not built.
"""

from __future__ import annotations

import argparse
import io
import lzma
import math
import statistics
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _corpus  # noqa: E402
import bench_smallest  # noqa: E402

from kmzcodec import container  # noqa: E402
from kmzcodec.encoder import encode_details  # noqa: E402
from kmzcodec.format import Method  # noqa: E402

SCALE = 12  # rANS probability bits
COARSE = 8  # the decoder's first guess of a symbol: from the top 6 bits of its slot
DIRECT = 16  # escape ranks coded directly; larger ones as buckets + raw bits
ALPHABET = 4 + DIRECT + 24  # candidate ranks, direct escapes, 4 buckets x 6 octaves (16..1023)
MATCH = ALPHABET  # the LZ layer's match symbol
MIN_MATCH = 8
WINDOW = 1 << 22
STRIPS = 2  # the decoder's independent strips of rows (4 was slower: 31 vs 25 ns/px on astronaut)
_TABLE_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]

_jit: dict[str, object] = {}


def _compile() -> dict[str, object]:
    """The numba kernels, compiled once (numba's import is only paid here)."""
    if _jit:
        return _jit
    from numba import njit

    kernel = njit(cache=True, nogil=True)
    plain = njit(nogil=True)  # for the generated decoder: no file to cache it in

    @kernel
    def bucket(r: int) -> tuple[int, int, int]:
        """A rank or length -> (symbol within the bucketed part, raw bit count, raw bits)."""
        if r < DIRECT:
            return r, 0, 0
        b = 0
        v = r
        while v > 1:
            v >>= 1
            b += 1
        return DIRECT + (b - 4) * 4 + ((r >> (b - 2)) & 3), b - 2, r & ((1 << (b - 2)) - 1)

    @kernel
    def neighbours(indices, y, x):  # type: ignore[no-untyped-def]
        width = indices.shape[1]
        if y == 0:
            left = indices[y, x - 1] if x > 0 else 0
            return left, left, left, left
        up = indices[y - 1, x]
        left = indices[y, x - 1] if x > 0 else up
        corner = indices[y - 1, x - 1] if x > 0 else up
        right = indices[y - 1, x + 1] if x + 1 < width else up
        return left, up, corner, right

    @kernel
    def context(left, up, corner, right, rank):  # type: ignore[no-untyped-def]
        pattern = (
            (left == up)
            + (left == corner) * 2
            + (up == right) * 4
            + (up == corner) * 8
            + (left == right) * 16
        )
        far = rank[left, up]
        step = 0 if far == 0 else (1 if far < 3 else (2 if far < 8 else (3 if far < 24 else 4)))
        return pattern * 5 + step

    @kernel
    def transform(indices, rank, escape):  # type: ignore[no-untyped-def]
        """Per pixel: context, symbol, raw bit count, raw bits (escape 0: distance rank, 1: gradient)."""
        height, width = indices.shape
        n = height * width
        ctx = np.empty(n, np.int32)
        sym = np.empty(n, np.int32)
        nbits = np.zeros(n, np.int32)
        low = np.zeros(n, np.int32)
        cand = np.empty(4, np.int32)
        for y in range(height):
            for x in range(width):
                left, up, corner, right = neighbours(indices, y, x)
                i = y * width + x
                ctx[i] = context(left, up, corner, right, rank)
                count = 0
                for c in (left, up, right, corner):
                    new = True
                    for j in range(count):
                        if cand[j] == c:
                            new = False
                    if new:
                        cand[count] = c
                        count += 1
                value = indices[y, x]
                s = -1
                for j in range(count):
                    if cand[j] == value:
                        s = j
                if s < 0:
                    if escape == 0:
                        r = rank[left, value]
                        for j in range(count):
                            if rank[left, cand[j]] < rank[left, value]:
                                r -= 1
                    else:
                        guess = min(max(int(left) + int(up) - int(corner), 0), 255)
                        d = int(value) - guess
                        r = 2 * d if d >= 0 else -2 * d - 1
                    e, nb, lo = bucket(r)
                    nbits[i] = nb
                    low[i] = lo
                    s = 4 + e
                sym[i] = s
        return ctx, sym, nbits, low

    @kernel
    def up_context(rows, y, x, row, rank):  # type: ignore[no-untyped-def]
        """The context of pixel (``x``, ``y``) of ``rows`` from the rows above it alone (0 on
        ``row`` 0, the first of its strip): which of up, up-left, up-right and up-up are equal,
        times the rank of up-left in up's distance order (5 steps). The encoder's contexts and
        the decoupled decoder's (_UP_CONTEXTS) are both this."""
        width = rows.shape[1]
        if row == 0:
            return 0
        up = rows[y - 1, x]
        corner = rows[y - 1, x - 1] if x > 0 else up
        right = rows[y - 1, x + 1] if x + 1 < width else up
        upper = rows[y - 2, x] if row > 1 else up
        pattern = (up == corner) + (up == right) * 2 + (corner == right) * 4 + (up == upper) * 8
        far = rank[up, corner]
        step = 0 if far == 0 else (1 if far < 3 else (2 if far < 8 else (3 if far < 24 else 4)))
        return 1 + pattern * 5 + step

    @kernel
    def up_contexts(indices, rank, sym, previous):  # type: ignore[no-untyped-def]
        """:func:`up_context` of every pixel, times (``previous``) 4 classes of the previous
        pixel's symbol (0, 1, 2-3, escape)."""
        height, width = indices.shape
        ctx = np.empty(height * width, np.int32)
        for y in range(height):
            for x in range(width):
                c = up_context(indices, y, x, y, rank)
                if previous:
                    last = sym[y * width + x - 1] if x > 0 else 0
                    c = c * 4 + (last if last < 2 else (2 if last < 4 else 3))
                ctx[y * width + x] = c
        return ctx

    @kernel
    def lefts(indices):  # type: ignore[no-untyped-def]
        height, width = indices.shape
        out = np.empty(height * width, np.int32)
        for y in range(height):
            for x in range(width):
                out[y * width + x] = indices[y, x - 1] if x > 0 else (indices[y - 1, x] if y > 0 else 0)
        return out

    @kernel
    def adaptive_bits(ctx, sym, contexts, alphabet):  # type: ignore[no-untyped-def]
        counts = np.ones((contexts, alphabet), np.int64)
        totals = np.full(contexts, alphabet, np.int64)
        bits = 0.0
        for i in range(len(ctx)):
            c, s = ctx[i], sym[i]
            bits -= math.log2(counts[c, s] / totals[c])
            counts[c, s] += 24
            totals[c] += 24
            if totals[c] > 1 << 16:
                t = 0
                for j in range(alphabet):
                    counts[c, j] = (counts[c, j] + 1) >> 1
                    t += counts[c, j]
                totals[c] = t
        return bits

    @kernel
    def lz_parse(flat, sym, nbits, spent):  # type: ignore[no-untyped-def]
        """Greedy LZ77 over the rank model: puts MATCH in ``sym`` where a match starts, and
        returns which pixels are still coded by the model, the matches' lengths and distances.
        The longest match (32 tries) is taken when the model would spend more on its pixels
        (``spent``: prefix sums of the model's bits) than a rough cost of the match."""
        n = len(flat)
        bits = 20
        head = np.full(1 << bits, -1, np.int64)
        chain = np.full(n, -1, np.int64)
        lengths = np.empty(n // MIN_MATCH + 1, np.int64)
        distances = np.empty(n // MIN_MATCH + 1, np.int64)
        keep = np.ones(n, np.bool_)
        matches = 0
        i = 0

        def key(at):  # type: ignore[no-untyped-def]
            h = np.uint64(0)
            for k in range(MIN_MATCH):
                h = (h * np.uint64(0x9E3779B1) + np.uint64(flat[at + k])) & np.uint64(0xFFFFFFFF)
            return int((h * np.uint64(0x9E3779B1) >> np.uint64(32 - bits)) & np.uint64((1 << bits) - 1))

        while i < n:
            best, where = 0, 0
            if i + MIN_MATCH <= n:
                k = key(i)
                j = head[k]
                tries = 0
                while j >= 0 and i - j <= WINDOW and tries < 32:
                    m = 0
                    while i + m < n and flat[j + m] == flat[i + m]:
                        m += 1
                    if m > best:
                        best, where = m, i - j
                    j = chain[j]
                    tries += 1
            if best >= MIN_MATCH and spent[i + best] - spent[i] > 8 + 2 * math.log2(best) + math.log2(where):
                lengths[matches] = best
                distances[matches] = where
                matches += 1
                sym[i] = MATCH
                nbits[i] = 0
                for t in range(i + 1, i + best):
                    keep[t] = False
                stop = i + best
            else:
                stop = i + 1
            while i < stop:
                if i + MIN_MATCH <= n:
                    k = key(i)
                    chain[i] = head[k]
                    head[k] = i
                i += 1
        return keep, lengths[:matches], distances[:matches]

    @kernel
    def emit(ctx, sym, nbits, low, freq, cum):  # type: ignore[no-untyped-def]
        n = len(ctx)
        total = n + int((nbits > 0).sum())
        starts = np.empty(total, np.int64)
        freqs = np.empty(total, np.int64)
        scales = np.empty(total, np.int64)
        m = 0
        for i in range(n):
            c, s = ctx[i], sym[i]
            starts[m], freqs[m], scales[m] = cum[c, s], freq[c, s], SCALE
            m += 1
            if nbits[i]:
                starts[m], freqs[m], scales[m] = low[i], 1, nbits[i]
                m += 1
        return starts, freqs, scales

    @kernel
    def rans_pack(starts, freqs, scales):  # type: ignore[no-untyped-def]
        """rANS, coded backwards: 32-bit state in [2^16, 2^32), 16-bit words, read forwards."""
        m = len(starts)
        out = np.empty(m + 4, np.uint16)
        k = 0
        x = 1 << 16
        for j in range(m - 1, -1, -1):
            f = freqs[j]
            top = (((1 << 16) >> scales[j]) << 16) * f
            while x >= top:
                out[k] = x & 0xFFFF
                k += 1
                x >>= 16
            x = ((x // f) << scales[j]) + (x % f) + starts[j]
        out[k] = x & 0xFFFF
        out[k + 1] = x >> 16
        return np.concatenate((out[: k + 2][::-1], np.zeros(2, np.uint16)))  # 2 words of padding

    @kernel
    def distances(palette):  # type: ignore[no-untyped-def]
        """nn[a]: entries by squared RGB(A) distance from a, ties by index; rank[a, b]: b's place."""
        colors, channels = palette.shape
        nn = np.empty((colors, colors), np.uint8)
        rank = np.empty((colors, colors), np.uint8)
        keys = np.empty(colors, np.int64)
        for a in range(colors):
            for b in range(colors):
                d = 0
                for ch in range(channels):
                    t = np.int64(palette[a, ch]) - np.int64(palette[b, ch])
                    d += t * t
                keys[b] = d * colors + b
            order = np.argsort(keys)
            for place in range(colors):
                nn[a, place] = order[place]
                rank[a, order[place]] = place
        return nn, rank

    symbols_only, symbols_two = _chain_decoder(plain, 1), _chain_decoder(plain, 2)

    _jit.update(symbols_only=symbols_only, symbols_two=symbols_two)
    _jit.update(decode=_strips_decoder(plain, STRIPS), distances=distances, up_contexts=up_contexts)
    _jit.update(decode_rows=_rows_decoder(plain, STRIPS, up_context))
    _jit.update(
        transform=transform,
        lefts=lefts,
        adaptive_bits=adaptive_bits,
        lz_parse=lz_parse,
        emit=emit,
        rans_pack=rans_pack,
    )
    return _jit


# One pixel of a strip, written out once per strip in the decoder's loop (numba does not inline
# a function taking arrays cheaply: reference counts per call made it 4x slower). ``{k}`` is the
# strip. The symbol is found from ``start[context, slot >> (SCALE - COARSE)]`` by a short
# search in ``cum[context]`` (both small). All arithmetic in int64 (numba turns mixed unsigned
# and signed integers into floats); renormalisation without a branch (2 words of padding).
#: Generated-code pieces both decoders use: the candidate list (left, up, up-right, up-left,
#: duplicates dropped), and an escape's rank ``r`` turned into the index.
_CANDIDATES = """
cand[0] = left
count = 1
cand[count] = up
count += up != left
cand[count] = right
count += (right != left) & (right != up)
cand[count] = corner
count += (corner != left) & (corner != up) & (corner != right)
"""
#: The decoders' neighbours of pixel (col, y): left, up, up-left and up-right, all the left
#: pixel (0 at the row's start) on the first row of a strip.
_NEIGHBOURS = """\
if row == 0:
    left = np.int64(out[y, col - 1]) if col > 0 else np.int64(0)
    up = corner = right = left
else:
    up = np.int64(out[y - 1, col])
    left = np.int64(out[y, col - 1]) if col > 0 else up
    corner = np.int64(out[y - 1, col - 1]) if col > 0 else up
    right = np.int64(out[y - 1, col + 1]) if col + 1 < width else up
"""
_ESCAPED = """
for j in range(count):  # the candidates' places in left's order, ascending
    seen[j] = rank[left, cand[j]]
for j in range(1, count):
    v = seen[j]
    m = j - 1
    while m >= 0 and seen[m] > v:
        seen[m + 1] = seen[m]
        m -= 1
    seen[m + 1] = v
for j in range(count):
    if seen[j] <= r:
        r += 1
out[y, col] = nn[left, r]
"""

#: Generated-code pieces of the rANS decoders (stream ``k``): the renormalisation after
#: taking bits from the state, a symbol ``s`` from context ``c``, and with its class in
#: ``last`` (the next context's part).
_RENORMALISE = """more = x{k} < 65536
x{k} = (x{k} << (16 * more)) | (np.int64(words{k}[pos{k}]) * more)
pos{k} += more
"""
_RANS_STEP = (
    """slot = x{k} & MASK
s = np.int64(start[c, slot >> SHIFT])
while slot >= np.int64(cum[c, s + 1]):
    s += 1
low = np.int64(cum[c, s])
x{k} = (np.int64(cum[c, s + 1]) - low) * (x{k} >> SCALE) + slot - low
"""
    + _RENORMALISE
)
_RANS_SYMBOL = _RANS_STEP + "last{k} = s if s < 2 else (2 if s < 4 else 3)\n"


def _to_index(raw_bits: str) -> str:
    """Generated code: the index of symbol ``s`` (a candidate, or an escape whose rank,
    above DIRECT, takes ``nb`` more bits that ``raw_bits`` puts in ``raw``)."""
    escape = "e = r - DIRECT\nnb = 2 + (e >> 2)\n" + raw_bits + "r = ((4 | (e & 3)) << nb) | raw\n"
    return (
        "if s < 4:\n    out[y, col] = cand[s]\nelse:\n    r = s - 4\n    if r >= DIRECT:\n"
        + textwrap.indent(escape, " " * 8)
        + textwrap.indent(_ESCAPED.lstrip("\n"), " " * 4)
    )


_PIXEL = (
    """
                y = top{k} + row
"""
    + textwrap.indent(_NEIGHBOURS, " " * 16)
    + """                pattern = (left == up) + (left == corner) * 2 + (up == right) * 4
                pattern += (up == corner) * 8 + (left == right) * 16
                far = np.int64(rank[left, up])
                step = 0 if far == 0 else (1 if far < 3 else (2 if far < 8 else (3 if far < 24 else 4)))
                c = pattern * 5 + step
"""
    + textwrap.indent(_RANS_STEP + _CANDIDATES.lstrip("\n"), " " * 16)
    + textwrap.indent(_to_index("raw = x{k} & ((1 << nb) - 1)\nx{k} >>= nb\n" + _RENORMALISE), " " * 16)
)

#: Both decoders' beginning: their buffers and the loop over rows (a row of each strip).
_DECODE_ROWS = """
def decode(words, height, width, rank, nn, start, cum):
    out = np.empty((height, width), np.uint8)
    rows = (height + STRIPS - 1) // STRIPS
{setup}
    cand = np.empty(4, np.int64)
    seen = np.empty(4, np.int64)
    for row in range(rows):
"""
_DECODER = (
    _DECODE_ROWS
    + """        for col in range(width):
{pixels}
    return out
"""
)
_SETUP = """
    words{k} = words[{k}]
    x{k} = (np.int64(words{k}[0]) << 16) | np.int64(words{k}[1])
    pos{k} = 2
    top{k} = min({k} * rows, height)
    end{k} = min(top{k} + rows, height)
"""


def _strips_decoder(kernel, strips):  # type: ignore[no-untyped-def]
    """The decoder prototype: ``strips`` strips of rows, each its own rANS stream, a pixel of
    each in turn, so that the processor overlaps their chains of dependent steps (one thread)."""
    pixels = "".join(
        f"            if top{k} + row < end{k}:\n"
        + _PIXEL.format(k=k).replace("\n                ", "\n                    ")
        for k in range(strips)
    )
    setup = "".join(_SETUP.format(k=k) for k in range(strips))
    return _generated(kernel, _DECODER.format(setup=setup, pixels=pixels), "decode", strips)


def _generated(kernel, source: str, name: str, strips: int, **kernels):  # type: ignore[no-untyped-def]
    """The function ``name`` of generated ``source``, compiled by ``kernel`` (``kernels``:
    compiled functions it calls)."""
    space = {
        **kernels,
        "np": np,
        "MASK": (1 << SCALE) - 1,
        "SHIFT": SCALE - COARSE,
        "SCALE": SCALE,
        "DIRECT": DIRECT,
        "STRIPS": strips,
    }
    exec(compile(source, f"<proto_coder {name}>", "exec"), space)  # noqa: S102
    return kernel(space[name])


# The rANS chain alone (rank-up+prev symbols, their contexts given without the previous
# symbol's class, which is added here): the floor of any decoder of this kind. With several
# streams (one per strip), a symbol of each in turn; the first is the longest.
_CHAIN = """
def chain({arguments}, width, start, cum):
{setup}
    for i in range(len(contexts0)):
        if i % width == 0:
{resets}
{steps}
    return {outs}
"""
_CHAIN_SETUP = """
    x{k} = (np.int64(words{k}[0]) << 16) | np.int64(words{k}[1])
    pos{k} = 2
    out{k} = np.empty(len(contexts{k}), np.uint8)
    last{k} = 0
"""
_CHAIN_STEP = (
    "\nc = contexts{k}[i] + last{k}\n"
    + _RANS_SYMBOL
    + "out{k}[i] = s\nif s >= 4 + DIRECT:\n"
    + textwrap.indent("x{k} >>= 2 + ((s - 4 - DIRECT) >> 2)\n" + _RENORMALISE, "    ")
)


def _chain_decoder(kernel, streams: int):  # type: ignore[no-untyped-def]
    """``chain(words0.., contexts0.., width, start, cum)``: :data:`_CHAIN` for ``streams`` streams;
    their symbols (one array, or a tuple of one per stream)."""
    steps = []
    for k in range(streams):
        step = _CHAIN_STEP.format(k=k)
        if k:  # later streams may be shorter
            step = f"\nif i < len(contexts{k}):" + textwrap.indent(step, "    ")
        steps.append(textwrap.indent(step, " " * 8))
    source = _CHAIN.format(
        arguments=", ".join([f"words{k}" for k in range(streams)] + [f"contexts{k}" for k in range(streams)]),
        setup="".join(_CHAIN_SETUP.format(k=k) for k in range(streams)),
        resets="\n".join(f"            last{k} = 0" for k in range(streams)),
        steps="".join(steps),
        outs=", ".join(f"out{k}" for k in range(streams)),
    )
    return _generated(kernel, source, "chain", streams)


# The decoupled decoder for "rank-up+prev": its contexts need no pixel of the row being
# decoded, so each row is decoded in three loops: contexts from the rows above (no chain of
# dependent steps), the rANS symbols (a chain only through the coder's state and the previous
# symbol), then the indices from the symbols (a chain only through the left index).
_UP_CONTEXTS = """
            if top{k} + row < end{k}:
                y = top{k} + row
                for col in range(width):
                    contexts{k}[col] = up_context(out, y, col, row, rank) * 4
"""
_SYMBOLS = "\nif top{k} + row < end{k}:\n" + textwrap.indent(
    "c = contexts{k}[col] + last{k}\n"
    + _RANS_SYMBOL
    + "symbols{k}[col] = s\nif s >= 4 + DIRECT:\n"
    + textwrap.indent(
        "nb = 2 + ((s - 4 - DIRECT) >> 2)\nraws{k}[col] = x{k} & ((1 << nb) - 1)\nx{k} >>= nb\n"
        + _RENORMALISE,
        "    ",
    ),
    "    ",
)
_INDICES = (
    """
            if top{k} + row < end{k}:
                y = top{k} + row
                last{k} = 0
                for col in range(width):
"""
    + textwrap.indent(_NEIGHBOURS + "s = symbols{k}[col]\n" + _CANDIDATES.lstrip("\n"), " " * 20)
    + textwrap.indent(_to_index("raw = raws{k}[col]\n"), " " * 20)
)
_ROWS_DECODER = (
    _DECODE_ROWS
    + """{contexts}
        for col in range(width):
{symbols}
{indices}
    return out
"""
)
_ROWS_SETUP = (
    _SETUP
    + """    contexts{k} = np.zeros(width, np.int64)
    symbols{k} = np.zeros(width, np.int64)
    raws{k} = np.zeros(width, np.int64)
    last{k} = 0
"""
)


def _rows_decoder(kernel, strips, up_context):  # type: ignore[no-untyped-def]
    """The decoupled decoder (rank-up+prev), ``strips`` strips of rows, one rANS stream each."""

    def each(template: str, depth: int) -> str:
        text = textwrap.indent(textwrap.dedent(template), " " * depth)
        return "".join(text.format(k=k) for k in range(strips))

    source = _ROWS_DECODER.format(
        setup=each(_ROWS_SETUP, 4),
        contexts=each(_UP_CONTEXTS, 8),
        symbols=each(_SYMBOLS, 12),
        indices=each(_INDICES, 8),
    )
    return _generated(kernel, source, "decode", strips, up_context=up_context)


def distance_order(palette: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """nn[a] = the palette's entries by RGB(A) distance from entry a (ties by index);
    rank[a, b] = b's place in nn[a] (uint8: K <= 256)."""
    return _compile()["distances"](np.ascontiguousarray(palette))


def normalise(counts: np.ndarray) -> np.ndarray:
    """12-bit frequencies, every symbol seen >= 1, summing to 4096."""
    total = counts.sum()
    freq = np.where(counts > 0, np.maximum(1, np.round(counts * (1 << SCALE) / max(total, 1))), 0).astype(
        np.int64
    )
    if total:
        freq[np.argmax(freq)] += (1 << SCALE) - freq.sum()
    return freq


def tables(ctx: np.ndarray, sym: np.ndarray, alphabet: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    contexts = int(ctx.max()) + 1 if len(ctx) else 1
    counts = np.bincount(ctx.astype(np.int64) * alphabet + sym, minlength=contexts * alphabet)
    counts = counts.reshape(contexts, alphabet)
    freq = np.array([normalise(row) for row in counts], np.int64).reshape(contexts, alphabet)
    cum = np.zeros_like(freq)
    cum[:, 1:] = np.cumsum(freq, axis=1)[:, :-1]
    return counts, freq, cum


def static_bytes(ctx: np.ndarray, sym: np.ndarray, alphabet: int) -> tuple[float, int]:
    """(ideal payload bytes with the 12-bit frequencies, bytes to store the tables)."""
    counts, freq, _ = tables(ctx, sym, alphabet)
    used = counts > 0
    payload = float(-(counts[used] * np.log2(freq[used] / (1 << SCALE))).sum()) / 8
    present = freq[freq.sum(axis=1) > 0].astype(np.uint16)
    stored = lzma.compress(present.tobytes(), format=lzma.FORMAT_RAW, filters=_TABLE_FILTERS)
    return payload, len(stored) + (len(freq) + 7) // 8  # + a bitmap of the contexts present


def lz_extra(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bucket symbols and raw bit counts of lengths or distances (numpy version of bucket())."""
    values = values.astype(np.int64)
    octave = np.floor(np.log2(np.maximum(values, 1))).astype(np.int64)
    big = values >= DIRECT
    sym = np.where(big, DIRECT + (octave - 4) * 4 + ((values >> np.maximum(octave - 2, 0)) & 3), values)
    return sym, np.where(big, octave - 2, 0)


def models(indices: np.ndarray, palette: np.ndarray) -> dict[str, float]:
    """Bytes of each model, payload + tables."""
    jit = _compile()
    nn, rank = distance_order(palette)
    result: dict[str, float] = {}
    for name, escape in (("rank", 0), ("rank-grad", 1)):
        ctx, sym, nbits, low = jit["transform"](indices, rank, escape)
        payload, table = static_bytes(ctx, sym, ALPHABET)
        result[name] = payload + table + nbits.sum() / 8
        if escape == 0:
            for label, previous in (("rank-up", False), ("rank-up+prev", True)):
                payload, table = static_bytes(jit["up_contexts"](indices, rank, sym, previous), sym, ALPHABET)
                result[label] = payload + table + nbits.sum() / 8
            contexts = int(ctx.max()) + 1
            result["adaptive"] = jit["adaptive_bits"](ctx, sym, contexts, ALPHABET) / 8 + nbits.sum() / 8
            _, freq, _ = tables(ctx, sym, ALPHABET)
            bits = -np.log2(freq[ctx, sym] / (1 << SCALE)) + nbits
            spent = np.concatenate(([0.0], np.cumsum(bits)))
            sym, nbits = sym.copy(), nbits.copy()  # the parse puts its match symbols in these
            keep, lengths, distances = jit["lz_parse"](indices.ravel(), sym, nbits, spent)
            payload, table = static_bytes(ctx[keep], sym[keep], ALPHABET + 1)
            lz = payload + table + nbits[keep].sum() / 8
            for values in (lengths, distances):
                if len(values):
                    bucketed, raw = lz_extra(values)
                    payload, table = static_bytes(np.zeros(len(values), np.int64), bucketed, DIRECT + 4 * 20)
                    lz += payload + table + raw.sum() / 8
            result["rank+lz"] = lz
    flat = indices.ravel().astype(np.int64)
    payload, table = static_bytes(jit["lefts"](indices), flat, 256)
    result["order1"] = payload + table
    result["best"] = min(result["rank"], result["rank-grad"], result["order1"]) + 1
    return result


def coded(indices: np.ndarray, palette: np.ndarray, decoupled: bool = False, strips: int = STRIPS) -> tuple:
    """The rank model (or rank-up+prev if ``decoupled``) really coded in STRIPS strips of rows
    (one table): their rANS words, the frequencies and the table's bytes."""
    jit = _compile()
    _, rank = distance_order(palette)
    rows = -(-len(indices) // strips)
    parts = []
    for top in range(0, len(indices), rows):
        ctx, *rest = jit["transform"](indices[top : top + rows], rank, 0)
        if decoupled:
            ctx = jit["up_contexts"](indices[top : top + rows], rank, rest[0], True)
        parts.append((ctx, *rest))
    ctx, sym = np.concatenate([strip[0] for strip in parts]), np.concatenate([strip[1] for strip in parts])
    _, freq, cum = tables(ctx, sym, ALPHABET)
    words = [jit["rans_pack"](*jit["emit"](*strip, freq, cum)) for strip in parts]
    return words, freq, static_bytes(ctx, sym, ALPHABET)[1]


def search_tables(freq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cum[context, symbol] (with the total last) and start[context, slot >> (SCALE - COARSE)]."""
    cum = np.zeros((len(freq), freq.shape[1] + 1), np.uint16)
    cum[:, 1:] = np.cumsum(freq, axis=1)
    cum[freq.sum(axis=1) == 0, 1:] = 1 << SCALE  # contexts never used
    edges = np.arange(1 << COARSE) << (SCALE - COARSE)
    start = np.empty((len(freq), 1 << COARSE), np.uint8)
    for c in range(len(freq)):
        start[c] = np.searchsorted(cum[c, 1:], edges, side="right")
    return start, cum


def decoder_tables(palette: np.ndarray, freq: np.ndarray) -> tuple:
    """What the decoder builds before the first pixel (timed with the decode)."""
    nn, rank = distance_order(palette)
    return rank, nn, *search_tables(freq)


def rows_of(kind: str, label: str, image: Image.Image, colors: int, cache: Path | None) -> tuple:
    """(stored-order indices, palette, smallest's file bytes), as smallest stores them."""
    saved = cache / f"{kind}--{label}--{colors}.npz" if cache else None
    if saved and saved.exists():
        with np.load(saved) as found:
            return found["indices"], found["palette"], int(found["size"])
    quantized = encode_details(image, colors).quantized
    data = container.write(
        quantized.palette, quantized.indices, compression="smallest", method=Method[quantized.method.upper()]
    )
    payload = container.read(data)
    indices = container.indices(payload.header, payload.rows)
    palette = np.frombuffer(payload.palette, np.uint8).reshape(payload.header.colors, -1)
    if saved:
        saved.parent.mkdir(parents=True, exist_ok=True)
        np.savez(saved, indices=indices, palette=palette, size=len(data))
    return indices, palette, len(data)


NAMES = ("rank", "rank-up", "rank-up+prev", "rank-grad", "order1", "best", "adaptive", "rank+lz")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus")
    parser.add_argument("--colors", type=int, default=256)
    parser.add_argument("--max-pixels", type=int, default=bench_smallest.DEFAULT_MAX_PIXELS)
    parser.add_argument("--images", nargs="+")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cache", type=Path, help="keep the rows here (.npz) for later runs")
    args = parser.parse_args()
    start = time.perf_counter()
    import numba  # noqa: F401

    print(f"numba import: {time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    _compile()
    tiny = np.zeros((3, 3), np.uint8)
    for decoupled, decoder in ((False, "decode"), (True, "decode_rows")):
        words, freq, _ = coded(tiny, np.zeros((256, 3), np.uint8), decoupled)
        _jit[decoder](words, 3, 3, *decoder_tables(np.zeros((256, 3), np.uint8), freq))
    models(tiny, np.zeros((256, 3), np.uint8))
    seconds = time.perf_counter() - start
    print(f"first call of all kernels (compile, or load from numba's cache): {seconds:.2f} s")
    overhead = 40 + 4  # header and trailer
    print(
        "\n| kind | image | MP | smallest B | "
        + " | ".join(NAMES)
        + " | rank coded | ns/px | kernel ns/px | up+prev coded | ns/px | kernel ns/px"
        + " | chain ns/px | 2 chains ns/px | PNG-8 ns/px |"
    )
    print("|---|---|---:|---:|" + "---:|" * (len(NAMES) + 9))
    ratios: dict[str, dict[str, list[float]]] = {"photo": {}, "graphic": {}}
    for kind, label, image in bench_smallest.images(args.corpus, args.max_pixels, args.images):
        indices, palette, size = rows_of(kind, label, image, args.colors, args.cache)
        found = models(indices, palette)
        files = {name: found[name] + overhead + palette.size for name in NAMES}
        height, width = indices.shape
        png = io.BytesIO()
        _corpus.png8(palette, indices).save(png, "PNG", optimize=True)
        png_bytes = png.getvalue()
        png_s = bench_smallest._median_time(lambda: Image.open(io.BytesIO(png_bytes)).load(), args.repeat)  # noqa: B023
        cells = [f"{files[name] / size:.3f}" for name in NAMES]
        for name in NAMES:
            ratios[kind].setdefault(name, []).append(files[name] / size)
        for decoupled, decoder in ((False, "decode"), (True, "decode_rows")):
            words, freq, table = coded(indices, palette, decoupled)
            run = _jit[decoder]
            if not np.array_equal(run(words, height, width, *decoder_tables(palette, freq)), indices):
                raise SystemExit(f"{label}: the prototype decoder does not give the stored indices")
            coded_bytes = 2 * sum(len(part) - 2 for part in words) + overhead + palette.size + table
            whole = bench_smallest._median_time(
                lambda: run(words, height, width, *decoder_tables(palette, freq)),  # noqa: B023
                args.repeat,
            )
            ready = decoder_tables(palette, freq)
            alone = bench_smallest._median_time(lambda: run(words, height, width, *ready), args.repeat)  # noqa: B023
            name = "rank-up+prev" if decoupled else "rank"
            if decoupled:  # the chain alone, one stream over the whole image
                _, rank = distance_order(palette)
                sym = _jit["transform"](indices, rank, 0)[1]
                contexts = _jit["up_contexts"](indices, rank, sym, False) * 4
                one, one_freq, _ = coded(indices, palette, True, strips=1)
                start, cum = search_tables(one_freq)
                if not np.array_equal(_jit["symbols_only"](one[0], contexts, width, start, cum), sym):
                    raise SystemExit(f"{label}: the symbols do not decode")
                chain = bench_smallest._median_time(
                    lambda: _jit["symbols_only"](one[0], contexts, width, start, cum),  # noqa: B023
                    args.repeat,
                )
                # the same with the two strips' streams interleaved
                rows = -(-height // STRIPS)
                parts = [indices[top : top + rows] for top in range(0, height, rows)]
                if len(parts) == 2:
                    pair = [_jit["transform"](part, rank, 0)[1] for part in parts]
                    given = [
                        _jit["up_contexts"](p, rank, q, False) * 4 for p, q in zip(parts, pair, strict=True)
                    ]
                    start, cum = search_tables(freq)
                    got = _jit["symbols_two"](*words, *given, width, start, cum)
                    if not all(np.array_equal(a, b) for a, b in zip(got, pair, strict=True)):
                        raise SystemExit(f"{label}: the two streams' symbols do not decode")
                    chain2 = bench_smallest._median_time(
                        lambda: _jit["symbols_two"](*words, *given, width, start, cum),  # noqa: B023
                        args.repeat,
                    )
                else:
                    chain2 = float("nan")
            ratios[kind].setdefault(f"{name} coded", []).append(coded_bytes / size)
            ratios[kind].setdefault(f"{name} decode/PNG-8", []).append(whole / png_s)
            ratios[kind].setdefault(f"{name} kernel/PNG-8", []).append(alone / png_s)
            cells += [
                f"{coded_bytes / size:.3f}",
                f"{whole / indices.size * 1e9:.1f}",
                f"{alone / indices.size * 1e9:.1f}",
            ]
        ratios[kind].setdefault("rANS chain alone/PNG-8", []).append(chain / png_s)
        ratios[kind].setdefault("2 chains/PNG-8", []).append(chain2 / png_s)
        cells += [f"{chain / indices.size * 1e9:.1f}", f"{chain2 / indices.size * 1e9:.1f}"]
        print(
            f"| {kind} | {label} | {indices.size / 1e6:.2f} | {size:,} | {' | '.join(cells)} "
            f"| {png_s / indices.size * 1e9:.1f} |",
            flush=True,
        )
    print("\nX / smallest's file, geometric mean (median) per kind; decode / PNG-8 likewise (one thread):")
    for kind, found in ratios.items():
        if found:
            cells = ", ".join(
                f"{name} {bench_smallest.geomean(v):.3f} ({statistics.median(v):.3f})"
                for name, v in found.items()
            )
            print(f"{kind}: {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
