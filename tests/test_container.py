"""Round trips through container.write/read/indices and kmzcodec.decode, bitpack against
a naive reference packer, and write()'s option checks."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kmzcodec
from kmzcodec import bitpack, container, deflate
from kmzcodec.format import HEADER_SIZE, MAX_BITS, ColorSpace, Compression, Method, PaletteKind, min_bits

SPECIAL_COLORS = (1, 2, 3, 255, 256, 257, 65536)
MODES = {1: "L", 3: "RGB", 4: "RGBA"}
COMPRESSIONS = ("none", "zlib", "lzma")
FAST = settings(max_examples=20, deadline=None)


def reference_pack(indices: np.ndarray, bits: int) -> bytes:
    """The spec's packing, one bit at a time: MSB first, rows padded with 0 to a byte."""
    out = bytearray()
    for row in indices.tolist():
        bit_string = "".join(format(value, f"0{bits}b") for value in row)
        bit_string += "0" * (-len(bit_string) % 8)
        out += bytes(int(bit_string[i : i + 8], 2) for i in range(0, len(bit_string), 8))
    return bytes(out)


@st.composite
def images(
    draw: st.DrawFn, bits: int | None = None, colors: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(palette, indices): K entries of 1, 3 or 4 bytes and a random index array, max index K - 1."""
    if colors is None:
        top = 1 << (bits or MAX_BITS)
        colors = draw(st.sampled_from([k for k in SPECIAL_COLORS if k <= top]) | st.integers(1, top))
    width = draw(st.integers(1, 70))
    height = draw(st.sampled_from([1, 2]) | st.integers(1, 9))
    kind = draw(st.sampled_from([1, 3, 4]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = np.uint8 if colors <= 256 else np.uint16
    if draw(st.booleans()):
        indices = rng.integers(0, colors, size=(height, width), dtype=np.int64)
    else:  # runs of one value, as real images have: what compression and wide packings meet
        runs = rng.integers(0, colors, size=(height, width // 8 + 1), dtype=np.int64)
        indices = np.repeat(runs, 8, axis=1)[:, :width]
    indices.flat[rng.integers(0, indices.size)] = colors - 1
    palette = rng.integers(0, 256, size=(colors, kind), dtype=np.uint8)
    return palette, indices.astype(dtype)


def check_round_trip(palette: np.ndarray, indices: np.ndarray, compression: str, bits: int | None) -> None:
    data = container.write(palette, indices, compression=compression, bits_per_index=bits)
    payload = container.read(data)
    header = payload.header
    height, width = indices.shape
    colors, kind = palette.shape
    assert (header.width, header.height, header.colors) == (width, height, colors)
    assert header.palette_kind == PaletteKind(kind)
    assert header.compression == Compression[compression.upper()]
    assert header.file_length == len(data)
    if bits is None:
        assert min_bits(colors) <= header.bits_per_index <= MAX_BITS
    else:
        assert header.bits_per_index == bits
    assert payload.palette == palette.tobytes()
    np.testing.assert_array_equal(container.indices(header, payload.rows), indices)
    image = kmzcodec.decode(data)
    assert image.size == (width, height)
    assert image.mode == ("P" if colors <= 256 else MODES[kind])
    assert image.info["bits_per_index"] == header.bits_per_index
    decoded = np.asarray(image.convert(MODES[kind])).reshape(height, width, kind)
    np.testing.assert_array_equal(decoded, palette[indices])


@pytest.mark.parametrize("bits", range(1, 17))
@FAST
@given(data=st.data(), compression=st.sampled_from(COMPRESSIONS))
def test_round_trip_every_width(bits: int, data: st.DataObject, compression: str) -> None:
    palette, indices = data.draw(images(bits=bits))
    check_round_trip(palette, indices, compression, bits)


@pytest.mark.parametrize("colors", SPECIAL_COLORS)
@FAST
@given(data=st.data(), compression=st.sampled_from(COMPRESSIONS), wider=st.booleans())
def test_round_trip_special_k(colors: int, data: st.DataObject, compression: str, wider: bool) -> None:
    palette, indices = data.draw(images(colors=colors))
    bits = data.draw(st.integers(min_bits(colors), MAX_BITS)) if wider else None
    check_round_trip(palette, indices, compression, bits)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_one_by_one(compression: str) -> None:
    for colors in (1, 2, 256, 257, 65536):
        palette = np.arange(colors * 3, dtype=np.uint32).astype(np.uint8).reshape(colors, 3)
        check_round_trip(palette, np.array([[colors - 1]]), compression, None)


def test_write_is_deterministic_and_keeps_the_informational_fields() -> None:
    palette = np.array([[0, 0, 0], [255, 128, 0], [9, 9, 9]], dtype=np.uint8)
    indices = np.tile(np.arange(3, dtype=np.uint8), (5, 7))
    options: dict[str, Any] = {"method": Method.GMM, "colorspace": ColorSpace.OKLAB, "dithered": True}
    first = container.write(palette, indices, **options)
    assert first == container.write(palette, indices, **options)
    header = container.parse_header(first[:HEADER_SIZE])
    assert (header.method, header.colorspace, header.dithered) == (Method.GMM, ColorSpace.OKLAB, True)
    info = kmzcodec.decode(first).info
    assert (info["method"], info["colorspace"], info["dither"]) == ("gmm", "oklab", True)


@pytest.mark.parametrize("bits", range(1, 17))
@settings(max_examples=15, deadline=None)
@given(width=st.integers(1, 40), height=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_bitpack_matches_reference(bits: int, width: int, height: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 1 << bits, size=(height, width), dtype=np.int64)
    values = values.astype(np.uint8 if bits <= 8 else np.uint16)
    packed = bitpack.pack(values, bits)
    assert packed == reference_pack(values, bits)
    assert len(packed) == height * ((width * bits + 7) // 8)
    np.testing.assert_array_equal(bitpack.unpack(packed, width, height, bits), values)
    bitpack.check_padding(packed, width, height, bits)


@pytest.mark.parametrize("bits", range(1, 17))
@settings(max_examples=10, deadline=None)
@given(width=st.integers(1, 40), height=st.integers(1, 4), data=st.data())
def test_bitpack_rejects_any_padding_bit(bits: int, width: int, height: int, data: st.DataObject) -> None:
    used = (width * bits) % 8
    if used == 0:
        return  # rows end on a byte boundary: no padding to break
    packed = bytearray(reference_pack(np.zeros((height, width), dtype=np.int64), bits))
    stride = (width * bits + 7) // 8
    row = data.draw(st.integers(0, height - 1))
    bit = data.draw(st.integers(0, 7 - used))
    packed[row * stride + stride - 1] |= 1 << bit
    with pytest.raises(kmzcodec.KmzError) as caught:
        bitpack.check_padding(bytes(packed), width, height, bits)
    assert caught.value.reason == "nonzero-padding"


@settings(max_examples=80, deadline=None)
@given(bits=st.sampled_from([1, 2, 4, 8]), data=st.data())
def test_packed_range_check_agrees_with_unpacked(bits: int, data: st.DataObject) -> None:
    colors = data.draw(st.integers(1, 1 << bits))
    width = data.draw(st.integers(1, 30))
    values = np.array([data.draw(st.lists(st.integers(0, (1 << bits) - 1), min_size=width, max_size=width))])
    packed = reference_pack(values, bits)
    if int(values.max()) >= colors:
        with pytest.raises(kmzcodec.KmzError, match="index"):
            bitpack.check_packed_range(packed, bits, colors)
        with pytest.raises(kmzcodec.KmzError, match="index"):
            bitpack.check_range(bitpack.unpack(packed, width, 1, bits), colors)
    else:
        bitpack.check_packed_range(packed, bits, colors)
        bitpack.check_range(bitpack.unpack(packed, width, 1, bits), colors)


def test_header_pack_parse_round_trip() -> None:
    header = container.Header(
        70, 3, PaletteKind.RGBA, 300, 12, Compression.LZMA, 12345, Method.EXACT, ColorSpace.LAB, True
    )
    packed = header.pack()
    assert len(packed) == HEADER_SIZE
    assert container.parse_header(packed) == header


def test_partial_decompress_pads_a_truncated_stream() -> None:
    palette = np.zeros((4, 3), dtype=np.uint8)
    indices = np.full((20, 30), 3, dtype=np.uint8)
    data = container.write(palette, indices, compression="zlib", bits_per_index=8)
    header = container.parse_header(data[:HEADER_SIZE])
    stored = data[header.data_offset : header.file_length - 4]
    rows = container.decompress(header, stored[: len(stored) // 2], partial=True)
    assert len(rows) == header.raw_length
    with pytest.raises(kmzcodec.KmzError) as caught:
        container.decompress(header, stored[: len(stored) // 2])
    assert caught.value.reason == "corrupt-stream"


GOOD_PALETTE = np.zeros((3, 3), dtype=np.uint8)
GOOD_INDICES = np.zeros((2, 2), dtype=np.uint8)


@pytest.mark.parametrize(
    ("palette", "indices", "options", "reason"),
    [
        (GOOD_PALETTE.astype(np.int32), GOOD_INDICES, {}, "bad-option"),
        (np.zeros((3, 2), dtype=np.uint8), GOOD_INDICES, {}, "bad-option"),
        (np.zeros((3, 3, 1), dtype=np.uint8), GOOD_INDICES, {}, "bad-option"),
        (np.zeros((0, 3), dtype=np.uint8), GOOD_INDICES, {}, "bad-colors"),
        (np.zeros((65537, 1), dtype=np.uint8), GOOD_INDICES, {}, "bad-colors"),
        (GOOD_PALETTE, np.zeros(4, dtype=np.uint8), {}, "bad-option"),
        (GOOD_PALETTE, np.zeros((2, 2), dtype=np.float32), {}, "bad-option"),
        (GOOD_PALETTE, np.zeros((2, 0), dtype=np.uint8), {}, "bad-dimensions"),
        (GOOD_PALETTE, np.zeros((0, 2), dtype=np.uint8), {}, "bad-dimensions"),
        (GOOD_PALETTE, np.full((2, 2), 3, dtype=np.uint8), {}, "index-out-of-range"),
        (GOOD_PALETTE, np.full((2, 2), -1, dtype=np.int8), {}, "index-out-of-range"),
        (GOOD_PALETTE, GOOD_INDICES, {"compression": "gzip"}, "bad-option"),
        (GOOD_PALETTE, GOOD_INDICES, {"compression": 7}, "bad-option"),
        (GOOD_PALETTE, GOOD_INDICES, {"level": 10}, "bad-option"),
        (GOOD_PALETTE, GOOD_INDICES, {"level": -1}, "bad-option"),
        (GOOD_PALETTE, GOOD_INDICES, {"bits_per_index": 1}, "bad-option"),
        (GOOD_PALETTE, GOOD_INDICES, {"bits_per_index": 17}, "bad-option"),
        (GOOD_PALETTE, GOOD_INDICES, {"bits_per_index": 0}, "bad-option"),
    ],
)
def test_write_rejects_bad_options(
    palette: np.ndarray, indices: np.ndarray, options: dict, reason: str
) -> None:
    with pytest.raises(kmzcodec.KmzError) as caught:
        container.write(palette, indices, **options)
    assert caught.value.reason == reason


def test_write_accepts_compression_names_and_codes() -> None:
    compressions: tuple[str | Compression, ...] = ("none", "zlib", "lzma", Compression.ZLIB, Compression.LZMA)
    for compression in compressions:
        data = container.write(GOOD_PALETTE, GOOD_INDICES, compression=compression)
        assert kmzcodec.decode(data).size == (2, 2)


@pytest.mark.parametrize(
    "options",
    [
        {"method": 9},
        {"colorspace": 7},
        {"bits_per_index": 8.0},
        {"level": 6.5},
        {"level": True},
        {"method": "x"},
    ],
)
def test_write_rejects_values_a_decoder_would_refuse(options: dict[str, Any]) -> None:
    # method 9 / colour space 7 would give a file kmzcodec.decode rejects (bad-method,
    # bad-colorspace); non-integer widths and levels must not reach struct or zlib.
    with pytest.raises(kmzcodec.KmzError):
        container.write(GOOD_PALETTE, GOOD_INDICES, **options)


def _stored(data: bytes) -> bytes:
    header = container.parse_header(data[:HEADER_SIZE])
    return data[header.data_offset : header.file_length - 4]


def _rings(wobble: float) -> np.ndarray:
    """64 concentric index rings (600 x 800): smooth, like an illustration; ``wobble`` bends them."""
    y, x = np.mgrid[0:600, 0:800]
    return ((np.hypot(x - 400, y - 300) / 6 + wobble * np.sin(x / 40)).astype(int) % 64).astype(np.uint8)


@pytest.mark.parametrize(
    ("name", "indices", "colors", "effort"),
    [
        ("noise", np.random.default_rng(5).integers(0, 16, (600, 800), dtype=np.uint8), 16, container._FAST),
        ("bent rings", _rings(3.0), 64, container._STRONG),
        ("less bent rings", _rings(2.5), 64, container._STRONG),  # zlib 9 tried too, and refused
        ("rings", _rings(0.0), 64, container._THOROUGH),
    ],
)
def test_automatic_effort_rises_with_what_the_sample_gains(
    name: str, indices: np.ndarray, colors: int, effort: container.Effort
) -> None:
    # Noise gains nothing from a deeper match search; smooth rings gain much (zlib 9's
    # deep search), bent rings some (libdeflate 9; less bent ones enough that zlib 9 is
    # tried on the sample, where it is no smaller). Bigger effort must pay on the whole image.
    packing = container._choose_packing(indices, colors, Compression.ZLIB, None, None)
    assert packing.effort == effort, name
    palette = np.zeros((colors, 3), dtype=np.uint8)
    chosen = container.write(palette, indices)
    # At the fast level, made as the writer makes it: from the trial's stream of the first
    # rows where it continues that (these images' samples are their first 163 rows).
    fast = _fast_stream(indices, packing.bits, container._head_rows(indices))
    assert len(_stored(chosen)) <= len(fast)
    np.testing.assert_array_equal(np.asarray(kmzcodec.decode(chosen)), indices)


def _fast_stream(indices: np.ndarray, bits: int, head_rows: int) -> bytes:
    if not head_rows:
        return bytes(container._compress(bitpack.pack(indices, bits), Compression.ZLIB, container._FAST))
    head = container._compress(bitpack.pack(indices[:head_rows], bits), Compression.ZLIB, container._FAST)
    level = container.FAST_LIBDEFLATE_LEVEL
    joined = deflate.libdeflate_continue(head, bitpack.pack(indices[head_rows:], bits), level)
    assert joined is not None
    return joined


@pytest.mark.parametrize(
    ("name", "indices", "colors", "effort"),
    [
        ("noise", np.random.default_rng(5).integers(0, 16, (600, 800), dtype=np.uint8), 16, container._FAST),
        ("bent rings", _rings(3.0), 64, container._STRONG),
    ],
)
def test_a_small_image_continues_the_trials_stream_of_its_first_rows(
    name: str, indices: np.ndarray, colors: int, effort: container.Effort
) -> None:
    # The sample is the first 163 of 600 rows: the trial's stream of them, at the width and
    # effort chosen, begins the stored stream, and only the other rows are compressed again.
    rows = container._head_rows(indices)
    assert rows and np.array_equal(container._trial_sample(indices), indices[:rows])
    packing = container._choose_packing(indices, colors, Compression.ZLIB, None, None)
    assert packing.effort == effort and packing.stored is None and packing.head_rows == rows, name
    assert packing.effort is not None and packing.head is not None
    # The head is the smaller of the trial's fast and strong streams of those rows.
    head = bitpack.pack(indices[:rows], packing.bits)
    trials = [
        container._compress(head, Compression.ZLIB, tried) for tried in (container._FAST, container._STRONG)
    ]
    assert bytes(packing.head) == bytes(min(trials, key=len))
    stored = _stored(container.write(np.zeros((colors, 3), dtype=np.uint8), indices))
    rest = bitpack.pack(indices[rows:], packing.bits)
    assert stored == deflate.libdeflate_continue(packing.head, rest, packing.effort[1])
    raw = bitpack.pack(indices, packing.bits)
    engine = zlib.decompressobj()
    assert engine.decompress(stored) == bytes(raw) and engine.eof and not engine.unused_data
    # The cut costs little against one stream of the whole image at that effort.
    whole = container._compress(raw, Compression.ZLIB, packing.effort)
    assert len(stored) <= len(whole) * 1.01 + 400


def test_a_large_image_does_not_reuse_its_sample() -> None:
    indices = np.random.default_rng(5).integers(0, 16, (2000, 800), dtype=np.uint8)
    assert container._head_rows(indices) == 0  # the sample is four bands spread over the image
    packing = container._choose_packing(indices, 16, Compression.ZLIB, None, None)
    assert packing.stored is None and packing.head is None


def test_a_small_image_is_compressed_once_by_the_trial() -> None:
    # The sample is the whole image: the trial's stream is stored, and it is the very
    # stream a separate compression at the chosen width and effort would give.
    indices = _rings(3.0)[:100]
    assert container._trial_sample(indices).shape == indices.shape
    packing = container._choose_packing(indices, 64, Compression.ZLIB, None, None)
    assert packing.stored is not None
    again = container._compress(bitpack.pack(indices, packing.bits), Compression.ZLIB, packing.effort)
    assert bytes(packing.stored) == bytes(again)
    assert _stored(container.write(np.zeros((64, 3), dtype=np.uint8), indices)) == bytes(again)


def test_a_large_image_is_not_judged_by_its_sample_alone() -> None:
    indices = _rings(0.0)
    assert container._trial_sample(indices).size < indices.size
    assert container._choose_packing(indices, 64, Compression.ZLIB, None, None).stored is None


def test_an_explicit_level_is_a_zlib_level() -> None:
    indices = _rings(3.0)
    data = container.write(np.zeros((64, 3), dtype=np.uint8), indices, level=9, bits_per_index=8)
    assert len(bitpack.pack(indices, 8)) <= deflate.PIECE  # one piece: exactly zlib's own stream
    assert _stored(data) == zlib.compress(bitpack.pack(indices, 8), 9)


def test_threaded_zlib_is_one_stream_whatever_the_threads() -> None:
    # Several pieces, each deflated against the 32 KiB before it: any inflater reads one
    # stream, and the bytes do not depend on the number of threads.
    rng = np.random.default_rng(7)
    data = np.repeat(rng.integers(0, 40, 3 * deflate.PIECE // 6, dtype=np.uint8), 6).tobytes()
    one = deflate.compress(data, 9, workers=1)
    assert one == deflate.compress(data, 9, workers=2)
    assert zlib.decompress(one) == data
    engine = zlib.decompressobj()
    assert engine.decompress(one) == data and engine.eof and not engine.unused_data


@pytest.mark.parametrize("shape", [(2, 5), (4, 9), (8, 20), (12, 30)])
def test_a_tiny_image_gets_the_smallest_stream_tried(shape: tuple[int, int]) -> None:
    # Its own sample, and small enough that zlib 9 is tried beside libdeflate 6 and 9
    # (on the smallest, libdeflate stores the rows and zlib 9 does better).
    indices = np.random.default_rng(3).integers(0, 3, shape, dtype=np.uint8)
    packing = container._choose_packing(indices, 3, Compression.ZLIB, None, None)
    raw = bitpack.pack(indices, packing.bits)
    sizes = [len(container._compress(raw, Compression.ZLIB, effort)) for effort in
             (container._FAST, container._STRONG, container._THOROUGH)]  # fmt: skip
    stored = _stored(container.write(np.zeros((3, 3), dtype=np.uint8), indices))
    assert len(stored) == min(sizes)
    assert packing.stored is not None and bytes(packing.stored) == stored
