"""The structure checks of an .xz stream made before decompressing it (spec 7.3, 7.4 step 0).

liblzma accepts more than the KMZ format allows: it skips integrity checks of a
type it does not know (a garbage check under ID 0x02 decodes) and runs any filter
chain it was built with (Delta, BCJ). The stream header, stream footer, index and
block headers sit at places the stream itself declares (the footer gives the
index's size, the index each block's size), so they are all read here from the
stored bytes, before any output is produced; liblzma then decodes the blocks.
"""

from __future__ import annotations

import zlib
from typing import NamedTuple

from .errors import KmzError

HEADER_MAGIC = b"\xfd7zXZ\x00"
FOOTER_MAGIC = b"YZ"
#: Check ID -> size of the check field: None, CRC32, CRC64, SHA-256 (spec 7.3).
CHECK_SIZES = {0x00: 0, 0x01: 4, 0x04: 8, 0x0A: 32}
LZMA2 = 0x21
#: LZMA2 dictionary size byte: size = (2 | (byte & 1)) << (byte // 2 + 11); 40 means 4 GiB - 1.
MAX_DICTIONARY_BYTE = 40
#: Decoders must accept dictionaries up to 64 MiB (byte 28) and may refuse larger ones (spec 7.3).
ACCEPTED_DICTIONARY_BYTE = 28
ACCEPTED_DICTIONARY = 64 << 20
#: liblzma's memory limit for decoding: a backstop only, since :func:`check` refuses
#: dictionaries over 64 MiB before decoding (spec 7.3). A 64 MiB dictionary needs
#: about 64 MiB + 30 KiB, so every stream the spec says to accept passes it.
LZMA_MEMLIMIT = 96 << 20


class Block(NamedTuple):
    """One block as the index and its header place it (spec 7.4 step 0)."""

    start: int  # offset of its block header in the stored data
    unpadded: int  # Unpadded Size: header, compressed data and check
    uncompressed: int
    dictionary: int  # bytes, from its LZMA2 property byte

    @property
    def end(self) -> int:
        """Where the block ends: its padding to a multiple of 4 bytes included."""
        return self.start + -(-self.unpadded // 4) * 4


def dictionary_size(byte: int) -> int:
    """The dictionary size an LZMA2 property byte declares (byte 40: 4 GiB - 1)."""
    if byte == MAX_DICTIONARY_BYTE:
        return (1 << 32) - 1
    return (2 | (byte & 1)) << (byte // 2 + 11)


def _bad(what: str) -> KmzError:
    return KmzError(f"corrupt lzma stream: {what}", "corrupt-stream")


def _u32(data: bytes | memoryview, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "little")


def _varint(data: bytes | memoryview, at: int, end: int) -> tuple[int, int]:
    """An xz multibyte integer (1 to 9 bytes, minimal) at ``at``: its value and the next offset."""
    value = 0
    for i in range(9):
        if at + i >= end:
            break
        byte = data[at + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if byte == 0 and i:
                raise _bad("non-minimal integer")
            return value, at + i + 1
    raise _bad("malformed integer")


def check_stream_header(stored: bytes | memoryview) -> int:
    """The 12-byte stream header; returns the check ID (one of CHECK_SIZES)."""
    if len(stored) < 12 or bytes(stored[:6]) != HEADER_MAGIC:
        raise _bad("no .xz stream header")
    if _u32(stored, 8) != zlib.crc32(stored[6:8]):
        raise _bad("stream header CRC mismatch")
    if stored[6] != 0 or stored[7] not in CHECK_SIZES:
        flags = f"0x{stored[6]:02x}{stored[7]:02x}"
        raise _bad(f"stream flags {flags}: the check is not None, CRC32, CRC64 or SHA-256")
    return stored[7]


def check_block_header(
    stored: bytes | memoryview, at: int, end: int
) -> tuple[int, int | None, int | None, int]:
    """A block header at ``at`` (not past ``end``): one LZMA2 filter, a dictionary of at most 64 MiB.

    Returns the header's size, its compressed and uncompressed size fields (None if absent)
    and the dictionary's size in bytes.
    """
    if at >= end or stored[at] == 0:
        raise _bad("block header expected")
    size = (stored[at] + 1) * 4
    if at + size > end:
        raise _bad("block header runs past its block")
    crc_at = at + size - 4
    if _u32(stored, crc_at) != zlib.crc32(stored[at:crc_at]):
        raise _bad("block header CRC mismatch")
    flags = stored[at + 1]
    if flags & 0x3C:
        raise _bad("reserved block flags set")
    if flags & 0x03:
        raise _bad(f"a filter chain of {(flags & 0x03) + 1} filters (only one LZMA2 filter is allowed)")
    pos = at + 2
    compressed = uncompressed = None
    if flags & 0x40:
        compressed, pos = _varint(stored, pos, crc_at)
    if flags & 0x80:
        uncompressed, pos = _varint(stored, pos, crc_at)
    filter_id, pos = _varint(stored, pos, crc_at)
    if filter_id != LZMA2:
        raise _bad(f"filter 0x{filter_id:x} (only LZMA2, 0x21, is allowed)")
    properties, pos = _varint(stored, pos, crc_at)
    if properties != 1 or pos >= crc_at:
        raise _bad("LZMA2 filter properties are not one byte")
    dictionary = stored[pos]
    if dictionary > MAX_DICTIONARY_BYTE:
        raise _bad("invalid LZMA2 dictionary size")
    if dictionary > ACCEPTED_DICTIONARY_BYTE:
        raise _bad(f"LZMA2 dictionary of {dictionary_size(dictionary):,} bytes is over the 64 MiB limit")
    if any(stored[pos + 1 : crc_at]):
        raise _bad("non-zero block header padding")
    return size, compressed, uncompressed, dictionary_size(dictionary)


def _index(stored: bytes | memoryview, start: int, end: int) -> list[tuple[int, int]]:
    """The index records (unpadded size, uncompressed size) between ``start`` and ``end``."""
    if stored[start] != 0:
        raise _bad("index indicator expected")
    count, pos = _varint(stored, start + 1, end - 4)
    if count > (end - start) // 2:  # each record takes at least two bytes
        raise _bad("index record count too large")
    records = []
    for _ in range(count):
        unpadded, pos = _varint(stored, pos, end - 4)
        uncompressed, pos = _varint(stored, pos, end - 4)
        records.append((unpadded, uncompressed))
    if (pos - start) % 4:
        padding_end = pos + (-(pos - start) % 4)
        if padding_end > end - 4 or any(stored[pos:padding_end]):
            raise _bad("bad index padding")
        pos = padding_end
    if pos != end - 4 or _u32(stored, pos) != zlib.crc32(stored[start:pos]):
        raise _bad("index size or CRC mismatch")
    return records


def check(stored: bytes | memoryview) -> list[Block]:
    """Spec 7.4 step 0: reject (``corrupt-stream``) what the KMZ format does not allow in an .xz stream.

    Returns the blocks, in order.
    """
    check_id = check_stream_header(stored)
    n = len(stored)
    if n < 24:
        raise _bad("stream too short for a footer")
    footer = n - 12
    footer_crc = zlib.crc32(stored[footer + 4 : n - 2])
    if bytes(stored[n - 2 :]) != FOOTER_MAGIC or _u32(stored, footer) != footer_crc:
        raise _bad("no valid stream footer at the end of the stored data")
    if bytes(stored[n - 4 : n - 2]) != bytes(stored[6:8]):
        raise _bad("stream footer flags differ from the header's")
    index_start = footer - (_u32(stored, footer + 4) + 1) * 4
    if index_start < 12:
        raise _bad("index size larger than the stream")
    at = 12
    blocks = []
    for unpadded, uncompressed in _index(stored, index_start, footer):
        header_size, compressed, declared, dictionary = check_block_header(stored, at, index_start)
        payload = unpadded - header_size - CHECK_SIZES[check_id]
        if payload < 1 or (compressed is not None and compressed != payload):
            raise _bad("block size disagrees with the index")
        if declared is not None and declared != uncompressed:
            raise _bad("block uncompressed size disagrees with the index")
        blocks.append(Block(at, unpadded, uncompressed, dictionary))
        at = blocks[-1].end
    if at != index_start:
        raise _bad("blocks do not end where the index begins")
    return blocks
