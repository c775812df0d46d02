"""Build the .kmz conformance vectors from the recipes in this file.

This is an independent writer: it reads spec/kmz-format.md, not kmzcodec, and
uses only the standard library (struct, zlib, lzma, zipfile) and numpy (to save
the expected pixels). Every vector is one recipe below; an invalid vector takes a
valid file and breaks exactly one rule of the spec (all CRCs are recomputed
unless a CRC is the defect), except the few "precedence" vectors, which break
two rules to pin down which one a decoder reports first.

    python spec/conformance/generate.py            # rewrite the committed vectors
    python spec/conformance/generate.py --out DIR  # write them somewhere else

Output: valid/*.kmz with valid/*.npy (expected pixels, (height, width, C) uint8,
C = bytes per palette entry), invalid/*.kmz, cases.json and README.md.
Same code, same bytes: pseudo-random numbers come from SplitMix64 seeded by
each vector's name, and nothing depends on the time or the machine, except
that zlib and liblzma builds may compress differently (cases.json records a
fingerprint of both so the reproduction test can tell).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import lzma
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SPEC = "spec/kmz-format.md"

# ---------------------------------------------------------------- the format (spec 4-8)

MAGIC = b"\x89KMZ\r\n\x1a\n"
#: The 36 header bytes covered by the header CRC; the CRC follows (spec 4).
FIELDS = struct.Struct("<8sBBBBIIIQBBBB")
GREY, RGB, RGBA = 1, 3, 4
NONE, ZLIB, XZ = 0, 1, 2
COMPRESSION_LABELS = {NONE: "none", ZLIB: "zlib", XZ: "lzma"}
KIND_LABELS = {GREY: "grey", RGB: "rgb", RGBA: "rgba"}
METHOD_LABELS = ["unspecified", "kmeans", "gmm", "exact", "given"]
COLORSPACE_LABELS = ["unspecified", "rgb", "oklab", "lab", "hsv"]
FILTER_LABELS = ["none", "sub", "up", "gradient", "paeth"]
NO_FILTER, SUB, UP, GRADIENT, PAETH = range(5)
U64 = (1 << 64) - 1


def crc32(*parts: bytes) -> int:
    value = 0
    for part in parts:
        value = zlib.crc32(part, value)
    return value


def min_bits(colors: int) -> int:
    return max(1, (colors - 1).bit_length())


@dataclass(frozen=True)
class Kmz:
    """Every byte of a file, field by field. None means "the correct value"."""

    width: int
    height: int
    colors: int
    kind: int
    bits: int
    compression: int
    palette: bytes
    stored: bytes
    magic: bytes = MAGIC
    version: int = 1
    data_length: int | None = None
    method: int = 0
    colorspace: int = 0
    flags: int = 0
    filter: int = 0  # byte 35 (spec 4.12)
    header_crc: int | None = None
    data_crc: int | None = None

    def fields(self) -> bytes:
        length = len(self.stored) if self.data_length is None else self.data_length
        return FIELDS.pack(
            self.magic, self.version, self.kind, self.bits, self.compression,
            self.width, self.height, self.colors, length,
            self.method, self.colorspace, self.flags, self.filter,
        )  # fmt: skip

    def header(self) -> bytes:
        fields = self.fields()
        return fields + struct.pack("<I", crc32(fields) if self.header_crc is None else self.header_crc)

    def trailer(self) -> bytes:
        return struct.pack("<I", crc32(self.palette, self.stored) if self.data_crc is None else self.data_crc)

    def tobytes(self) -> bytes:
        return self.header() + self.palette + self.stored + self.trailer()


def stale_header(kmz: Kmz, **changes: int) -> Kmz:
    """Change header fields but keep the header CRC of the original: a CRC defect."""
    return replace(kmz, **changes, header_crc=crc32(kmz.fields()))  # type: ignore[arg-type]


def stale_data(kmz: Kmz, *, palette: bytes | None = None, stored: bytes | None = None) -> Kmz:
    """Change palette or stored bytes but keep the original trailer CRC."""
    return replace(
        kmz,
        palette=kmz.palette if palette is None else palette,
        stored=kmz.stored if stored is None else stored,
        data_crc=crc32(kmz.palette, kmz.stored),
    )


def base_with(**changes: bytes | int) -> bytes:
    """The base file with some header fields (or parts) replaced; CRCs recomputed."""
    return replace(base(), **changes).tobytes()  # type: ignore[arg-type]


def pack_rows(indices: list[list[int]], bits: int) -> bytes:
    """Spec 6: each row is its indices written MSB first, then zero bits to a byte boundary."""
    out = bytearray()
    for row in indices:
        number = 0
        for value in row:
            number = (number << bits) | value
        used = len(row) * bits
        padding = -used % 8
        out += (number << padding).to_bytes((used + padding) // 8, "big")
    return bytes(out)


def filter_rows(indices: list[list[int]], bits: int, kind: int) -> list[list[int]]:
    """Spec 6.5: each index replaced by (index - prediction) mod 2^bits; neighbours outside are 0."""
    modulus = 1 << bits
    out = []
    for y, row in enumerate(indices):
        above = indices[y - 1] if y else [0] * len(row)
        residuals = []
        for x, value in enumerate(row):
            a = row[x - 1] if x else 0
            b = above[x]
            c = above[x - 1] if x and y else 0
            if kind == SUB:
                guess = a
            elif kind == UP:
                guess = b
            elif kind == GRADIENT:
                guess = (a + b - c) % modulus
            elif kind == PAETH:
                p = a + b - c
                guess = (
                    a
                    if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c)
                    else b
                    if abs(p - b) <= abs(p - c)
                    else c
                )
            else:
                guess = 0
            residuals.append((value - guess) % modulus)
        out.append(residuals)
    return out


def row_bytes(width: int, bits: int) -> int:
    return (width * bits + 7) // 8


# ---------------------------------------------------------------- compressed streams (spec 7)


def zlib_stream(raw: bytes, style: str = "level6") -> bytes:
    """One RFC 1950 stream. Styles: levelN, sync-flush (a flush point mid-stream)."""
    if style == "sync-flush":
        engine = zlib.compressobj(6)
        middle = len(raw) // 2
        return (
            engine.compress(raw[:middle])
            + engine.flush(zlib.Z_SYNC_FLUSH)
            + engine.compress(raw[middle:])
            + engine.flush()
        )
    return zlib.compress(raw, int(style.removeprefix("level")))


def deflate_raw(raw: bytes) -> bytes:
    """RFC 1951 deflate data without the zlib wrapper."""
    engine = zlib.compressobj(9, zlib.DEFLATED, -15)
    return engine.compress(raw) + engine.flush()


def gzip_stream(raw: bytes) -> bytes:
    """RFC 1952, header written by hand (no time stamp, OS "unknown") so it never varies."""
    head = bytes([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF])
    return head + deflate_raw(raw) + struct.pack("<II", zlib.crc32(raw), len(raw) & 0xFFFFFFFF)


XZ_CHECKS = {
    "check-none": lzma.CHECK_NONE,
    "crc32": lzma.CHECK_CRC32,
    "crc64": lzma.CHECK_CRC64,
    "sha256": lzma.CHECK_SHA256,
}


def xz_stream(raw: bytes, style: str = "check-none", preset: int = 6) -> bytes:
    """One .xz stream, a single LZMA2 filter, with the named integrity check.

    Other styles: two-blocks (the rows split in two blocks, CRC-32 checks),
    three-blocks (the rows cut after 5 and 9 twelfths into blocks of unequal size, no check,
    each block's dictionary the size of its piece: as kmzcodec's ``compression="smallest"``
    writes large streams for decoders that decode blocks at once) and
    dictionary-64mib (the largest dictionary a decoder must accept, spec 7.3).
    """
    if style == "two-blocks":
        middle = len(raw) // 2
        return xz_join([xz_stream(raw[:middle], "crc32"), xz_stream(raw[middle:], "crc32")])
    if style == "three-blocks":
        cuts = [0, len(raw) * 5 // 12, len(raw) * 9 // 12, len(raw)]
        pieces = [raw[start:stop] for start, stop in zip(cuts, cuts[1:])]
        chains = [[{"id": lzma.FILTER_LZMA2, "preset": 6, "dict_size": max(4096, len(piece))}] for piece in pieces]
        return xz_join([lzma.compress(piece, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, filters=chain)
                        for piece, chain in zip(pieces, chains)])  # fmt: skip
    if style == "dictionary-64mib":
        return xz_dictionary(xz_stream(raw), 28)
    return lzma.compress(raw, format=lzma.FORMAT_XZ, check=XZ_CHECKS[style], preset=preset)


def xz_filtered(raw: bytes, first: dict[str, int]) -> bytes:
    """An .xz stream whose filter chain is ``first`` then LZMA2 (liblzma decodes it; spec 7.3 forbids it)."""
    return lzma.compress(raw, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, filters=[first, {"id": 0x21}])


def varint(value: int) -> bytes:
    """An xz multibyte integer: 7 bits per byte, least significant first."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        value |= (data[at] & 0x7F) << shift
        shift += 7
        at += 1
        if not data[at - 1] & 0x80:
            return value, at


def xz_blocks(stream: bytes) -> tuple[bytes, list[tuple[int, int]]]:
    """The block bytes and index records (unpadded, uncompressed size) of one stream we wrote."""
    index_start = len(stream) - 12 - index_length(stream)
    count, at = read_varint(stream, index_start + 1)
    records = []
    for _ in range(count):
        unpadded, at = read_varint(stream, at)
        uncompressed, at = read_varint(stream, at)
        records.append((unpadded, uncompressed))
    return stream[12:index_start], records


def xz_join(streams: list[bytes]) -> bytes:
    """One .xz stream holding the blocks of several (same check type), with a new index and footer."""
    flags = streams[0][6:8]
    blocks, records = b"", []
    for stream in streams:
        assert stream[6:8] == flags
        part, more = xz_blocks(stream)
        blocks += part
        records += more
    index = b"\x00" + varint(len(records)) + b"".join(varint(u) + varint(c) for u, c in records)
    index += bytes(-len(index) % 4)
    index += struct.pack("<I", zlib.crc32(index))
    tail = struct.pack("<I", len(index) // 4 - 1) + flags
    return streams[0][:12] + blocks + index + struct.pack("<I", zlib.crc32(tail)) + tail + b"YZ"


def xz_set_check(stream: bytes, check_id: int, check: bytes) -> bytes:
    """A CRC-32 stream relabelled with another check ID and its check bytes replaced; CRCs fixed."""
    data = bytearray(stream)
    assert data[7] == lzma.CHECK_CRC32
    index_start = len(data) - 12 - index_length(data)
    size = {0x02: 4, 0x03: 4, 0x05: 8, 0x0F: 64}[check_id]
    data[index_start - 4 : index_start] = check[:size].ljust(size, b"\xa5")
    records = xz_blocks(stream)[1]
    ((unpadded, uncompressed),) = records
    data[7] = check_id
    data[8:12] = struct.pack("<I", zlib.crc32(data[6:8]))
    if size != 4:  # the check field grows: rebuild the index with the new unpadded size
        blocks = bytes(data[12 : index_start - 4]) + check[:size].ljust(size, b"\xa5")
        shim = bytes(data[:12]) + blocks
        index = b"\x00" + varint(1) + varint(unpadded - 4 + size) + varint(uncompressed)
        index += bytes(-len(index) % 4)
        index += struct.pack("<I", zlib.crc32(index))
        tail = struct.pack("<I", len(index) // 4 - 1) + bytes(data[6:8])
        return shim + bytes(-len(blocks) % 4) + index + struct.pack("<I", zlib.crc32(tail)) + tail + b"YZ"
    data[-4:-2] = data[6:8]
    data[-12:-8] = struct.pack("<I", zlib.crc32(data[-8:-2]))
    return bytes(data)


def compress(raw: bytes, compression: int, style: str | None) -> bytes:
    if compression == ZLIB:
        return zlib_stream(raw, style or "level6")
    if compression == XZ:
        return xz_stream(raw, style or "check-none")
    return raw


# ---------------------------------------------------------------- pseudo-random content


def splitmix64(seed: int):  # type: ignore[no-untyped-def]
    """The SplitMix64 generator: fixed, documented, independent of numpy's versions."""
    state = seed & U64
    while True:
        state = (state + 0x9E3779B97F4A7C15) & U64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & U64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & U64
        yield z ^ (z >> 31)


def numbers(name: str, salt: str, count: int, below: int) -> list[int]:
    source = splitmix64(crc32(f"{name}/{salt}".encode()))
    return [next(source) % below for _ in range(count)]


def make_palette(name: str, colors: int, kind: int) -> bytes:
    entries = bytearray(numbers(name, "palette", colors * kind, 256))
    if kind == RGBA:
        # Alpha takes the values that matter: fully transparent, half, opaque.
        for entry in range(colors):
            entries[entry * 4 + 3] = (0, 128, 255, entries[entry * 4 + 3])[entry % 4]
    return bytes(entries)


def make_indices(name: str, width: int, height: int, colors: int, pattern: str) -> list[list[int]]:
    """Indices for a vector. "random" holds 0 and K - 1 at the first and last pixel."""
    count = width * height
    if pattern == "ramp":
        flat = [i % colors for i in range(count)]
    elif pattern == "zero":
        flat = [0] * count
    else:
        flat = numbers(name, "indices", count, colors)
        flat[0] = 0
        flat[-1] = colors - 1
    return [flat[top * width : (top + 1) * width] for top in range(height)]


# ---------------------------------------------------------------- valid vectors


@dataclass(frozen=True)
class Valid:
    """A well-formed file: its header values and how its indices and stream are made."""

    name: str
    tests: str
    width: int
    height: int
    colors: int
    kind: int = RGB
    bits: int = 0  # 0: the minimum for K
    compression: int = NONE
    style: str | None = None  # the stream's flavour (see zlib_stream / xz_stream)
    method: int = 0
    colorspace: int = 0
    flags: int = 0
    pattern: str = "random"
    filter: int = NO_FILTER

    @property
    def bits_per_index(self) -> int:
        return self.bits or min_bits(self.colors)

    def indices(self) -> list[list[int]]:
        return make_indices(self.name, self.width, self.height, self.colors, self.pattern)

    def kmz(self, rows: bytes | None = None) -> Kmz:
        """The file; ``rows`` replaces the packed index rows (for the invalid vectors)."""
        raw = self.rows(self.indices()) if rows is None else rows
        return Kmz(
            self.width, self.height, self.colors, self.kind, self.bits_per_index, self.compression,
            make_palette(self.name, self.colors, self.kind), compress(raw, self.compression, self.style),
            method=self.method, colorspace=self.colorspace, flags=self.flags, filter=self.filter,
        )  # fmt: skip

    def rows(self, indices: list[list[int]]) -> bytes:
        """The packed rows of ``indices``: through the recipe's row filter (spec 6.5), then packed."""
        return pack_rows(filter_rows(indices, self.bits_per_index, self.filter), self.bits_per_index)

    def expected(self) -> np.ndarray:
        """What a decoder must produce: palette[index] for every pixel, (H, W, C) uint8."""
        entries = np.frombuffer(make_palette(self.name, self.colors, self.kind), dtype=np.uint8)
        return entries.reshape(self.colors, self.kind)[np.array(self.indices(), dtype=np.int64)]


def _valid() -> list[Valid]:
    cases = [
        Valid("tiny-1x1-k1", "smallest file: 1x1, K = 1, 1 bit, one zero byte of index data", 1, 1, 1),
        Valid("k1-8bit-zlib", "K = 1 stored with a wider packing than needed", 6, 2, 1, GREY, 8, ZLIB),
        Valid("k2-1bit-grey", "K = 2, 1 bit, 7 columns: 1 padding bit per row", 7, 3, 2, GREY),
        Valid("k3-2bit-rgb", "K = 3, 2 bits, 5 columns: 6 padding bits per row", 5, 3, 3, RGB),
        Valid("k3-2bit-rgba", "RGBA palette, K = 3", 5, 3, 3, RGBA),
        Valid("k255-8bit", "K = 255 (one short of a byte)", 17, 16, 255, RGB, 0, ZLIB),
        Valid(
            "k256-8bit-rgba", "K = 256, RGBA, every alpha class", 16, 16, 256, RGBA, 0, ZLIB, pattern="ramp"
        ),
        Valid("k256-16bit", "K = 256 stored in 16 bits (wider than needed)", 9, 4, 256, RGB, 16),
        Valid("k257-9bit", "K = 257: the first K that needs 9 bits", 13, 5, 257, RGB, 0, ZLIB),
        Valid("k257-16bit-rgba", "K = 257 in 16 bits, RGBA", 7, 5, 257, RGBA, 16, XZ),
        Valid(
            "k65536-16bit-grey",
            "K = 65536, every index used once",
            256,
            256,
            65536,
            GREY,
            16,
            ZLIB,
            pattern="ramp",
        ),
        Valid("k300-grey-none", "K > 256 with a grey palette", 11, 3, 300, GREY, 0, NONE),
    ]
    # Every width of packing with its minimal K, padding in every row (w * bits not a multiple of 8).
    for bits in range(1, 17):
        colors = 2 if bits == 1 else (1 << (bits - 1)) + 1
        kind = (GREY, RGB, RGBA)[bits % 3] if bits <= 8 else GREY
        width = next((w for w in range(3, 12) if (w * bits) % 8), 5)
        compression = (NONE, ZLIB, XZ)[bits % 3]
        cases.append(
            Valid(
                f"bits{bits:02d}-k{colors}",
                f"{bits} bit{'s' if bits > 1 else ''} per index, the minimum for K = {colors}",
                width,
                3,
                colors,
                kind,
                bits,
                compression,
            )  # fmt: skip
        )
    # Every width of packing above the minimum, for the same three colours.
    for bits in range(3, 17):
        cases.append(
            Valid(
                f"k3-bits{bits:02d}",
                f"K = 3 stored in {bits} bits (wider than the minimum 2)",
                5,
                2,
                3,
                RGB,
                bits,
            )
        )
    for width in range(1, 10):
        cases.append(Valid(f"width{width}-1bit", f"width {width} at 1 bit per index", width, 2, 2, GREY))
    cases += [
        Valid("tall-1x9", "one column, nine rows", 1, 9, 4, RGB),
        Valid("zlib-level0", "zlib stream of stored blocks", 9, 4, 16, RGB, 0, ZLIB, "level0"),
        Valid("zlib-level1", "zlib level 1", 9, 4, 16, RGB, 0, ZLIB, "level1"),
        Valid("zlib-level9", "zlib level 9", 33, 20, 5, RGB, 0, ZLIB, "level9", pattern="ramp"),
        Valid(
            "zlib-sync-flush",
            "zlib stream with a sync flush point in the middle",
            40,
            20,
            16,
            RGB,
            0,
            ZLIB,
            "sync-flush",
        ),
        Valid("xz-check-none", "xz stream without integrity check", 9, 4, 16, RGB, 0, XZ, "check-none"),
        Valid("xz-crc32", "xz stream with a CRC-32 check", 9, 4, 16, RGB, 0, XZ, "crc32"),
        Valid("xz-crc64", "xz stream with a CRC-64 check", 9, 4, 16, RGB, 0, XZ, "crc64"),
        Valid("xz-sha256", "xz stream with a SHA-256 check", 9, 4, 16, RGB, 0, XZ, "sha256"),
        Valid("xz-two-blocks", "xz stream of two blocks (as multi-threaded xz writes), CRC-32 checks",
              9, 4, 16, RGB, 0, XZ, "two-blocks"),
        Valid("xz-three-blocks", "xz stream of three blocks of unequal size, cut at row boundaries, no check",
              16, 12, 256, RGB, 0, XZ, "three-blocks"),
        Valid("xz-three-blocks-sub", "sub filter, xz stream of three blocks cut at row boundaries",
              16, 12, 256, GREY, 0, XZ, "three-blocks", pattern="ramp", filter=SUB),
        Valid("xz-dictionary-64mib", "xz block declares a 64 MiB dictionary: the largest to accept",
              9, 4, 16, RGB, 0, XZ, "dictionary-64mib"),
    ]  # fmt: skip
    cases += [
        Valid("dithered-flag", "flags bit 0 (dithered) set", 4, 4, 4, RGB, flags=1),
    ]
    for code, label in enumerate(METHOD_LABELS):
        cases.append(
            Valid(f"method{code}-{label}", f"method code {code} ({label})", 3, 2, 2, RGB, method=code)
        )
    for code, label in enumerate(COLORSPACE_LABELS):
        cases.append(
            Valid(
                f"colorspace{code}-{label}",
                f"colour space code {code} ({label})",
                3,
                2,
                2,
                RGB,
                colorspace=code,
            )
        )
    # Every row filter (spec 6.5) at widths of 1 to 16 bits, every kind and compression.
    # Random indices: predictions wrap around modulo 2^bits, residuals take values >= K.
    for code in (SUB, UP, GRADIENT, PAETH):
        for number, (bits, colors) in enumerate(
            ((1, 2), (2, 3), (3, 6), (4, 11), (8, 200), (12, 2049), (16, 300))
        ):
            kind = (GREY, RGB, RGBA)[(number + code) % 3]
            compression = (NONE, ZLIB, XZ)[(number + 2 * code) % 3]
            label = FILTER_LABELS[code]
            cases.append(
                Valid(f"filter-{label}-bits{bits:02d}",
                      f"{label} filter, {bits} bits per index, K = {colors}",
                      5, 4, colors, kind, bits, compression, filter=code)
            )  # fmt: skip
    cases.append(
        Valid("filter-paeth-ramp", "Paeth filter over a ramp of K = 256 in 8 bits (what it is for)",
              24, 6, 256, GREY, 8, XZ, pattern="ramp", filter=PAETH)
    )  # fmt: skip
    return cases


# ---------------------------------------------------------------- invalid vectors


@dataclass(frozen=True)
class Invalid:
    name: str
    reason: str
    rule: str  # section of the spec
    tests: str
    build: Callable[[], bytes]
    group: str = "invalid"  # or "precedence" (two defects) or "limit" (a decoder's resource limit)


#: The file most invalid vectors start from: 5x3, K = 3 RGB, 2 bits (6 padding bits per row).
BASE = Valid("base", "", 5, 3, 3, RGB)
ZBASE = replace(BASE, name="zbase", compression=ZLIB)
XBASE = replace(BASE, name="xbase", compression=XZ)
RAW = pack_rows(BASE.indices(), 2)  # 2 bytes per row, 6 bytes
#: zlib header 78 9C, then a final deflate block of type 3 (reserved): BFINAL 1, BTYPE 11.
BAD_BLOCK = b"\x78\x9c\x07\x00\x00\x00\x00"


def base() -> Kmz:
    return BASE.kmz()


def with_stream(recipe: Valid, stored: bytes) -> bytes:
    return replace(recipe.kmz(), stored=stored).tobytes()


def padding_bit(recipe: Valid, row: int, bit: int = 0) -> bytes:
    """The recipe's file with one padding bit of one row set (bit 0: the row's last bit)."""
    rows = bytearray(recipe.rows(recipe.indices()))
    stride = row_bytes(recipe.width, recipe.bits_per_index)
    assert bit < -(recipe.width * recipe.bits_per_index) % 8, "not a padding bit"
    rows[row * stride + stride - 1] |= 1 << bit
    return recipe.kmz(bytes(rows)).tobytes()


def set_index(recipe: Valid, row: int, column: int, value: int) -> bytes:
    indices = recipe.indices()
    indices[row][column] = value
    return recipe.kmz(recipe.rows(indices)).tobytes()


def cut(data: bytes, length: int) -> bytes:
    return data[:length]


def xz_dictionary(stream: bytes, byte: int) -> bytes:
    """The stream with its block header's LZMA2 dictionary byte set (size (2 | b & 1) << (b // 2 + 11))."""
    data = bytearray(stream)
    header_size = (data[12] + 1) * 4
    # Block header: size, flags (one filter, no sizes), filter id 0x21 (LZMA2), 1 property byte.
    assert data[13] == 0 and data[14:16] == b"\x21\x01", "unexpected xz block header"
    data[16] = byte
    data[12 + header_size - 4 : 12 + header_size] = struct.pack(
        "<I", zlib.crc32(data[12 : 12 + header_size - 4])
    )
    return bytes(data)


def zip_file() -> bytes:
    """A Google Earth style .kmz: a ZIP archive holding doc.kml (fixed time stamp)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        info = zipfile.ZipInfo("doc.kml", date_time=(2000, 1, 1, 0, 0, 0))
        archive.writestr(info, b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"/>\n')
    return buffer.getvalue()


def _invalid() -> list[Invalid]:
    palette_end = 40 + 3 * 3
    full = len(base().tobytes())
    magic_changes = [
        (0x09, "top bit of byte 0 stripped (7-bit transfer)"),
        (ord("k"), "'K' in lower case"),
        (ord("m"), "'M' in lower case"),
        (ord("z"), "'Z' in lower case"),
        (0x0A, "CR replaced by LF"),
        (0x0D, "LF replaced by CR"),
        (0x00, "^Z (0x1A) replaced by 0x00"),
        (0x0D, "final LF replaced by CR"),
    ]
    cases = [
        Invalid("empty", "empty", "9.1", "zero-byte file", lambda: b""),
        Invalid("short-magic-1", "truncated-header", "9.3", "only the first magic byte", lambda: MAGIC[:1]),
        Invalid("short-magic-8", "truncated-header", "9.3", "the magic and nothing else", lambda: MAGIC),
        Invalid("short-header-39", "truncated-header", "9.3", "header one byte short",
                lambda: base().tobytes()[:39]),
        Invalid("short-text", "bad-magic", "9.2", "a short text file", lambda: b"hello\n"),
        Invalid("zip-google-earth", "bad-magic", "9.2", "a Google Earth .kmz (ZIP, PK\\x03\\x04)", zip_file),
        Invalid("png-signature", "bad-magic", "9.2", "a PNG signature followed by a kmz header's remainder",
                lambda: b"\x89PNG\r\n\x1a\n" + base().tobytes()[8:]),
        Invalid("magic-crlf-to-lf", "bad-magic", "9.2", "text-mode transfer turned CR LF into LF",
                lambda: base().tobytes().replace(b"\r\n", b"\n", 1)),
    ]  # fmt: skip
    for position, (value, what) in enumerate(magic_changes):
        magic = MAGIC[:position] + bytes([value]) + MAGIC[position + 1 :]
        cases.append(
            Invalid(
                f"magic-byte{position}",
                "bad-magic",
                "9.2",
                f"magic byte {position} changed: {what}",
                partial(base_with, magic=magic),
            )  # fmt: skip
        )
    field_cases: list[tuple[str, str, str, str, dict[str, int]]] = [
        ("version-0", "unsupported-version", "9.4", "version 0", {"version": 0}),
        ("version-2", "unsupported-version", "9.4", "version 2 (a future version)", {"version": 2}),
        ("version-255", "unsupported-version", "9.4", "version 255", {"version": 255}),
        ("kind-0", "bad-palette-kind", "9.6a", "palette kind 0", {"kind": 0}),
        ("kind-2", "bad-palette-kind", "9.6a", "palette kind 2 (grey + alpha is not a kind)", {"kind": 2}),
        ("kind-5", "bad-palette-kind", "9.6a", "palette kind 5", {"kind": 5}),
        ("compression-3", "bad-compression", "9.6b", "compression code 3", {"compression": 3}),
        ("compression-255", "bad-compression", "9.6b", "compression code 255", {"compression": 255}),
        ("width-over-max", "bad-dimensions", "9.6c", "width 2^24 + 1", {"width": (1 << 24) + 1}),
        ("height-over-max", "bad-dimensions", "9.6c", "height 2^24 + 1", {"height": (1 << 24) + 1}),
        ("width-u32-max", "bad-dimensions", "9.6c", "width 2^32 - 1", {"width": 0xFFFFFFFF}),
        ("colors-0", "bad-colors", "9.6d", "K = 0", {"colors": 0}),
        ("colors-65537", "bad-colors", "9.6d", "K = 65537", {"colors": 65537}),
        ("colors-u32-max", "bad-colors", "9.6d", "K = 2^32 - 1", {"colors": 0xFFFFFFFF}),
        ("method-5", "bad-method", "9.6f", "method code 5", {"method": 5}),
        ("method-255", "bad-method", "9.6f", "method code 255", {"method": 255}),
        ("colorspace-5", "bad-colorspace", "9.6g", "colour space code 5", {"colorspace": 5}),
        ("colorspace-255", "bad-colorspace", "9.6g", "colour space code 255", {"colorspace": 255}),
        ("flags-bit1", "reserved-nonzero", "9.6h", "flags bit 1 (reserved) set", {"flags": 0x02}),
        ("flags-bit7", "reserved-nonzero", "9.6h", "flags bit 7 (reserved) set, bit 0 too", {"flags": 0x81}),
        ("filter-5", "bad-filter", "9.6h", "filter code 5 (byte 35)", {"filter": 5}),
        ("filter-255", "bad-filter", "9.6h", "filter code 255", {"filter": 255}),
    ]
    for name, reason, rule, tests, changes in field_cases:
        cases.append(Invalid(name, reason, rule, tests, partial(base_with, **changes)))
    k257 = Valid("k257-base", "", 5, 2, 257, GREY, pattern="zero")
    k65536 = Valid("k65536-base", "", 3, 2, 65536, GREY, pattern="zero")
    k3 = replace(BASE, pattern="zero")
    cases += [
        Invalid("width-0", "bad-dimensions", "9.6c", "width 0 (and no index data)",
                lambda: replace(base(), width=0, stored=b"").tobytes()),
        Invalid("height-0", "bad-dimensions", "9.6c", "height 0 (and no index data)",
                lambda: replace(base(), height=0, stored=b"").tobytes()),
        Invalid("bits-0", "bad-bits", "9.6e", "0 bits per index (rows of zero bytes)", lambda: narrow(k3, 0)),
        Invalid("bits-17", "bad-bits", "9.6e", "17 bits per index", lambda: narrow(k3, 17)),
        Invalid("bits-255", "bad-bits", "9.6e", "255 bits per index", lambda: narrow(k3, 255)),
        Invalid("bits-too-few", "bad-bits", "9.6e", "K = 3 in 1 bit (2^1 < 3), indices all 0",
                lambda: narrow(k3, 1)),
        Invalid("bits-8-for-k257", "bad-bits", "9.6e", "K = 257 in 8 bits",
                lambda: narrow(k257, 8)),
        Invalid("bits-15-for-k65536", "bad-bits", "9.6e", "K = 65536 in 15 bits",
                lambda: narrow(k65536, 15)),
        Invalid("header-crc-flipped", "header-crc", "9.5", "header CRC with one bit flipped",
                lambda: replace(base(), header_crc=crc32(base().fields()) ^ 1).tobytes()),
        Invalid("header-crc-stale", "header-crc", "9.5", "method byte changed, header CRC not updated",
                lambda: stale_header(base(), method=1).tobytes()),
        Invalid("header-crc-zero", "header-crc", "9.5", "header CRC left as zero",
                lambda: replace(base(), header_crc=0).tobytes()),
        Invalid("pixels-over-limit", "too-many-pixels", "9.6i",
                "16385 x 16384 = 2^28 + 16384 pixels: over kmzcodec's default limit (otherwise valid)",
                lambda: big_file().tobytes(), group="limit"),
        Invalid("none-length-short", "wrong-size", "9.6j", "compression none, one byte of data missing",
                lambda: replace(base(), stored=RAW[:-1]).tobytes()),
        Invalid("none-length-long", "wrong-size", "9.6j", "compression none, one extra byte of data",
                lambda: replace(base(), stored=RAW + b"\x00").tobytes()),
        Invalid("cut-after-header", "truncated-palette", "9.7", "file ends after the header",
                lambda: cut(base().tobytes(), 40)),
        Invalid("cut-in-palette", "truncated-palette", "9.7", "file ends inside the palette",
                lambda: cut(base().tobytes(), palette_end - 1)),
        Invalid("cut-after-palette", "truncated-data", "9.7", "file ends after the palette",
                lambda: cut(base().tobytes(), palette_end)),
        Invalid("cut-in-data", "truncated-data", "9.7", "file ends inside the index data",
                lambda: cut(base().tobytes(), palette_end + 3)),
        Invalid("cut-in-trailer", "truncated-data", "9.7", "last byte of the trailer missing",
                lambda: cut(base().tobytes(), full - 1)),
        Invalid("no-trailer", "truncated-data", "9.7", "trailer missing",
                lambda: cut(base().tobytes(), full - 4)),
        Invalid("data-length-huge", "truncated-data", "9.7", "data_length = 2^64 - 1 (zlib)",
                lambda: replace(ZBASE.kmz(), data_length=U64).tobytes()),
        Invalid("data-length-wraps", "truncated-data", "9.7",
                "data_length chosen so 40 + palette + data_length + 4 wraps to 8 in 64-bit arithmetic",
                lambda: replace(ZBASE.kmz(), data_length=(1 << 64) - (40 + 9 + 4) + 8).tobytes()),
        Invalid("trailing-byte", "trailing-bytes", "9.8", "one zero byte after the trailer",
                lambda: base().tobytes() + b"\x00"),
        Invalid("trailing-copy", "trailing-bytes", "9.8", "the file twice, concatenated",
                lambda: base().tobytes() * 2),
        Invalid("data-crc-flipped", "data-crc", "9.9", "trailer CRC with one bit flipped",
                lambda: replace(base(), data_crc=crc32(base().palette, base().stored) ^ 1 << 31).tobytes()),
        Invalid("data-crc-palette", "data-crc", "9.9", "a palette byte changed, CRC not updated",
                lambda: stale_data(base(), palette=b"\xff" + base().palette[1:]).tobytes()),
        Invalid("data-crc-indices", "data-crc", "9.9", "an index changed (still < K), CRC not updated",
                lambda: stale_data(base(), stored=changed_index_rows()).tobytes()),
        Invalid("data-crc-zlib", "data-crc", "9.9", "a byte of a zlib stream changed, CRC not updated",
                lambda: stale_data(ZBASE.kmz(), stored=ZBASE.kmz().stored[:-1] + b"\x00").tobytes()),
        # zlib (spec 7.2)
        Invalid("zlib-bad-cm", "corrupt-stream", "7.2", "zlib header with compression method 9",
                lambda: with_stream(ZBASE, zlib_header(0x79) + zlib_stream(RAW)[2:])),
        Invalid("zlib-bad-fcheck", "corrupt-stream", "7.2", "zlib header check bits wrong",
                lambda: with_stream(ZBASE, b"\x78\x9d" + ZBASE.kmz().stored[2:])),
        Invalid("zlib-fdict", "corrupt-stream", "7.2", "zlib stream that needs a preset dictionary",
                lambda: with_stream(ZBASE, fdict_stream(RAW))),
        Invalid("zlib-bad-block", "corrupt-stream", "7.2", "deflate block type 3 (reserved)",
                lambda: with_stream(ZBASE, BAD_BLOCK)),
        Invalid("zlib-bad-adler", "corrupt-stream", "7.2", "Adler-32 of the zlib stream wrong",
                lambda: with_stream(ZBASE, flip_last(zlib_stream(RAW)))),
        Invalid("zlib-no-adler", "corrupt-stream", "7.2", "zlib stream cut before its Adler-32",
                lambda: with_stream(ZBASE, zlib_stream(RAW)[:-4])),
        Invalid("zlib-cut-half", "corrupt-stream", "7.2", "zlib stream cut in the middle",
                lambda: with_stream(ZBASE, zlib_stream(RAW, "level0")[:10])),
        Invalid("zlib-unterminated", "corrupt-stream", "7.2",
                "all rows present but the stream never ends (sync flush, no final block)",
                lambda: with_stream(ZBASE, unterminated(RAW))),
        Invalid("zlib-extra-byte", "corrupt-stream", "7.2", "one byte after the end of the zlib stream",
                lambda: with_stream(ZBASE, zlib_stream(RAW) + b"\x00")),
        Invalid("zlib-two-streams", "corrupt-stream", "7.2", "a second zlib stream after the first",
                lambda: with_stream(ZBASE, zlib_stream(RAW) + zlib_stream(b""))),
        Invalid("zlib-empty", "corrupt-stream", "7.2", "compression zlib, zero bytes of stored data",
                lambda: with_stream(ZBASE, b"")),
        Invalid("zlib-raw-deflate", "corrupt-stream", "7.2", "RFC 1951 deflate data without the zlib wrapper",
                lambda: with_stream(ZBASE, deflate_raw(RAW))),
        Invalid("zlib-gzip", "corrupt-stream", "7.2", "a gzip (RFC 1952) stream",
                lambda: with_stream(ZBASE, gzip_stream(RAW))),
        Invalid("zlib-too-short", "wrong-size", "7.2", "zlib stream of one byte fewer than the rows",
                lambda: with_stream(ZBASE, zlib_stream(RAW[:-1]))),
        Invalid("zlib-too-long", "wrong-size", "7.2", "zlib stream of one byte more than the rows",
                lambda: with_stream(ZBASE, zlib_stream(RAW + b"\x00"))),
        Invalid("zlib-bomb", "wrong-size", "7.2", "zlib stream of 4 MiB of zeros for 6 bytes of rows",
                lambda: with_stream(ZBASE, zlib_stream(bytes(4 << 20), "level9"))),
        Invalid("zlib-nothing", "wrong-size", "7.2", "a complete zlib stream of zero bytes",
                lambda: with_stream(ZBASE, zlib_stream(b""))),
        # xz (spec 7.3)
        Invalid("xz-bad-magic", "corrupt-stream", "7.3", "xz stream header magic changed",
                lambda: with_stream(XBASE, b"\xfc" + xz_stream(RAW)[1:])),
        Invalid("xz-bad-check", "corrupt-stream", "7.3", "xz CRC-64 check value wrong",
                lambda: with_stream(XBASE, corrupt_xz_check(RAW))),
        Invalid("xz-no-footer", "corrupt-stream", "7.3", "xz stream cut before its footer",
                lambda: with_stream(XBASE, xz_stream(RAW)[:-12])),
        Invalid("xz-cut-half", "corrupt-stream", "7.3", "xz stream cut in the middle",
                lambda: with_stream(XBASE, xz_stream(RAW)[:30])),
        Invalid("xz-extra-byte", "corrupt-stream", "7.3", "one byte after the end of the xz stream",
                lambda: with_stream(XBASE, xz_stream(RAW) + b"\x00")),
        Invalid("xz-stream-padding", "corrupt-stream", "7.3", "xz stream padding (4 zero bytes) after it",
                lambda: with_stream(XBASE, xz_stream(RAW) + bytes(4))),
        Invalid("xz-two-streams", "corrupt-stream", "7.3", "a second xz stream after the first",
                lambda: with_stream(XBASE, xz_stream(RAW) + xz_stream(b""))),
        Invalid("xz-lzma-alone", "corrupt-stream", "7.3", "legacy .lzma (LZMA_Alone) data instead of .xz",
                lambda: with_stream(XBASE, lzma.compress(RAW, format=lzma.FORMAT_ALONE))),
        Invalid("xz-empty", "corrupt-stream", "7.3", "compression lzma, zero bytes of stored data",
                lambda: with_stream(XBASE, b"")),
        Invalid("xz-too-short", "wrong-size", "7.3", "xz stream of one byte fewer than the rows",
                lambda: with_stream(XBASE, xz_stream(RAW[:-1]))),
        Invalid("xz-too-long", "wrong-size", "7.3", "xz stream of one byte more than the rows",
                lambda: with_stream(XBASE, xz_stream(RAW + b"\x00"))),
        Invalid("xz-bomb", "wrong-size", "7.3", "xz stream of 16 MiB of zeros for 6 bytes of rows",
                lambda: with_stream(XBASE, xz_stream(bytes(16 << 20), preset=0))),
        Invalid("xz-check-id-2", "corrupt-stream", "7.3",
                "xz check ID 0x02 (reserved; liblzma skips its 4 bytes unchecked)",
                lambda: with_stream(XBASE, xz_set_check(xz_stream(RAW, "crc32"), 0x02, b"junk"))),
        Invalid("xz-check-id-15", "corrupt-stream", "7.3",
                "xz check ID 0x0F (reserved, 64 bytes of check)",
                lambda: with_stream(XBASE, xz_set_check(xz_stream(RAW, "crc32"), 0x0F, b""))),
        Invalid("xz-check-reserved-bits", "corrupt-stream", "7.3",
                "xz stream flags with a reserved bit set (check byte 0x11)",
                lambda: with_stream(XBASE, xz_flags_byte(xz_stream(RAW, "crc32"), 0x11))),
        Invalid("xz-filter-delta", "corrupt-stream", "7.3",
                "xz filter chain Delta + LZMA2 (liblzma decodes it; only one LZMA2 filter is allowed)",
                lambda: with_stream(XBASE, xz_filtered(RAW, {"id": lzma.FILTER_DELTA, "dist": 1}))),
        Invalid("xz-filter-x86", "corrupt-stream", "7.3", "xz filter chain BCJ x86 + LZMA2",
                lambda: with_stream(XBASE, xz_filtered(RAW, {"id": lzma.FILTER_X86}))),
        Invalid("xz-second-block-delta", "corrupt-stream", "7.3",
                "two xz blocks, the second with Delta + LZMA2: every block header is checked",
                lambda: with_stream(XBASE, xz_join([xz_stream(RAW[:2]),
                                                    xz_filtered(RAW[2:], {"id": lzma.FILTER_DELTA})]))),
        Invalid("xz-index-crc", "corrupt-stream", "7.3", "xz index CRC-32 wrong",
                lambda: with_stream(XBASE, xz_index_crc_flipped(xz_stream(RAW)))),
        Invalid("xz-dictionary-96mib", "corrupt-stream", "7.3",
                "xz block declares a 96 MiB dictionary: the smallest a decoder may refuse",
                lambda: with_stream(XBASE, xz_dictionary(xz_stream(RAW), 29)), group="limit"),
        Invalid("xz-dictionary-128mib", "corrupt-stream", "7.3",
                "xz block declares a 128 MiB dictionary (encoders must not; decoders may refuse)",
                lambda: with_stream(XBASE, xz_dictionary(xz_stream(RAW), 30)), group="limit"),
        # Index data (spec 6, 9.11, 9.12)
        Invalid("padding-1bit", "nonzero-padding", "9.11", "1 bit, 7 columns: padding bit of row 1 set",
                lambda: padding_bit(Valid("p1", "", 7, 3, 2, GREY), row=1)),
        Invalid("padding-2bit", "nonzero-padding", "9.11", "2 bits, 5 columns: last bit of the last row",
                lambda: padding_bit(BASE, row=2)),
        Invalid("padding-2bit-high", "nonzero-padding", "9.11", "2 bits, 5 columns: first padding bit, row 0",
                lambda: padding_bit(BASE, row=0, bit=5)),
        Invalid("padding-3bit", "nonzero-padding", "9.11", "3 bits, 5 columns (1 padding bit), zlib",
                lambda: padding_bit(Valid("p3", "", 5, 2, 5, RGB, 0, ZLIB), row=0)),
        Invalid("padding-4bit", "nonzero-padding", "9.11", "4 bits, 3 columns: padding nibble of row 1 = 1",
                lambda: padding_bit(Valid("p4", "", 3, 2, 9, RGB), row=1)),
        Invalid("padding-12bit", "nonzero-padding", "9.11", "12 bits, 3 columns (4 padding bits), xz",
                lambda: padding_bit(Valid("p12", "", 3, 2, 3, RGB, 12, XZ), row=0, bit=3)),
        Invalid("padding-k300", "nonzero-padding", "9.11", "K = 300, 9 bits, 3 columns (5 padding bits)",
                lambda: padding_bit(Valid("p9", "", 3, 2, 300, GREY), row=1)),
        Invalid("index-k1-1bit", "index-out-of-range", "9.12", "K = 1, an index of 1",
                lambda: set_index(Valid("i1", "", 4, 2, 1, GREY), 1, 2, 1)),
        Invalid("index-k3-2bit", "index-out-of-range", "9.12", "K = 3 in 2 bits, an index of 3",
                lambda: set_index(BASE, 2, 4, 3)),
        Invalid("index-k3-2bit-zlib", "index-out-of-range", "9.12", "K = 3 in 2 bits, index 3 in row 0, zlib",
                lambda: set_index(ZBASE, 0, 0, 3)),
        Invalid("index-k5-8bit", "index-out-of-range", "9.12", "K = 5 in 8 bits, an index of 5",
                lambda: set_index(Valid("i8", "", 6, 2, 5, RGB, 8), 1, 5, 5)),
        Invalid("index-k200-8bit", "index-out-of-range", "9.12", "K = 200 in 8 bits, an index of 255",
                lambda: set_index(Valid("i8b", "", 6, 2, 200, RGBA), 0, 3, 255)),
        Invalid("index-k3-12bit", "index-out-of-range", "9.12", "K = 3 in 12 bits, an index of 4095",
                lambda: set_index(Valid("i12", "", 3, 2, 3, RGB, 12), 1, 1, 4095)),
        Invalid("index-k9-4bit", "index-out-of-range", "9.12", "K = 9 in 4 bits, an index of 15",
                lambda: set_index(Valid("i4", "", 5, 2, 9, RGB), 1, 4, 15)),
        Invalid("index-k257-9bit", "index-out-of-range", "9.12", "K = 257 in 9 bits, an index of 257",
                lambda: set_index(Valid("i9", "", 4, 2, 257, GREY), 0, 1, 257)),
        Invalid("index-k300-16bit", "index-out-of-range", "9.12", "K = 300 in 16 bits, an index of 65535, xz",
                lambda: set_index(Valid("i16", "", 4, 2, 300, RGB, 16, XZ), 1, 3, 65535)),
        # Row filters (spec 6.5): the range check is on the indices the residuals make.
        Invalid("filter-sub-index-5", "index-out-of-range", "9.12",
                "sub filter, K = 5 in 8 bits: every residual < K, but they add up to an index of 5",
                lambda: FSUB.kmz(pack_rows([[1, 1, 1, 2], [0, 0, 0, 0]], 8)).tobytes()),
        Invalid("filter-paeth-index-3", "index-out-of-range", "9.12",
                "Paeth filter, K = 3 in 2 bits, zlib: residual 2 over the prediction 1 is index 3",
                lambda: FPAETH.kmz(pack_rows([[1, 3, 0], [2, 0, 0]], 2)).tobytes()),
        Invalid("filter-padding", "nonzero-padding", "9.11",
                "up filter, 2 bits, 5 columns: a padding bit set",
                lambda: padding_bit(Valid("fp", "", 5, 2, 3, RGB, 2, filter=UP), row=1)),
        # Precedence: two defects, the earlier rule wins (spec 9).
        Invalid("order-version-before-crc", "unsupported-version", "9.4", "version 2 and a stale header CRC",
                lambda: stale_header(base(), version=2).tobytes(), group="precedence"),
        Invalid("order-crc-before-fields", "header-crc", "9.5", "palette kind 7 and a stale header CRC",
                lambda: stale_header(base(), kind=7).tobytes(), group="precedence"),
        Invalid("order-flags-before-filter", "reserved-nonzero", "9.6h", "flags bit 1 and filter code 9",
                lambda: base_with(flags=0x02, filter=9), group="precedence"),
        Invalid("order-filter-before-limit", "bad-filter", "9.6h",
                "filter code 5 and 16385 x 16384 pixels", lambda: replace(big_file(), filter=5).tobytes(),
                group="precedence"),
        Invalid("order-kind-before-dimensions", "bad-palette-kind", "9.6a", "palette kind 2 and width 0",
                lambda: replace(base(), kind=2, width=0).tobytes(), group="precedence"),
        Invalid("order-limit-before-length", "too-many-pixels", "9.6i",
                "16385 x 16384 pixels and a file cut after the header",
                lambda: big_file().tobytes()[:40], group="precedence"),
        Invalid("order-length-before-crc", "trailing-bytes", "9.8", "trailing byte and a wrong data CRC",
                lambda: replace(base(), data_crc=0).tobytes() + b"\x00", group="precedence"),
        Invalid("order-crc-before-stream", "data-crc", "9.9", "corrupt zlib stream and a stale data CRC",
                lambda: stale_data(ZBASE.kmz(), stored=BAD_BLOCK).tobytes(), group="precedence"),
    ]  # fmt: skip
    return cases


FSUB = Valid("fsub", "", 4, 2, 5, RGB, 8, filter=SUB)
FPAETH = Valid("fpaeth", "", 3, 2, 3, GREY, 2, ZLIB, filter=PAETH)


def narrow(recipe: Valid, bits: int) -> bytes:
    """The recipe's file (all indices 0) packed and declared at ``bits`` bits per index."""
    return replace(recipe.kmz(pack_rows(recipe.indices(), bits)), bits=bits).tobytes()


def big_file() -> Kmz:
    """16385 x 16384 at 1 bit, all zero, as xz: 33.5 MB of rows in about 5 kB."""
    raw = bytes(row_bytes(16385, 1) * 16384)
    return Kmz(16385, 16384, 2, GREY, 1, XZ, make_palette("big", 2, GREY), xz_stream(raw, preset=0))


def changed_index_rows() -> bytes:
    """BASE's rows with the second index of row 0 moved to another value below K."""
    indices = BASE.indices()
    indices[0][1] = (indices[0][1] + 1) % BASE.colors
    return pack_rows(indices, BASE.bits_per_index)


def zlib_header(cmf: int, level_bits: int = 0x80) -> bytes:
    """A zlib CMF/FLG pair with correct check bits (RFC 1950 2.2)."""
    flg = level_bits
    flg |= (31 - (cmf * 256 + flg) % 31) % 31
    return bytes([cmf, flg])


def fdict_stream(raw: bytes) -> bytes:
    engine = zlib.compressobj(6, zdict=b"kmz preset dictionary")
    return engine.compress(raw) + engine.flush()


def unterminated(raw: bytes) -> bytes:
    """Every byte of ``raw``, then a sync flush: decodable, but no final block, no Adler-32."""
    engine = zlib.compressobj(6)
    return engine.compress(raw) + engine.flush(zlib.Z_SYNC_FLUSH)


def flip_last(stream: bytes) -> bytes:
    return stream[:-1] + bytes([stream[-1] ^ 0x01])


def corrupt_xz_check(raw: bytes) -> bytes:
    """xz with a CRC-64 check; flip a bit of the check value (it ends 8 bytes before the index)."""
    stream = bytearray(xz_stream(raw, "crc64"))
    # Layout tail: ... compressed data, padding, check (8), index, footer (12).
    # The index for one block is 12 bytes here (indicator, count, 2 varints, padding, CRC32).
    index_start = len(stream) - 12 - index_length(stream)
    stream[index_start - 1] ^= 0x01
    return bytes(stream)


def xz_flags_byte(stream: bytes, value: int) -> bytes:
    """The stream with stream-flags byte 7 set to ``value`` in header and footer, CRCs fixed."""
    data = bytearray(stream)
    data[7] = data[-3] = value
    data[8:12] = struct.pack("<I", zlib.crc32(data[6:8]))
    data[-12:-8] = struct.pack("<I", zlib.crc32(data[-8:-2]))
    return bytes(data)


def xz_index_crc_flipped(stream: bytes) -> bytes:
    """The stream with one bit of its index CRC-32 flipped (the index ends 12 bytes before the end)."""
    data = bytearray(stream)
    data[-13] ^= 0x01
    return bytes(data)


def index_length(stream: bytes | bytearray) -> int:
    """Length of an xz index from the stream footer's Backward Size field."""
    backward = struct.unpack("<I", stream[-8:-4])[0]
    return (backward + 1) * 4


# ---------------------------------------------------------------- output


def fingerprint() -> dict[str, str]:
    """Hashes of what this machine's zlib and liblzma make of a fixed input."""
    probe = bytes(range(256)) * 64 + bytes(4096)
    return {
        "zlib": hashlib.sha256(zlib_stream(probe, "level6") + zlib_stream(probe, "level9")).hexdigest()[:16],
        "lzma": hashlib.sha256(xz_stream(probe) + xz_stream(probe, "crc64", preset=0)).hexdigest()[:16],
    }


def uses(data: bytes) -> list[str]:
    """Which compressor's output the file holds (for the reproduction check)."""
    if len(data) < 40 or not data.startswith(MAGIC[:8]):
        return []
    return {ZLIB: ["zlib"], XZ: ["lzma"]}.get(data[11], [])


def save_npy(path: Path, array: np.ndarray) -> None:
    with path.open("wb") as handle:
        np.lib.format.write_array(handle, np.ascontiguousarray(array), version=(1, 0), allow_pickle=False)


def generate(out: Path) -> list[dict[str, object]]:
    for folder in ("valid", "invalid"):
        if (out / folder).exists():
            shutil.rmtree(out / folder)
        (out / folder).mkdir(parents=True)
    table: list[dict[str, object]] = []
    names: set[str] = set()
    for case in _valid():
        assert case.name not in names, case.name
        names.add(case.name)
        data = case.kmz().tobytes()
        (out / "valid" / f"{case.name}.kmz").write_bytes(data)
        save_npy(out / "valid" / f"{case.name}.npy", case.expected())
        table.append({
            "file": f"valid/{case.name}.kmz",
            "group": "valid",
            "valid": True,
            "reason": None,
            "rule": "6.5" if case.filter else "6.4",
            "tests": case.tests,
            "expected": f"valid/{case.name}.npy",
            "header": {
                "width": case.width, "height": case.height, "colors": case.colors,
                "palette_kind": KIND_LABELS[case.kind], "bits_per_index": case.bits_per_index,
                "compression": COMPRESSION_LABELS[case.compression], "method": METHOD_LABELS[case.method],
                "colorspace": COLORSPACE_LABELS[case.colorspace], "dither": bool(case.flags & 1),
                "filter": FILTER_LABELS[case.filter],
            },
            "uses": uses(data),
        })  # fmt: skip
    for bad in _invalid():
        assert bad.name not in names, bad.name
        names.add(bad.name)
        data = bad.build()
        (out / "invalid" / f"{bad.name}.kmz").write_bytes(data)
        table.append({
            "file": f"invalid/{bad.name}.kmz",
            "group": bad.group,
            "valid": False,
            "reason": bad.reason,
            "rule": bad.rule,
            "tests": bad.tests,
            "uses": uses(data),
        })  # fmt: skip
    document = {
        "spec": SPEC,
        "format_version": 1,
        "generator": "spec/conformance/generate.py",
        "compressors": fingerprint(),
        "cases": table,
    }
    (out / "cases.json").write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    (out / "README.md").write_text(readme(table), encoding="utf-8")
    return table


README_HEAD = """\
# KMZ conformance suite (format version 1)

Files that test a decoder against [the specification](../kmz-format.md), built by
[`generate.py`](generate.py) from the recipes in it, independently of kmzcodec's own writer.
Do not edit the files by hand: change a recipe and run `python spec/conformance/generate.py`.
The test `tests/test_conformance.py` replays every case through `kmzcodec.decode` and
checks that the generator still reproduces these bytes; `tests/test_kmzjs.py` replays them
through `kmzcodec/web/kmz.js` in a headless Chromium.

- `valid/NAME.kmz` must decode; `valid/NAME.npy` holds the expected pixels as a NumPy
  array of shape (height, width, C), uint8, where C is the palette kind (1 grey, 3 RGB,
  4 RGBA): pixel = palette[index]. A decoder may return them as a palette image.
- `invalid/NAME.kmz` must be rejected with the reason token given (spec section 9).
  Each "invalid" file breaks exactly one rule; all CRCs are correct unless the CRC is
  the defect. "precedence" files break two rules and pin the order of the checks.
  "limit" files are rejected because they exceed a decoder's resource limits
  (kmzcodec's defaults: 2^28 pixels, and xz dictionaries of at most 64 MiB; spec 7.3
  and 11); a decoder with higher limits may decode them instead.
- A decoder that leaves out lzma (spec 7.5) gives `unsupported-compression` for every
  file with compression 2 that passes rules 9.1 to 9.9: the valid lzma files, and the
  invalid ones whose listed reason is `corrupt-stream`, `wrong-size`, `nonzero-padding`
  or `index-out-of-range`.

## cases.json

One object for the suite, with `cases`, a list with one entry per file:

| key | meaning |
|---|---|
| `file` | path of the vector, relative to this folder |
| `group` | `valid`, `invalid`, `precedence` or `limit` (above) |
| `valid` | true when the file must decode |
| `reason` | the reason token of spec section 9 (null for valid files) |
| `rule` | the section of the spec the case tests |
| `tests` | what the case tests, in words |
| `expected` | valid files: the `.npy` file of expected pixels |
| `header` | valid files: the header values a decoder reports, as names (below) |
| `uses` | which compressor made bytes of this file: `["zlib"]`, `["lzma"]` or `[]` |

and `compressors`: a fingerprint (a hash of what this machine's zlib and liblzma
make of a fixed input) of the compressors that made the committed files. A different
zlib or liblzma build may compress the same rows into different, equally valid bytes, so
the reproduction test compares a file byte for byte only when every compressor in its
`uses` has the fingerprint recorded here; files with `uses: []` are always compared.
Neither field says anything about validity: a decoder ignores both.

Header codes and the names used in `header` (spec 4.3 to 4.12):

| field | code: name |
|---|---|
| `palette_kind` | 1: `grey`, 3: `rgb`, 4: `rgba` |
| `compression` | 0: `none`, 1: `zlib`, 2: `lzma` (an .xz stream) |
| `method` | 0: `unspecified`, 1: `kmeans`, 2: `gmm`, 3: `exact`, 4: `given` |
| `colorspace` | 0: `unspecified`, 1: `rgb`, 2: `oklab`, 3: `lab` (CIELAB), 4: `hsv` (the HSV cone) |
| `dither` | flags bit 0: `true` when set |
| `filter` | 0: `none`, 1: `sub`, 2: `up`, 3: `gradient`, 4: `paeth` (the row filter, spec 4.12 and 6.5) |

"""


GROUPS = ("valid", "invalid", "precedence", "limit")


def readme(table: list[dict[str, object]]) -> str:
    counts = {group: sum(row["group"] == group for row in table) for group in GROUPS}
    lines = [README_HEAD, f"{len(table)} cases: " + ", ".join(f"{n} {g}" for g, n in counts.items()) + ".\n"]
    for group in GROUPS:
        lines.append(f"\n## {group.capitalize()}\n\n")
        if group == "valid":
            lines.append(
                "| file | size | K | kind | bits | compression | tests |\n|---|---|---:|---|---:|---|---|\n"
            )
        else:
            lines.append("| file | reason | spec | tests |\n|---|---|---|---|\n")
        for row in table:
            if row["group"] != group:
                continue
            name = f"`{row['file']}`"
            if group == "valid":
                h = row["header"]
                assert isinstance(h, dict)
                lines.append(
                    f"| {name} | {h['width']}x{h['height']} | {h['colors']} | {h['palette_kind']} | "
                    f"{h['bits_per_index']} | {h['compression']} | {row['tests']} |\n"
                )
            else:
                lines.append(f"| {name} | `{row['reason']}` | {row['rule']} | {row['tests']} |\n")
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the .kmz conformance vectors.")
    parser.add_argument(
        "--out", type=Path, default=HERE, help="output directory (default: beside this script)"
    )
    args = parser.parse_args(argv)
    table = generate(args.out)
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file() and p.suffix in (".kmz", ".npy"))
    print(f"{len(table)} cases, {total:,} bytes of vectors in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
