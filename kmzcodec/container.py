"""bytes <-> (header, palette, packed index rows): layout, limits, CRCs, compression.

Knows nothing of clustering and nothing of Pillow. Section numbers refer to
spec/kmz-format.md, which is normative; this module is its reference reading.
"""

from __future__ import annotations

import lzma
import zlib
from dataclasses import dataclass

import numpy as np

from . import bitpack, deflate, options, rowfilter, smallest, xzblocks, xzscan
from .errors import KmzError
from .format import (
    DEFAULT_MAX_PIXELS,
    FLAG_DITHERED,
    HEADER,
    HEADER_CRC_OFFSET,
    HEADER_SIZE,
    KNOWN_FLAGS,
    MAGIC,
    MAX_BITS,
    MAX_COLORS,
    MAX_DIMENSION,
    TRAILER_SIZE,
    VERSION,
    ColorSpace,
    Compression,
    Filter,
    Method,
    PaletteKind,
    min_bits,
    row_bytes,
)

DEFAULT_LZMA_PRESET = 6
LZMA_MEMLIMIT = xzscan.LZMA_MEMLIMIT
#: A ``compression="lzma"`` stream estimated from the trial sample at smallest.CHECKED_BYTES
#: or more is written as smallest's blocks of whole rows (smallest.block_cuts), which decoders
#: may decode at once on several cores (spec 7.3, kmzcodec.xzblocks), at the size cost
#: smallest measured there (0.1-1 % on 4 MP photographs) ...
#: ... up to preset 8: liblzma's preset 9 has a 64 MiB dictionary, and two blocks of it are
#: more than decoders hold at once (xzblocks.workers), so a cut would only cost size.
MAX_BLOCKED_PRESET = 8


@dataclass(frozen=True)
class Header:
    """The 40-byte header (spec section 4), validated."""

    width: int
    height: int
    palette_kind: PaletteKind
    colors: int
    bits_per_index: int
    compression: Compression
    data_length: int
    method: Method = Method.UNSPECIFIED
    colorspace: ColorSpace = ColorSpace.UNSPECIFIED
    dithered: bool = False
    filter: Filter = Filter.NONE

    @property
    def row_bytes(self) -> int:
        return row_bytes(self.width, self.bits_per_index)

    @property
    def raw_length(self) -> int:
        """Length of the index rows once decompressed."""
        return self.row_bytes * self.height

    @property
    def palette_length(self) -> int:
        return self.colors * int(self.palette_kind)

    @property
    def data_offset(self) -> int:
        return HEADER_SIZE + self.palette_length

    @property
    def file_length(self) -> int:
        return self.data_offset + self.data_length + TRAILER_SIZE

    def pack(self) -> bytes:
        fields = HEADER.pack(
            MAGIC,
            VERSION,
            int(self.palette_kind),
            self.bits_per_index,
            int(self.compression),
            self.width,
            self.height,
            self.colors,
            self.data_length,
            int(self.method),
            int(self.colorspace),
            FLAG_DITHERED if self.dithered else 0,
            int(self.filter),
            0,
        )[:HEADER_CRC_OFFSET]
        return fields + zlib.crc32(fields).to_bytes(4, "little")

    def info(self) -> dict[str, object]:
        """What a reader shows of the header (``Image.info`` and ``kmz info``)."""
        return {
            "colors": self.colors,
            "bits_per_index": self.bits_per_index,
            "compression": self.compression.label,
            "palette_kind": self.palette_kind.label,
            "method": self.method.label,
            "colorspace": self.colorspace.label,
            "dither": self.dithered,
            "filter": self.filter.label,
        }


def _enum(kind: type, value: int, what: str, reason: str):  # type: ignore[no-untyped-def]
    try:
        return kind(value)
    except ValueError:
        raise KmzError(f"unknown {what} code {value}", reason) from None


def parse_header(prefix: bytes | memoryview, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Header:
    """Validate the first 40 bytes of a file (spec 4 and 9, in the order given there).

    ``max_pixels`` is this decoder's own limit on width x height (``None``: only the
    format's limits). Nothing is allocated from the header's numbers here.
    """
    prefix = bytes(prefix[:HEADER_SIZE])
    if not prefix:
        raise KmzError("empty file", "empty")
    if not prefix.startswith(MAGIC[: len(prefix)]):
        raise KmzError("not a KMZ file (bad magic bytes)", "bad-magic")
    if len(prefix) < HEADER_SIZE:
        raise KmzError(f"truncated header: {len(prefix)} of {HEADER_SIZE} bytes", "truncated-header")
    (_, version, kind, bits, compression, width, height, colors, data_length,
     method, colorspace, flags, row_filter, crc) = HEADER.unpack(prefix)  # fmt: skip
    if version != VERSION:
        raise KmzError(
            f"unsupported KMZ version {version} (this decoder reads {VERSION})", "unsupported-version"
        )
    if zlib.crc32(prefix[:HEADER_CRC_OFFSET]) != crc:
        raise KmzError("header CRC-32 mismatch", "header-crc")
    palette_kind = _enum(PaletteKind, kind, "palette kind", "bad-palette-kind")
    codec = _enum(Compression, compression, "compression", "bad-compression")
    if not 1 <= width <= MAX_DIMENSION or not 1 <= height <= MAX_DIMENSION:
        raise KmzError(f"image size {width}x{height} outside 1..{MAX_DIMENSION}", "bad-dimensions")
    if not 1 <= colors <= MAX_COLORS:
        raise KmzError(f"palette size K = {colors} outside 1..{MAX_COLORS}", "bad-colors")
    if not 1 <= bits <= MAX_BITS or (1 << bits) < colors:
        raise KmzError(f"{bits} bits per index cannot address K = {colors} colours", "bad-bits")
    method_code = _enum(Method, method, "method", "bad-method")
    space = _enum(ColorSpace, colorspace, "colour space", "bad-colorspace")
    if flags & ~KNOWN_FLAGS:
        raise KmzError("reserved header bits are not zero", "reserved-nonzero")
    filter_code = _enum(Filter, row_filter, "row filter", "bad-filter")
    if max_pixels is not None and width * height > max_pixels:
        raise KmzError(
            f"{width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}", "too-many-pixels"
        )
    header = Header(width, height, palette_kind, colors, bits, codec, data_length,
                    method_code, space, bool(flags & FLAG_DITHERED), filter_code)  # fmt: skip
    if codec is Compression.NONE and data_length != header.raw_length:
        raise KmzError(
            f"uncompressed data must be {header.raw_length} bytes, header says {data_length}",
            "wrong-size",
        )
    return header


def check_length(header: Header, available: int) -> None:
    """Compare the file's length with what the header declares (spec 9, rules 7-8)."""
    if available < header.data_offset:
        raise KmzError(
            f"truncated palette: file has {available} bytes, palette ends at {header.data_offset}",
            "truncated-palette",
        )
    if available < header.file_length:
        raise KmzError(
            f"truncated data: file has {available} of {header.file_length} bytes",
            "truncated-data",
        )
    if available > header.file_length:
        raise KmzError(
            f"{available - header.file_length} trailing bytes after the end of the file",
            "trailing-bytes",
        )


def data_crc(palette: bytes | memoryview, stored: bytes | bytearray | memoryview) -> int:
    """CRC-32 over the palette and the stored data, as held in the trailer."""
    return zlib.crc32(stored, zlib.crc32(palette))


def check_crc(palette: bytes | memoryview, stored: bytes | memoryview, trailer: bytes | memoryview) -> None:
    if data_crc(palette, stored) != int.from_bytes(trailer, "little"):
        raise KmzError("data CRC-32 mismatch", "data-crc")


def decompress(header: Header, stored: bytes | memoryview, *, partial: bool = False) -> bytes | memoryview:
    """The index rows, exactly ``header.raw_length`` bytes (spec 7).

    Output is bounded by the declared length whatever the stream says. With
    ``partial`` (a truncated file opened with Pillow's LOAD_TRUNCATED_IMAGES)
    a stream that stops early is padded with zero bytes instead of rejected.
    """
    expected = header.raw_length
    if header.compression is Compression.NONE:
        if partial and len(stored) < expected:
            return bytes(stored) + bytes(expected - len(stored))
        return stored
    engine: zlib._Decompress | lzma.LZMADecompressor
    if header.compression is Compression.ZLIB:
        engine = zlib.decompressobj()
    else:
        try:
            blocks = _check_xz(stored, partial)
        except KmzError:
            if not partial:
                raise
            return bytes(expected)
        # Several blocks: decoded at once on threads; any fault, and the stream is decoded
        # in order below, which gives the reason (xzblocks).
        rows = xzblocks.decompress(stored, blocks, expected)
        if rows is not None:
            return rows
        engine = lzma.LZMADecompressor(format=lzma.FORMAT_XZ, memlimit=LZMA_MEMLIMIT)
    try:
        raw = engine.decompress(stored, expected + 1)
    except (zlib.error, lzma.LZMAError) as exc:
        if not partial:
            raise KmzError(f"corrupt {header.compression.label} stream: {exc}", "corrupt-stream") from None
        raw = b""
    if len(raw) > expected:
        raise KmzError(f"data decompresses to more than the {expected} bytes declared", "wrong-size")
    if partial:
        return raw + bytes(expected - len(raw))
    if not engine.eof:
        if len(raw) == expected:
            raise KmzError("compressed stream does not end where the image does", "corrupt-stream")
        raise KmzError("compressed stream is truncated", "corrupt-stream")
    if engine.unused_data:
        raise KmzError("bytes after the end of the compressed stream", "corrupt-stream")
    if len(raw) < expected:
        raise KmzError(f"data decompresses to {len(raw)} bytes, header declares {expected}", "wrong-size")
    return raw


def _check_xz(stored: bytes | memoryview, partial: bool) -> list[xzscan.Block]:
    """Spec 7.4 step 0: check ID, one LZMA2 filter per block, dictionary at most 64 MiB.

    Returns the blocks. A truncated stream (``partial``) has no footer and index to
    find later blocks by, so only its stream header and first block header are
    checked, and no block is returned.
    """
    if not partial:
        return xzscan.check(stored)
    xzscan.check_stream_header(stored)
    xzscan.check_block_header(stored, 12, len(stored))
    return []


@dataclass(frozen=True)
class Payload:
    """A file taken apart and checked: header, palette bytes, decompressed index rows."""

    header: Header
    palette: bytes
    rows: bytes | memoryview


def read(data: bytes | bytearray | memoryview, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Payload:
    """Validate a whole file in memory and decompress its index rows.

    Index values and padding are checked where the rows are unpacked
    (:func:`indices`, or the image layer's fast path), so no pass is done twice.
    """
    view = memoryview(data).cast("B")
    header = parse_header(view[:HEADER_SIZE], max_pixels)
    check_length(header, len(view))
    palette = view[HEADER_SIZE : header.data_offset]
    stored = view[header.data_offset : header.file_length - TRAILER_SIZE]
    check_crc(palette, stored, view[header.file_length - TRAILER_SIZE :])
    return Payload(header, bytes(palette), decompress(header, stored))


def indices(header: Header, rows: bytes | memoryview) -> np.ndarray:
    """Unpack, unfilter (spec 6.5) and validate the index rows: a (height, width) uint8 or uint16 array."""
    bitpack.check_padding(rows, header.width, header.height, header.bits_per_index)
    values = bitpack.unpack(rows, header.width, header.height, header.bits_per_index)
    if header.filter is not Filter.NONE:
        values = rowfilter.restore(values, header.bits_per_index, header.filter)
    bitpack.check_range(values, header.colors)
    if header.colors <= 256 and values.dtype != np.uint8:
        values = values.astype(np.uint8)
    return values


#: How the zlib stream is made: ("libdeflate", level) in one pass, or ("zlib", level)
#: on all cores (deflate.py). An explicit ``level`` is a zlib level.
Effort = tuple[str, int]

#: Pixels (a few bands of rows spread over the image) the writer's trials compress.
TRIAL_PIXELS = 1 << 17
#: With no level given, the zlib stream is made in one of three ways, chosen by
#: trials on a sample (benchmarks/bench_size.py and bench_encode.py --profile hold
#: the measurements behind the numbers):
#: - libdeflate at FAST_LIBDEFLATE_LEVEL: as small as zlib 9 on most photographs
#:   at K = 256, and 15-25x faster;
#: - libdeflate at STRONG_LIBDEFLATE_LEVEL when, on the sample, it is at least
#:   STRONG_MIN_GAIN smaller than the fast level (most photographs at K <= 64:
#:   within 1-2.5 % of zlib 9, in a fifth of its time);
#: - zlib at THOROUGH_ZLIB_LEVEL (deflate.py, on all cores) when the strong
#:   level's gain reaches THOROUGH_MIN_GAIN, or reaches THOROUGH_PROBE_GAIN and
#:   zlib 9 beats libdeflate 9 on the sample by THOROUGH_EXTRA_GAIN: smooth
#:   illustrations and graphics, where zlib's deeper match search saves another
#:   3-8 % over libdeflate 9 (libdeflate's levels 10-12 do too, but 5-30x slower).
FAST_LIBDEFLATE_LEVEL = 6
STRONG_LIBDEFLATE_LEVEL = 9
THOROUGH_ZLIB_LEVEL = 9
STRONG_MIN_GAIN = 0.015
THOROUGH_MIN_GAIN = 0.07
THOROUGH_PROBE_GAIN = 0.04
THOROUGH_EXTRA_GAIN = 0.03
#: An image that is its own sample gets the smallest stream tried; zlib 9 is among
#: them when the packed rows are this small (it costs a few ms there).
WHOLE_THOROUGH_BYTES = 1 << 14
_FAST: Effort = ("libdeflate", FAST_LIBDEFLATE_LEVEL)
_STRONG: Effort = ("libdeflate", STRONG_LIBDEFLATE_LEVEL)
_THOROUGH: Effort = ("zlib", THOROUGH_ZLIB_LEVEL)


def _compress(
    raw: bytes | memoryview, compression: Compression, effort: Effort | None
) -> bytes | bytearray | memoryview:
    """Stored data. ``effort`` is None for compression's own default (lzma), or an Effort."""
    if compression is Compression.ZLIB:
        engine, level = effort or _FAST
        if engine == "libdeflate":
            return deflate.libdeflate_compress(raw, level)
        return deflate.compress(raw, level)
    if compression is Compression.LZMA:
        preset = DEFAULT_LZMA_PRESET if effort is None else effort[1]
        return lzma.compress(raw, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, preset=preset)
    return raw


def _stream(values: np.ndarray, codec: Compression, packing: Packing) -> bytes | bytearray | memoryview:
    """The stored data of ``values`` (indices or residuals) packed and compressed as ``packing``
    says: continuing its ``head`` (libdeflate, small images), or in blocks (large lzma streams:
    :func:`_lzma_stored`), or as one stream."""
    effort = packing.effort
    if packing.head is not None and effort is not None:
        rest = bitpack.pack(values[packing.head_rows :], packing.bits)
        continued = deflate.libdeflate_continue(packing.head, rest, effort[1])
        if continued is not None:
            return continued
    if codec is Compression.LZMA:
        return _lzma_stored(values, packing.bits, effort)
    return _compress(bitpack.pack(values, packing.bits), codec, effort)


def _lzma_stored(values: np.ndarray, bits: int, effort: Effort | None) -> bytes:
    """The ``compression="lzma"`` stream of ``values`` (indices or residuals) packed at ``bits``:
    one block, or MAX_BLOCKS when large (see MAX_BLOCKED_PRESET). The estimate costs one lzma
    compression of the trial sample, made only when the rows are large enough to need it."""
    preset = DEFAULT_LZMA_PRESET if effort is None else effort[1]
    rows = bitpack.pack(values, bits)
    if len(rows) >= smallest.CHECKED_BYTES and preset <= MAX_BLOCKED_PRESET:
        sample = _trial_sample(values)
        trial = _compress(bitpack.pack(sample, bits), Compression.LZMA, ("lzma", preset))
        estimate = len(trial) * values.size // sample.size
        if estimate >= smallest.CHECKED_BYTES:
            cuts = smallest.block_cuts(rows, values.shape[0], estimate)
            if len(cuts) > 2:
                return xzblocks.compress(rows, cuts, [{"id": lzma.FILTER_LZMA2, "preset": preset}])
    return bytes(_compress(rows, Compression.LZMA, ("lzma", preset)))


def _effort(compression: Compression, level: int) -> Effort:
    """The effort ``level=`` asks of a compression: zlib's own level, or lzma's preset."""
    return ("zlib", level) if compression is Compression.ZLIB else ("lzma", level)


def _candidate_bits(colors: int) -> list[int]:
    """Widths worth trying: the minimum, and byte-friendly wider ones (spec 6 allows them)."""
    least = min_bits(colors)
    if least > 8:
        return [least] if least == 16 else [least, 16]
    return [least] + [bits for bits in (2, 4, 8) if bits > least]


def _trial_sample(indices: np.ndarray) -> np.ndarray:
    """About TRIAL_PIXELS pixels of whole rows, in four bands spread over the image; on an
    image of at most four times that many rows, its first rows (see :func:`_head_rows`)."""
    height, width = indices.shape
    rows = _sample_rows(height, width)
    if rows * 4 >= height:
        return indices[:rows]
    band = max(1, rows // 4)
    starts = np.linspace(0, height - band, num=4, dtype=int)
    return np.concatenate([indices[top : top + band] for top in starts])


def _head_rows(indices: np.ndarray) -> int:
    """How many of the image's first rows :func:`_trial_sample` takes when the sample is
    those rows and not the whole image (0 otherwise): the trial's stream of them can then
    begin the stored one (:func:`kmzcodec.deflate.libdeflate_continue`)."""
    height, width = indices.shape
    rows = _sample_rows(height, width)
    return rows if rows * 4 >= height and rows < height else 0


def _sample_rows(height: int, width: int) -> int:
    """Rows of the trial sample: about TRIAL_PIXELS pixels, the whole image at most."""
    return max(1, min(height, TRIAL_PIXELS // width))


@dataclass(frozen=True)
class Packing:
    """What the writer stores: bits per index, how it compresses, and the stream if already
    made; or ``head``, a stream of the image's first ``head_rows`` rows at this width made by
    the trial (libdeflate, at this effort's level or another), which the stored stream
    continues at this effort."""

    bits: int
    effort: Effort | None
    stored: bytes | bytearray | memoryview | None = None
    head: bytes | bytearray | memoryview | None = None
    head_rows: int = 0


def _choose_packing(
    indices: np.ndarray, colors: int, compression: Compression, level: int | None, bits: int | None
) -> Packing:
    """Bits per index and compression effort, from trials on a sample where not given.

    Every candidate width is tried at the fast level; the best one is then tried
    at the strong level, and that gain decides the effort (see FAST_LIBDEFLATE_LEVEL),
    with zlib 9 tried too in the doubtful band. When the sample is the whole image,
    the smallest of the trial's streams is the one stored; when it is the image's first
    rows (small images), the smaller of the trial's two libdeflate streams of them at the
    chosen width begins the stored one (:attr:`Packing.head`), so only the other rows are
    compressed again (no match reaches back across the cut: -1.3 to +0.9 % in stream size
    on 0.2-0.5 MP images, below +0.6 % on most).
    """
    widths = [bits] if bits is not None else _candidate_bits(colors)
    if compression is Compression.NONE:
        return Packing(widths[0], None)
    if level is not None:
        effort: Effort | None = _effort(compression, level)
    else:
        effort = _FAST if compression is Compression.ZLIB else None
    automatic = level is None and compression is Compression.ZLIB
    if len(widths) == 1 and not automatic:
        return Packing(widths[0], effort)
    sample = _trial_sample(indices)
    whole = sample.shape == indices.shape
    packed = {width: bitpack.pack(sample, width) for width in widths}
    streams = {width: _compress(packed[width], compression, effort) for width in widths}
    best = min(widths, key=lambda width: len(streams[width]))
    if not automatic:
        return _packing(best, effort, streams[best], whole, _head_rows(indices))
    made = {_FAST: streams[best], _STRONG: _compress(packed[best], compression, _STRONG)}
    gain = 1 - len(made[_STRONG]) / len(made[_FAST])
    if whole:
        # The streams made are the image's own: store the smallest, trying zlib 9
        # too where that is cheap (tiny images) or likely to pay.
        if gain >= THOROUGH_PROBE_GAIN or len(packed[best]) <= WHOLE_THOROUGH_BYTES:
            made[_THOROUGH] = _compress(packed[best], compression, _THOROUGH)
        chosen = min(made, key=lambda tried: len(made[tried]))  # a tie keeps the faster
        return Packing(best, chosen, made[chosen])
    if gain >= THOROUGH_MIN_GAIN:
        return Packing(best, _THOROUGH)
    if gain >= THOROUGH_PROBE_GAIN:
        thorough = _compress(packed[best], compression, _THOROUGH)
        if len(thorough) <= len(made[_STRONG]) * (1 - THOROUGH_EXTRA_GAIN):
            return Packing(best, _THOROUGH)
    chosen = _STRONG if gain >= STRONG_MIN_GAIN else _FAST
    # Either stream of the first rows can begin the stored one: the smaller does (the fast
    # one on a tie), whatever level the other rows take.
    head = min(made[_FAST], made[_STRONG], key=len)
    return _packing(best, chosen, head, False, _head_rows(indices))


def _packing(
    bits: int, effort: Effort | None, stream: bytes | bytearray | memoryview, whole: bool, head_rows: int
) -> Packing:
    """The packing chosen, with the trial's ``stream`` (of the sample, at ``bits``) kept
    where the stored stream is it (``whole``: made at ``effort``) or begins with it (the
    sample is the first ``head_rows`` rows and the effort libdeflate's: small images,
    whose sample is most of them, are not compressed again in full)."""
    if whole:
        return Packing(bits, effort, stream)
    if head_rows and effort is not None and effort[0] == "libdeflate":
        return Packing(bits, effort, head=stream, head_rows=head_rows)
    return Packing(bits, effort)


def _informational(kind: type, value: object, what: str):  # type: ignore[no-untyped-def]
    """A method / colour space code the decoder will accept, or KmzError."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise KmzError(f"{what} must be a {kind.__name__} code, not {value!r}", "bad-option")
    return _enum(kind, int(value), what, "bad-option")


def parse_compression(value: object) -> Compression | options.Smallest:
    """A compression name (options.COMPRESSIONS) or Compression member, or KmzError "bad-option"."""
    return options.check_compression(value)


def write(
    palette: np.ndarray,
    indices: np.ndarray,
    *,
    compression: Compression | str = Compression.ZLIB,
    level: int | None = None,
    bits_per_index: int | None = None,
    method: Method = Method.UNSPECIFIED,
    colorspace: ColorSpace = ColorSpace.UNSPECIFIED,
    dithered: bool = False,
    row_filter: Filter = Filter.NONE,
) -> bytes:
    """Serialise a palette (K x 1, 3 or 4 uint8) and a (height, width) index array.

    ``bits_per_index=None`` lets the writer try the minimum and wider byte-friendly
    packings on a sample and keep the one that compresses best. ``compression="smallest"``
    tries every compression and setting of :mod:`kmzcodec.smallest` and keeps the smallest
    (``level`` does not apply to it); the header records the one that won. With it, a
    palette the encoder chose (``method`` kmeans, gmm or exact) may be stored in another
    order, the indices following: the same pixels; it may also store them through a row
    filter (spec 6.5). ``row_filter`` stores them through the filter given (at the
    given or the minimum width, no trials; not with "smallest", which chooses its own).
    """
    codec, level = options.check_compression(compression), options.check_level(level)
    options.check_level_applies(codec, level)
    palette = np.asarray(palette)
    if palette.ndim == 1:
        palette = palette[:, None]
    if palette.ndim != 2 or palette.shape[1] not in (1, 3, 4) or palette.dtype != np.uint8:
        raise KmzError("palette must be a uint8 array of K grey, RGB or RGBA entries", "bad-option")
    colors = palette.shape[0]
    if not 1 <= colors <= MAX_COLORS:
        raise KmzError(f"palette size K = {colors} outside 1..{MAX_COLORS}", "bad-colors")
    indices = np.asarray(indices)
    if indices.ndim != 2 or indices.dtype.kind not in "ui":
        raise KmzError("indices must be a 2-D integer array", "bad-option")
    height, width = indices.shape
    if not 1 <= width <= MAX_DIMENSION or not 1 <= height <= MAX_DIMENSION:
        raise KmzError(f"image size {width}x{height} outside 1..{MAX_DIMENSION}", "bad-dimensions")
    if int(indices.min()) < 0 or int(indices.max()) >= colors:
        raise KmzError(f"indices must lie in 0..{colors - 1}", "index-out-of-range")
    bits_per_index = options.check_bits_per_index(bits_per_index, colors)
    method, colorspace, row_filter = (
        _informational(Method, method, "method"),
        _informational(ColorSpace, colorspace, "colorspace"),
        _informational(Filter, row_filter, "row_filter"),
    )
    if row_filter is not Filter.NONE and not isinstance(codec, Compression):
        raise KmzError('compression="smallest" chooses its own row filter', "bad-option")
    stored: bytes | bytearray | memoryview | None
    if not isinstance(codec, Compression):  # options.SMALLEST: a policy, not a stored code
        widths = [bits_per_index] if bits_per_index is not None else _candidate_bits(colors)
        # Only a palette the encoder chose may change its order: a given one is kept as it is.
        reorder = method in (Method.KMEANS, Method.GMM, Method.EXACT)
        best = smallest.store(palette, indices, widths, _trial_sample(indices), reorder=reorder)
        bits, codec, stored, row_filter = best.bits, best.compression, best.stored, best.filter
        if best.order is not None:
            palette = palette[best.order]
    elif row_filter is not Filter.NONE:
        bits = bits_per_index or min_bits(colors)
        effort = None if level is None else _effort(codec, level)
        stored = _stream(rowfilter.residuals(indices, bits, row_filter), codec, Packing(bits, effort))
    else:
        packing = _choose_packing(indices, colors, codec, level, bits_per_index)
        bits = packing.bits
        stored = packing.stored if packing.stored is not None else _stream(indices, codec, packing)
    header = Header(width, height, PaletteKind(palette.shape[1]), colors, bits,
                    codec, len(stored), method, colorspace, dithered, row_filter)  # fmt: skip
    palette_bytes = np.ascontiguousarray(palette).tobytes()
    trailer = data_crc(palette_bytes, stored).to_bytes(4, "little")
    return b"".join((header.pack(), palette_bytes, stored, trailer))
