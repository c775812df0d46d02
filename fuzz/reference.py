"""A second, deliberately plain reading of spec/kmz-format.md: the fuzzers' oracle.

Written from the spec's sections 3 to 9 and nothing else (it imports nothing from
kmzcodec), so that kmzcodec.decode can be checked against it byte for byte: the
same reason token for a file the spec rejects, the same pixels for one it accepts.
Speed is not a goal; the fuzzers give it small files.
"""

from __future__ import annotations

import lzma
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

MAGIC = b"\x89KMZ\r\n\x1a\n"
#: Section 4: magic, version, palette kind, bits, compression, width, height, K,
#: data length, method, colour space, flags, row filter, header CRC.
FIELDS = struct.Struct("<8s4B3IQ4BI")
MAX_SIDE = 1 << 24
MAX_K = 1 << 16
#: Section 7.3: the allowed xz check IDs and the size of each one's check field.
XZ_CHECKS = {0x00: 0, 0x01: 4, 0x04: 8, 0x0A: 32}
#: Section 7.3: a decoder must accept LZMA2 dictionaries up to 64 MiB (property byte 28)
#: and may refuse larger ones; kmzcodec refuses them, and this oracle follows it.
XZ_LARGEST_DICTIONARY_BYTE = 28
#: Input fed to the decompressors at a time: a different path from a one-shot call.
FEED = 61

#: Reasons of rules 9.10 to 9.12: the only ones a rule-9.1-9.9-clean file can get.
STREAM_REASONS = frozenset({"corrupt-stream", "wrong-size", "nonzero-padding", "index-out-of-range"})
#: Every reason token of section 9.
REASONS = frozenset(
    {
        "empty", "bad-magic", "truncated-header", "unsupported-version", "header-crc",
        "bad-palette-kind", "bad-compression", "bad-dimensions", "bad-colors", "bad-bits",
        "bad-method", "bad-colorspace", "reserved-nonzero", "bad-filter", "too-many-pixels", "wrong-size",
        "truncated-palette", "truncated-data", "trailing-bytes", "data-crc",
    }
    | STREAM_REASONS
)  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """What the spec says about a file: the reasons a decoder may give, or the pixels."""

    reasons: frozenset[str]  # empty: the file is valid
    width: int = 0
    height: int = 0
    entry_size: int = 0
    colors: int = 0
    data_offset: int = 0
    #: (height, width, entry_size) uint8: palette[index], only for valid files.
    pixels: np.ndarray | None = None

    @property
    def valid(self) -> bool:
        return not self.reasons


def _reject(*reasons: str, **known: Any) -> Outcome:
    return Outcome(frozenset(reasons), **known)


def read(data: bytes, max_pixels: int | None, *, structure_only: bool = False) -> Outcome:
    """Apply section 9 in its order. ``structure_only``: stop after rule 9.9."""
    n = len(data)
    if n == 0:
        return _reject("empty")
    if data[: min(n, 8)] != MAGIC[: min(n, 8)]:
        return _reject("bad-magic")
    if n < 40:
        return _reject("truncated-header")
    (_, version, kind, bits, compression, width, height, colors, data_length,
     method, colorspace, flags, row_filter, header_crc) = FIELDS.unpack(data[:40])  # fmt: skip
    if version != 1:
        return _reject("unsupported-version")
    if zlib.crc32(data[:36]) != header_crc:
        return _reject("header-crc")
    checks = (
        (kind not in (1, 3, 4), "bad-palette-kind"),
        (compression not in (0, 1, 2), "bad-compression"),
        (not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE), "bad-dimensions"),
        (not 1 <= colors <= MAX_K, "bad-colors"),
        (not 1 <= bits <= 16 or 2**bits < colors, "bad-bits"),
        (method > 4, "bad-method"),
        (colorspace > 4, "bad-colorspace"),
        (flags & 0xFE != 0, "reserved-nonzero"),
        (row_filter > 4, "bad-filter"),
        (max_pixels is not None and width * height > max_pixels, "too-many-pixels"),
    )
    for failed, reason in checks:
        if failed:
            return _reject(reason)
    row_bytes = -(-width * bits // 8)
    raw_length = row_bytes * height
    data_offset = 40 + colors * kind
    file_length = data_offset + data_length + 4  # Python integers: no wrap-around
    known: dict[str, Any] = {"width": width, "height": height, "entry_size": kind, "colors": colors}
    known["data_offset"] = data_offset
    if compression == 0 and data_length != raw_length:
        return _reject("wrong-size", **known)
    if n < data_offset:
        return _reject("truncated-palette", **known)
    if n < file_length:
        return _reject("truncated-data", **known)
    if n > file_length:
        return _reject("trailing-bytes", **known)
    if zlib.crc32(data[40 : n - 4]) != int.from_bytes(data[n - 4 :], "little"):
        return _reject("data-crc", **known)
    if structure_only:
        return Outcome(frozenset(), **known)
    stored = data[data_offset : n - 4]
    if compression == 0:
        rows = stored
    else:
        rows_or_reason = _decompress(stored, compression, raw_length)
        if isinstance(rows_or_reason, str):
            return _reject(rows_or_reason, **known)
        rows = rows_or_reason
    reasons, indices = _unpack(rows, width, height, bits, colors, row_filter)
    if reasons:
        return _reject(*reasons, **known)
    palette = np.frombuffer(data[40:data_offset], dtype=np.uint8).reshape(colors, kind)
    return Outcome(frozenset(), pixels=palette[indices], **known)


def _decompress(stored: bytes, compression: int, raw_length: int) -> bytes | str:
    """Section 7.4, steps 0 (xz) and 1 to 5, feeding the stream a few bytes at a time."""
    limit = raw_length + 1
    out = bytearray()
    pending = [stored[i : i + FEED] for i in range(0, len(stored), FEED)]
    try:
        if compression == 1:
            inflater = zlib.decompressobj()
            while pending and not inflater.eof and len(out) < limit:
                out += inflater.decompress(inflater.unconsumed_tail + pending.pop(0), limit - len(out))
            while inflater.unconsumed_tail and not inflater.eof and len(out) < limit:
                out += inflater.decompress(inflater.unconsumed_tail, limit - len(out))
            ended, left_over = inflater.eof, bool(inflater.unused_data) or bool(pending)
        else:
            if not _xz_structure_ok(stored):
                return "corrupt-stream"  # step 0
            xz = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
            while not xz.eof and len(out) < limit:
                if xz.needs_input:
                    if not pending:
                        break
                    chunk = pending.pop(0)
                else:
                    chunk = b""
                out += xz.decompress(chunk, limit - len(out))
            ended, left_over = xz.eof, bool(xz.unused_data) or bool(pending)
    except (zlib.error, lzma.LZMAError):
        return "corrupt-stream"  # step 1
    if len(out) >= limit:
        return "wrong-size"  # step 2
    if not ended:
        return "corrupt-stream"  # step 3
    if left_over:
        return "corrupt-stream"  # step 4
    if len(out) < raw_length:
        return "wrong-size"  # step 5
    return bytes(out)


class _Truncated(Exception):
    pass


def _xz_number(data: bytes, pos: int) -> tuple[int, int]:
    """A multibyte integer of The .xz File Format 1.2: (value, position after it)."""
    start, value = pos, 0
    while True:
        if pos >= len(data) or pos - start == 9:
            raise _Truncated
        byte = data[pos]
        value += (byte & 0x7F) << (7 * (pos - start))
        pos += 1
        if byte < 0x80:
            if byte == 0 and pos - start > 1:
                raise _Truncated  # not the shortest encoding
            return value, pos


def _xz_structure_ok(xz: bytes) -> bool:
    """Section 7.4 step 0: the xz stream's header, footer, index and every block header.

    Read in this order: stream header (check ID), footer (index size), index (the
    blocks' sizes), then each block header where the index puts it.
    """
    if len(xz) < 24 or xz[:6] != b"\xfd7zXZ\x00" or xz[-2:] != b"YZ":
        return False
    flags = xz[6:8]
    if struct.unpack("<I", xz[8:12])[0] != zlib.crc32(flags) or flags[0] != 0 or flags[1] not in XZ_CHECKS:
        return False
    crc, backward, footer_flags = struct.unpack("<I4s2s", xz[-12:-2])
    if crc != zlib.crc32(xz[-8:-2]) or footer_flags != flags:
        return False
    index_start = len(xz) - 12 - (int.from_bytes(backward, "little") + 1) * 4
    if index_start < 12:
        return False
    index = xz[index_start : len(xz) - 12]
    if struct.unpack("<I", index[-4:])[0] != zlib.crc32(index[:-4]):
        return False
    body = index[:-4]
    try:
        if body[:1] != b"\x00":
            return False
        count, pos = _xz_number(body, 1)
        records = []
        while len(records) < count:
            unpadded, pos = _xz_number(body, pos)
            size, pos = _xz_number(body, pos)
            records.append((unpadded, size))
        if len(body) - pos > 3 or (len(body) % 4) or any(body[pos:]):
            return False
        block = 12
        for unpadded, size in records:
            if not _xz_block_header_ok(xz[block:index_start], unpadded, size, XZ_CHECKS[flags[1]]):
                return False
            block += (unpadded + 3) // 4 * 4
    except _Truncated:
        return False
    return block == index_start


def _xz_block_header_ok(rest: bytes, unpadded: int, size: int, check_size: int) -> bool:
    """One block header: exactly one filter, LZMA2 with a dictionary of at most 64 MiB."""
    if not rest or rest[0] == 0 or len(rest) < (rest[0] + 1) * 4:
        return False
    header = rest[: (rest[0] + 1) * 4]
    if struct.unpack("<I", header[-4:])[0] != zlib.crc32(header[:-4]):
        return False
    fields, flags = header[:-4], header[1]
    if flags & 0b0011_1111:  # four reserved-zero bits and "number of filters - 1"
        return False
    pos = 2
    data_size = unpadded - len(header) - check_size
    if data_size <= 0:
        return False
    if flags & 0x40:
        declared, pos = _xz_number(fields, pos)
        if declared != data_size:
            return False
    if flags & 0x80:
        declared, pos = _xz_number(fields, pos)
        if declared != size:
            return False
    filter_id, pos = _xz_number(fields, pos)
    property_size, pos = _xz_number(fields, pos)
    if filter_id != 0x21 or property_size != 1 or pos >= len(fields):
        return False
    return fields[pos] <= XZ_LARGEST_DICTIONARY_BYTE and not any(fields[pos + 1 :])


def _unpack(
    rows: bytes, width: int, height: int, bits: int, colors: int, row_filter: int
) -> tuple[list[str], np.ndarray]:
    """Sections 6.2, 6.5 and 9.11-9.12: the indices, and which of the two rules fail.

    The spec leaves the reason open when both fail, so both are returned.
    """
    row_bytes = -(-width * bits // 8)
    table = np.frombuffer(rows, dtype=np.uint8).reshape(height, row_bytes)
    as_bits = np.unpackbits(table, axis=1)  # bit p of a row is column p, MSB first
    used = as_bits[:, : width * bits].reshape(height, width, bits).astype(np.int64)
    indices = used @ (1 << np.arange(bits - 1, -1, -1, dtype=np.int64))
    if row_filter:
        indices = _unfilter(indices.tolist(), bits, row_filter)
    reasons = []
    if as_bits[:, width * bits :].any():
        reasons.append("nonzero-padding")
    if int(indices.max()) >= colors:
        reasons.append("index-out-of-range")
    return reasons, indices


def _unfilter(residuals: list[list[int]], bits: int, row_filter: int) -> np.ndarray:
    """Section 6.5, pixel by pixel in reading order: index = (residual + prediction) mod 2^bits."""
    modulus = 1 << bits
    out: list[list[int]] = []
    for y, row in enumerate(residuals):
        above = out[y - 1] if y else [0] * len(row)
        current: list[int] = []
        for x, residual in enumerate(row):
            a = current[x - 1] if x else 0
            b = above[x]
            c = above[x - 1] if x and y else 0
            if row_filter == 1:
                prediction = a
            elif row_filter == 2:
                prediction = b
            elif row_filter == 3:
                prediction = (a + b - c) % modulus
            else:  # 4, Paeth: p in plain integers, ties to a, then b
                p = a + b - c
                if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c):
                    prediction = a
                elif abs(p - b) <= abs(p - c):
                    prediction = b
                else:
                    prediction = c
            current.append((residual + prediction) % modulus)
        out.append(current)
    return np.array(out, dtype=np.int64).reshape(len(residuals), -1)
