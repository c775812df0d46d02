""".xz streams of several independent blocks (spec 7.3): written in pieces, decoded on threads.

Every block of an .xz stream starts a new LZMA2 dictionary and coder state, so its
block can be decoded without the others. A writer that cuts the rows into pieces
and compresses each as its own block pays a little size (each block learns its
statistics afresh: 1.5-5 KB a cut on 4 MP photographs) and lets a reader decode
the blocks at once on several cores. liblzma decodes one block at a time, so
:func:`decompress` hands each block, wrapped as a single-block stream of its own, to
a liblzma decoder on a thread (``lzma`` releases the GIL while it decodes). The
wrapped stream holds the block's bytes as stored and an index record with the sizes
the stream's index gives, so liblzma checks the block exactly as it does inside the
whole stream (header, sizes against the index, integrity check).

The reasons a decoder gives (spec 7.4) come from decoding the whole stream in order;
so when any block is not exactly right here, :func:`decompress` returns None and the
caller decodes the stream in order, which finds the first fault and its reason. A stream of
many blocks is decoded as a few runs of consecutive blocks, one per thread, so that its
cost stays that of a few liblzma calls. The threads are kmzcodec.threads's helpers, which
stay for the life of the process, and this one: on a 0.25 MP file, starting two threads
per decode cost more than the decoding they shared.
"""

from __future__ import annotations

import lzma
import zlib
from functools import partial

from . import threads, xzscan
from .xzscan import Block


def _varint(value: int) -> bytes:
    """An xz multibyte integer: 7 bits per byte, least significant first."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tail(records: list[tuple[int, int]], flags: bytes | memoryview) -> bytes:
    """Index (records of unpadded and uncompressed size) and stream footer, for stream ``flags``."""
    index = b"\x00" + _varint(len(records)) + b"".join(_varint(u) + _varint(c) for u, c in records)
    index += bytes(-len(index) % 4)
    index += zlib.crc32(index).to_bytes(4, "little")
    footer = (len(index) // 4 - 1).to_bytes(4, "little") + bytes(flags)
    return index + zlib.crc32(footer).to_bytes(4, "little") + footer + xzscan.FOOTER_MAGIC


def compress(raw: bytes | memoryview, cuts: list[int], filters: list[dict[str, int]]) -> bytes:
    """One .xz stream (no integrity check) of one block per piece ``raw[cuts[i]:cuts[i + 1]]``.

    ``cuts`` starts at 0 and ends at ``len(raw)``. Each piece is compressed by liblzma with
    ``filters`` as a stream of its own, the pieces at once on threads (kmzcodec.threads.run_all,
    within the encode's CPU budget; liblzma releases the GIL, and each piece's bytes do not
    depend on the thread: so the stream is the same however many took part); its block is
    kept and a new index covers them all.
    """
    view = memoryview(raw).cast("B")
    head = b""
    blocks: list[bytes] = []
    records: list[tuple[int, int]] = []
    pieces = [
        partial(
            lzma.compress, view[start:stop], format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, filters=filters
        )
        for start, stop in zip(cuts, cuts[1:], strict=False)
    ]
    for stream in threads.run_all(pieces):
        (block,) = xzscan.check(stream)
        head = stream[:12]
        blocks.append(stream[block.start : block.end])
        records.append((block.unpadded, block.uncompressed))
    return head + b"".join(blocks) + _tail(records, head[6:8])


def _decode_run(stored: memoryview, run: list[Block]) -> bytes | None:
    """A run of consecutive blocks, as a stream of its own; None unless it decodes exactly.

    liblzma is given the stream header, the blocks as stored and a new index and footer in
    turn, so the blocks (most of the bytes) are read where they are, not copied first.
    """
    records = [(block.unpadded, block.uncompressed) for block in run]
    expected = sum(block.uncompressed for block in run)
    engine = lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=xzscan.LZMA_MEMLIMIT)
    try:
        engine.decompress(stored[:12])  # the stream header: no output
        out = engine.decompress(stored[run[0].start : run[-1].end], expected + 1)
        if len(out) == expected:  # the index and footer end it, with no more output
            out += engine.decompress(_tail(records, stored[6:8]), 1)
    except lzma.LZMAError:
        return None
    if not engine.eof or engine.unused_data or len(out) != expected:
        return None
    return out


def runs(blocks: list[Block], count: int) -> list[list[Block]]:
    """``blocks`` in ``count`` runs of consecutive blocks of about the same stored size (one
    liblzma call and one thread each, however many blocks a stream has)."""
    total = blocks[-1].end - blocks[0].start
    grouped: list[list[Block]] = [[] for _ in range(count)]
    for block in blocks:
        middle = (block.start + block.end) // 2 - blocks[0].start
        grouped[min(count - 1, middle * count // total)].append(block)
    return [run for run in grouped if run]


def workers(blocks: list[Block], expected: int) -> int:
    """Threads to decode ``blocks`` on: 1 (decode the stream in order) unless there are
    several blocks, several CPUs for this decode, the index's sizes add up to ``expected``,
    and the dictionaries in use at once need no more than one 64 MiB dictionary would."""
    count = min(len(blocks), threads.cpu_budget())
    if count < 2 or sum(block.uncompressed for block in blocks) != expected:
        return 1
    if count * max(block.dictionary for block in blocks) > xzscan.ACCEPTED_DICTIONARY:
        return 1
    return count


def decompress(stored: bytes | memoryview, blocks: list[Block], expected: int) -> bytes | None:
    """The stream's ``expected`` bytes, runs of its blocks decoded on threads; None when that
    is not worth doing (:func:`workers`) or any block is not exactly right."""
    count = workers(blocks, expected)
    if count < 2:
        return None
    view = memoryview(stored).cast("B")
    work = runs(blocks, count)
    if len(work) < 2:  # one block holds nearly all the stream: nothing to share out
        return None
    # The last run on this thread, the others on the helper threads (kmzcodec.threads).
    parts = threads.run_all([partial(_decode_run, view, run) for run in work])
    if any(part is None for part in parts):
        return None
    return b"".join(parts)  # type: ignore[arg-type]
