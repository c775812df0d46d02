"""One zlib stream (RFC 1950) compressed on several cores, as pigz does.

The input is cut into fixed-size pieces; each piece is deflated on its own
thread with the 32 KiB before it as preset dictionary, so matches reach back
across the cut as in a single-threaded run. Pieces end with a sync flush (byte
aligned, not final) except the last, and the raw deflate output is framed with
the usual two-byte header and the Adler-32 of the whole input. Any zlib
inflater reads the result as one ordinary stream.

The cut points depend only on the input length, never on the number of cores,
so the same input always gives the same bytes.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterable
from functools import partial

import numpy as np

from .jit import compile_in_place
from .threads import run_all

PIECE = 1 << 19  # 512 KiB
WINDOW = 1 << 15  # deflate's reach: the preset dictionary size

# RFC 1950 header: CMF 0x78 (deflate, 32 KiB window) and FLG by level class.
_FLG = {0: 0x01, 1: 0x01, 2: 0x5E, 3: 0x5E, 4: 0x5E, 5: 0x5E, 6: 0x9C, 7: 0xDA, 8: 0xDA, 9: 0xDA}


def _piece(view: memoryview, start: int, level: int) -> bytes:
    end = min(len(view), start + PIECE)
    if start:
        engine = zlib.compressobj(level, zlib.DEFLATED, -15, zdict=view[max(0, start - WINDOW) : start])
    else:
        engine = zlib.compressobj(level, zlib.DEFLATED, -15)
    last = end == len(view)
    return engine.compress(view[start:end]) + engine.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def compress(data: bytes | memoryview, level: int, workers: int | None = None) -> bytes:
    """zlib-compress ``data`` at ``level`` using up to ``workers`` threads."""
    if len(data) <= PIECE:
        return zlib.compress(data, level)
    view = memoryview(data)
    pieces = run_all([partial(_piece, view, start, level) for start in range(0, len(data), PIECE)], workers)
    return _framed(pieces, data, level)


def _framed(pieces: Iterable[bytes | bytearray], data: bytes | memoryview, level: int) -> bytes:
    """Raw deflate pieces that follow one another as one zlib stream (RFC 1950): header,
    pieces, the Adler-32 of all of ``data``."""
    header = bytes((0x78, _FLG[min(level, 9)]))
    return b"".join((header, *pieces, zlib.adler32(data).to_bytes(4, "big")))


# --- libdeflate in pieces -------------------------------------------------------
#
# libdeflate is several times faster than zlib at the same size, but it has no
# flush: each call's output is a whole raw deflate stream whose last block says
# "final". Pieces compressed apart are joined here as gzjoin does: walk each
# piece's blocks (:func:`_last_block`, compiled) to find its final block, clear
# that flag, and follow the block with an empty stored block so the next piece
# starts on a byte. Walking costs a small fraction of compressing.

#: libdeflate pieces: the cut points depend only on the input's length.
LIBDEFLATE_PIECE = 1 << 19
LIBDEFLATE_PIECES = 4
_STORED_EMPTY = b"\x00\x00\xff\xff"  # LEN 0, NLEN 0xFFFF, after a 3-bit stored-block header
_KERNELS = ("_bits", "_table", "_symbols", "_last_block")
_COMPILED: list[bool] = []
_PRIMARY_BITS = 10  # first-level decoding tables of 1024 entries
#: Zero bytes past a piece so that bit reads never leave the array: a block header is read
#: (up to 71 bits: counts and 19 code-length codes) before the walk checks it left the piece,
#: and each read takes 4 bytes.
_PAD = 16

_LENGTH_EXTRA = np.array([0] * 8 + [1] * 4 + [2] * 4 + [3] * 4 + [4] * 4 + [5] * 4 + [0], dtype=np.int64)
_DIST_EXTRA = np.array([0, 0, 0, 0] + [n // 2 - 1 for n in range(4, 30)], dtype=np.int64)
_CODE_ORDER = np.array([16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15], dtype=np.int64)
_FIXED_LENGTHS = np.array([8] * 144 + [9] * 112 + [7] * 24 + [8] * 8 + [5] * 30, dtype=np.int64)


def _bits(data: np.ndarray, pos: int, count: int) -> int:  # pragma: no cover - compiled
    """``count`` (<= 24) bits of ``data`` from bit ``pos`` on, least significant first."""
    at = pos >> 3
    word = np.int64(data[at]) | np.int64(data[at + 1]) << 8 | np.int64(data[at + 2]) << 16
    word |= np.int64(data[at + 3]) << 24
    return (word >> (pos & 7)) & ((1 << count) - 1)


def _table(lengths: np.ndarray, table: np.ndarray, sub: np.ndarray) -> tuple[int, int]:  # pragma: no cover
    """Decoding tables of the canonical Huffman code of ``lengths``, in two levels.

    ``table`` is indexed by the next ``bits`` stream bits (``bits`` = the longest code
    length, at most _PRIMARY_BITS): symbol * 16 + code length, -1 where no code matches,
    or -2 - n for codes longer than ``bits``, decoded by sub-table n of ``sub``
    (2 ** ``more`` entries each, indexed by the ``more`` bits after the first ``bits``).
    Returns (``bits``, ``more``); ``bits`` is 0 if there are no codes, -1 if the
    lengths over-subscribe the code space. Small tables: one per deflate block.
    """
    counts = np.zeros(16, dtype=np.int64)
    for length in lengths:
        counts[length] += 1
    counts[0] = 0
    longest, room = 0, 1
    for length in range(1, 16):
        room = (room << 1) - counts[length]
        if room < 0:
            return -1, 0
        if counts[length]:
            longest = length
    if longest == 0:
        return 0, 0
    bits = min(longest, _PRIMARY_BITS)
    more = longest - bits
    following = np.zeros(16, dtype=np.int64)
    code = 0
    for length in range(1, 16):
        code = (code + counts[length - 1]) << 1
        following[length] = code
    table[: 1 << bits] = -1
    tables = 0
    for symbol in range(len(lengths)):
        length = lengths[symbol]
        if length == 0:
            continue
        code = following[length]
        following[length] += 1
        reversed_code = 0
        for bit in range(length):
            reversed_code = (reversed_code << 1) | ((code >> bit) & 1)
        if length <= bits:
            for index in range(reversed_code, 1 << bits, 1 << length):
                table[index] = symbol * 16 + length
            continue
        prefix = reversed_code & ((1 << bits) - 1)
        if table[prefix] == -1:
            table[prefix] = -2 - tables
            sub[tables << more : (tables + 1) << more] = -1
            tables += 1
        base = (-2 - table[prefix]) << more
        for index in range(reversed_code >> bits, 1 << more, 1 << (length - bits)):
            sub[base + index] = symbol * 16 + length
    return bits, more


def _symbols(
    data: np.ndarray,
    length: int,
    pos: int,
    literals: np.ndarray,
    literal_sub: np.ndarray,
    literal_bits: tuple[int, int],
    distances: np.ndarray,
    distance_sub: np.ndarray,
    distance_bits: tuple[int, int],
) -> int:  # pragma: no cover - compiled
    """Skip one Huffman block's symbols from bit ``pos``: the bit after its end-of-block
    code, or -1. The bits are read ahead into a 64-bit word, at least 48 at a time (a
    length code, its extra bits, a distance code and its extra bits)."""
    limit = length * 8
    at = pos >> 3
    word, count = 0, 0
    skip = pos & 7
    while True:
        if count < 48:
            while count <= 48:
                if at < len(data):
                    word |= np.int64(data[at]) << count
                at += 1
                count += 8
            if skip:
                word >>= skip
                count -= skip
                skip = 0
            if at * 8 - count > limit:
                return -1
        entry = literals[word & ((1 << literal_bits[0]) - 1)]
        if entry < -1:
            entry = literal_sub[
                ((-2 - entry) << literal_bits[1]) + ((word >> literal_bits[0]) & ((1 << literal_bits[1]) - 1))
            ]
        if entry < 0:
            return -1
        word >>= entry & 15
        count -= entry & 15
        symbol = entry >> 4
        if symbol < 256:
            continue
        if symbol == 256:
            end = at * 8 - count
            return end if end <= limit else -1
        if symbol > 285 or distance_bits[0] == 0:
            return -1
        extra = _LENGTH_EXTRA[symbol - 257]
        word >>= extra
        count -= extra
        entry = distances[word & ((1 << distance_bits[0]) - 1)]
        if entry < -1:
            entry = distance_sub[
                ((-2 - entry) << distance_bits[1])
                + ((word >> distance_bits[0]) & ((1 << distance_bits[1]) - 1))
            ]
        if entry < 0 or entry >> 4 > 29:
            return -1
        extra = (entry & 15) + _DIST_EXTRA[entry >> 4]
        word >>= extra
        count -= extra


def _last_block(data: np.ndarray, length: int) -> tuple[int, int]:  # pragma: no cover - compiled
    """(bit of the final block's BFINAL flag, bit just past that block) of the raw deflate
    stream ``data[:length]`` (followed by at least _PAD zero bytes); (-1, -1) if it is
    not a well-formed stream."""
    literals = np.empty(1 << _PRIMARY_BITS, dtype=np.int32)
    distances = np.empty(1 << _PRIMARY_BITS, dtype=np.int32)
    code_lengths = np.empty(1 << _PRIMARY_BITS, dtype=np.int32)
    # at most one sub-table per symbol, of at most 2 ** (15 - _PRIMARY_BITS) entries
    literal_sub = np.empty(288 << (15 - _PRIMARY_BITS), dtype=np.int32)
    distance_sub = np.empty(32 << (15 - _PRIMARY_BITS), dtype=np.int32)
    unused = np.empty(19 << (15 - _PRIMARY_BITS), dtype=np.int32)
    lengths = np.zeros(320, dtype=np.int64)
    limit = length * 8
    pos = 0
    while pos + 3 <= limit:
        start = pos
        header = _bits(data, pos, 3)
        pos += 3
        kind = header >> 1
        if kind == 0:  # stored
            pos = (pos + 7) & ~7
            at = pos >> 3
            if at + 4 > length:
                return -1, -1
            size = np.int64(data[at]) | np.int64(data[at + 1]) << 8
            if size ^ (np.int64(data[at + 2]) | np.int64(data[at + 3]) << 8) != 0xFFFF:
                return -1, -1
            pos += (4 + size) * 8
        else:
            if kind == 1:  # fixed codes
                literal_bits = _table(_FIXED_LENGTHS[:288], literals, literal_sub)
                distance_bits = _table(_FIXED_LENGTHS[288:], distances, distance_sub)
            elif kind == 2:  # dynamic codes
                literal_count = _bits(data, pos, 5) + 257
                distance_count = _bits(data, pos + 5, 5) + 1
                order_count = _bits(data, pos + 10, 4) + 4
                pos += 14
                lengths[:19] = 0
                for index in range(order_count):
                    lengths[_CODE_ORDER[index]] = _bits(data, pos, 3)
                    pos += 3
                code_bits = _table(lengths[:19], code_lengths, unused)[0]  # codes of <= 7 bits
                if code_bits <= 0:
                    return -1, -1
                total = literal_count + distance_count
                index = 0
                while index < total:
                    if pos > limit:
                        return -1, -1
                    entry = code_lengths[_bits(data, pos, code_bits)]
                    if entry < 0:
                        return -1, -1
                    pos += entry & 15
                    symbol = entry >> 4
                    if symbol < 16:
                        lengths[index] = symbol
                        index += 1
                        continue
                    if symbol == 16:
                        if index == 0:
                            return -1, -1
                        repeat, value = 3 + _bits(data, pos, 2), lengths[index - 1]
                        pos += 2
                    elif symbol == 17:
                        repeat, value = 3 + _bits(data, pos, 3), 0
                        pos += 3
                    else:
                        repeat, value = 11 + _bits(data, pos, 7), 0
                        pos += 7
                    if index + repeat > total:
                        return -1, -1
                    lengths[index : index + repeat] = value
                    index += repeat
                if lengths[256] == 0:
                    return -1, -1
                literal_bits = _table(lengths[:literal_count], literals, literal_sub)
                distance_bits = _table(lengths[literal_count:total], distances, distance_sub)
            else:
                return -1, -1
            if literal_bits[0] <= 0 or distance_bits[0] < 0:
                return -1, -1
            pos = _symbols(
                data, length, pos, literals, literal_sub, literal_bits, distances, distance_sub, distance_bits
            )
            if pos < 0:
                return -1, -1
        if pos > limit:
            return -1, -1
        if header & 1:
            return start, pos
    return -1, -1


def _unfinal(piece: bytes | bytearray) -> bytes | None:
    """A libdeflate raw stream made non-final and byte-aligned, ready to be followed by the
    next piece (the final block's flag cleared, an empty stored block appended); None if
    the walk does not end exactly at the stream's end (never for libdeflate's output)."""
    data = np.frombuffer(piece + bytes(_PAD), dtype=np.uint8)
    start, end = _last_block(data, len(piece))
    if start < 0 or (end + 7) // 8 != len(piece):
        return None
    joined = bytearray(piece[: (end + 3 + 7) // 8].ljust((end + 3 + 7) // 8, b"\0"))
    joined[start >> 3] &= ~(1 << (start & 7)) & 0xFF
    joined[end >> 3] &= (1 << (end & 7)) - 1  # the stored header's 3 zero bits, then padding
    joined[(end >> 3) + 1 :] = bytes(len(joined) - (end >> 3) - 1)
    return bytes(joined) + _STORED_EMPTY


def _libdeflate_piece(view: memoryview, start: int, end: int, level: int) -> bytes | bytearray | None:
    import deflate as libdeflate  # imported here: only encoding needs it

    piece = libdeflate.deflate_compress(view[start:end], level)
    return piece if end == len(view) else _unfinal(piece)


def libdeflate_cuts(length: int) -> list[int]:
    """Where the input is cut: equal pieces of at least LIBDEFLATE_PIECE bytes, at most
    LIBDEFLATE_PIECES of them (each cut costs about 0.05 % in size)."""
    count = max(1, min(LIBDEFLATE_PIECES, length // LIBDEFLATE_PIECE))
    return [length * index // count for index in range(count + 1)]


def libdeflate_compress(
    data: bytes | memoryview, level: int, workers: int | None = None
) -> bytes | bytearray:
    """zlib-compress ``data`` with libdeflate at ``level``, in the pieces of
    :func:`libdeflate_cuts` on up to ``workers`` threads (default: this encode's CPU
    budget); the bytes do not depend on the number of threads."""
    import deflate as libdeflate

    cuts = libdeflate_cuts(len(data))
    if len(cuts) <= 2:
        return libdeflate.zlib_compress(data, level)
    compile_in_place(globals(), _KERNELS, _COMPILED)
    view = memoryview(data)
    spans = list(itertools.pairwise(cuts))
    pieces = run_all([partial(_libdeflate_piece, view, start, stop, level) for start, stop in spans], workers)
    if any(piece is None for piece in pieces):  # pragma: no cover - libdeflate's output always walks
        return libdeflate.zlib_compress(data, level)
    return _framed(pieces, data, level)  # type: ignore[arg-type]


def libdeflate_continue(
    head: bytes | bytearray | memoryview, rest: bytes | memoryview, level: int, workers: int | None = None
) -> bytes | None:
    """The zlib stream of some data followed by ``rest``, from ``head``, a zlib stream of
    that data made by :func:`libdeflate_compress`: its blocks made non-final, then ``rest``
    compressed at ``level`` (in the pieces of :func:`libdeflate_cuts` of its own length), as
    the pieces above are joined. The writer's trial has already compressed the first rows
    of a small image (kmzcodec.container); only the rest is compressed again. The cut costs
    what a piece's does (matches do not reach back across it). None if ``head`` does not
    walk (never for libdeflate's output)."""
    compile_in_place(globals(), _KERNELS, _COMPILED)
    joined = _unfinal(bytes(head[2:-4]))
    if joined is None:  # pragma: no cover - libdeflate's output always walks
        return None
    view = memoryview(rest)
    spans = list(itertools.pairwise(libdeflate_cuts(len(rest))))
    pieces = run_all([partial(_libdeflate_piece, view, start, stop, level) for start, stop in spans], workers)
    if any(piece is None for piece in pieces):  # pragma: no cover - libdeflate's output always walks
        return None
    check = zlib.adler32(rest, int.from_bytes(head[-4:], "big"))
    return b"".join((bytes(head[:2]), joined, *pieces, check.to_bytes(4, "big")))  # type: ignore[arg-type]
