"""Facts about the .kmz byte layout, defined once (spec/kmz-format.md is normative)."""

from __future__ import annotations

import enum
import struct

#: First eight bytes of every .kmz file: a non-ASCII byte, "KMZ", then CR LF, ^Z, LF
#: (the PNG trick: text-mode transfers and truncation to 7 bits are caught at once).
#: Google Earth's .kmz is a ZIP archive and starts with "PK\x03\x04".
MAGIC = b"\x89KMZ\r\n\x1a\n"
VERSION = 1

#: Header layout, little-endian: magic, version, palette kind, bits per index,
#: compression, width, height, colours (K), stored data length, method, colour
#: space, flags, row filter (byte 35), header CRC-32 (over the 36 bytes before it).
HEADER = struct.Struct("<8s4B3IQ4BI")
HEADER_SIZE = HEADER.size  # 40
HEADER_CRC_OFFSET = HEADER_SIZE - 4
TRAILER_SIZE = 4  # CRC-32 over palette and stored data

MAX_DIMENSION = 1 << 24  # width and height each: 16,777,216
MAX_COLORS = 1 << 16  # K: 65,536
MAX_BITS = 16
#: Default limit of kmzcodec.decode on width x height (overridable per call).
DEFAULT_MAX_PIXELS = 1 << 28  # 268,435,456

FLAG_DITHERED = 0x01
KNOWN_FLAGS = FLAG_DITHERED


class _Code(enum.IntEnum):
    """A one-byte header code; ``label`` is its lower-case name, as shown to users."""

    @property
    def label(self) -> str:
        return self.name.lower()


class PaletteKind(_Code):
    """Palette entry kind; the value is the number of bytes per entry."""

    GREY = 1
    RGB = 3
    RGBA = 4


class Compression(_Code):
    NONE = 0
    ZLIB = 1
    LZMA = 2  # the .xz container (LZMA2), as written by Python's lzma module


class Filter(_Code):
    """The row filter (spec 4.12 and 6.5): how each index was predicted from its neighbours
    before packing. 0 stores the indices themselves; the others store
    (index - prediction) mod 2^bits_per_index. Byte 35 was ``reserved`` (0) before."""

    NONE = 0
    SUB = 1  # the left neighbour
    UP = 2  # the neighbour above
    GRADIENT = 3  # left + above - upper left, modulo 2^bits
    PAETH = 4  # PNG's Paeth predictor: whichever of left, above, upper left is nearest that sum


class Method(_Code):
    """How the encoder chose the palette (informational: decoding ignores it)."""

    UNSPECIFIED = 0
    KMEANS = 1
    GMM = 2
    EXACT = 3  # the image had no more than K colours: stored losslessly
    GIVEN = 4  # a palette image stored with its own palette


class ColorSpace(_Code):
    """Colour space the clustering ran in (informational)."""

    UNSPECIFIED = 0
    RGB = 1
    OKLAB = 2
    LAB = 3
    HSV = 4  # the HSV cone (V, S·V·cos H, S·V·sin H): kmzcodec.colorspace


def min_bits(colors: int) -> int:
    """The fewest bits per index that can address ``colors`` palette entries."""
    return max(1, (colors - 1).bit_length())


def row_bytes(width: int, bits_per_index: int) -> int:
    """Bytes in one packed row: rows start on a byte boundary."""
    return (width * bits_per_index + 7) // 8
