"""Resource limits of the decoder: pixel limit, work and memory on hostile headers and streams.

Memory is measured with tracemalloc, which sees every allocation made through
Python's allocators: numpy arrays, bytes, and zlib's and liblzma's own state
(CPython hands both its allocator). It does not see the pixel buffer Pillow
allocates for the decoded image itself, which is the output: add 1x the output for
the whole process. Work is counted, not timed (timing belongs in benchmarks/): the
bytes the decompressors produce.
"""

from __future__ import annotations

import inspect
import io
import lzma
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFile

import kmzcodec
from kmzcodec import container, format
from kmzcodec.container import Header
from kmzcodec.format import Compression, PaletteKind

MiB = 1 << 20
SIDE = format.MAX_DIMENSION  # 2**24: the largest legal width and height


@contextmanager
def measured() -> Iterator[dict[str, float]]:
    """Peak traced memory (bytes) of the block."""
    result: dict[str, float] = {}
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        yield result
    finally:
        result["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


class _Counting:
    """A real zlib or xz decompressor that adds the length of each output to ``produced``."""

    def __init__(self, engine: Any, produced: list[int]) -> None:
        self._engine, self._produced = engine, produced

    def decompress(self, data: Any, *args: Any) -> bytes:
        output: bytes = self._engine.decompress(data, *args)
        self._produced.append(len(output))
        return output

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)


@pytest.fixture
def produced(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Lengths of everything any zlib or xz decompressor produces during the test: the
    decoder's work on a stream, counted instead of timed."""
    lengths: list[int] = []
    real_zlib, real_lzma = zlib.decompressobj, lzma.LZMADecompressor
    monkeypatch.setattr(zlib, "decompressobj", lambda *a, **k: _Counting(real_zlib(*a, **k), lengths))
    monkeypatch.setattr(lzma, "LZMADecompressor", lambda *a, **k: _Counting(real_lzma(*a, **k), lengths))
    return lengths


def reason(call: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """The reason token of the KmzError ``call(*args, **kwargs)`` raises."""
    with pytest.raises(kmzcodec.KmzError) as caught:
        call(*args, **kwargs)
    return caught.value.reason


def header_only(width: int, height: int, **fields: Any) -> bytes:
    """A 40-byte file: a header with a correct CRC and nothing else."""
    values: dict[str, Any] = {
        "palette_kind": PaletteKind.GREY,
        "colors": 2,
        "bits_per_index": 1,
        "compression": Compression.ZLIB,
        "data_length": 100,
    }
    values.update(fields)
    header = Header(width, height, **values)
    if header.compression is Compression.NONE:
        header = Header(**{**header.__dict__, "data_length": header.raw_length})
    return header.pack()


def complete(header: Header, palette: bytes, stored: bytes) -> bytes:
    """Header (data_length fitted) + palette + stored data + correct trailer."""
    fitted = Header(**{**header.__dict__, "data_length": len(stored)})
    return fitted.pack() + palette + stored + container.data_crc(palette, stored).to_bytes(4, "little")


# --------------------------------------------------------------------------- the pixel limit


def test_the_default_pixel_limit_is_documented_and_exported() -> None:
    assert format.DEFAULT_MAX_PIXELS == kmzcodec.DEFAULT_MAX_PIXELS == 2**28
    assert inspect.signature(kmzcodec.decode).parameters["max_pixels"].default == 2**28
    assert "max_pixels" in (kmzcodec.decode.__doc__ or "")


def test_the_limit_is_inclusive_and_checked_before_the_length() -> None:
    at_limit = header_only(16384, 16384)  # exactly 2**28 pixels
    over = header_only(16385, 16384)
    assert reason(kmzcodec.decode, at_limit) == "truncated-palette"  # passed the limit
    assert reason(kmzcodec.decode, over) == "too-many-pixels"
    assert reason(kmzcodec.decode, over, max_pixels=None) == "truncated-palette"
    assert reason(kmzcodec.decode, over, max_pixels=2**29) == "truncated-palette"
    assert reason(kmzcodec.decode, at_limit, max_pixels=2**28 - 1) == "too-many-pixels"


def test_the_limit_can_be_lowered_and_raised_per_call() -> None:
    data = kmzcodec.encode(np.arange(120, dtype=np.uint8).reshape(10, 12), 4)
    assert reason(kmzcodec.decode, data, max_pixels=119) == "too-many-pixels"
    assert kmzcodec.decode(data, max_pixels=120).size == (12, 10)
    assert kmzcodec.decode(data, max_pixels=None).size == (12, 10)


# --------------------------------------------------------------------------- the largest header


LARGEST = [
    pytest.param({"compression": Compression.NONE}, id="none"),  # data_length = raw_length = 2**49
    pytest.param({"data_length": 2**64 - 1}, id="zlib-longest-data"),
    pytest.param({"compression": Compression.LZMA, "data_length": 2**63}, id="lzma"),
]


@pytest.mark.parametrize("fields", LARGEST)
def test_a_40_byte_file_declaring_the_largest_image_is_rejected_at_once(fields: dict[str, Any]) -> None:
    """2**24 x 2**24 pixels (2**48), 65536 RGBA entries, 16 bits each, correct header CRC."""
    data = header_only(SIDE, SIDE, palette_kind=PaletteKind.RGBA, colors=65536, bits_per_index=16, **fields)
    assert len(data) == 40
    for limit, expected in ((format.DEFAULT_MAX_PIXELS, "too-many-pixels"), (None, "truncated-palette")):
        with measured() as cost:
            assert reason(kmzcodec.decode, data, max_pixels=limit) == expected
        assert cost["peak"] < 1 * MiB, cost


def test_the_largest_image_with_its_palette_and_a_tiny_stream_costs_nothing(produced: list[int]) -> None:
    """Rules 9.1-9.9 all pass (full 256 KiB palette, right lengths and CRCs) and the
    limit is off: decompression stops at what the 1 KB stream holds, not at the 2**49
    bytes the header promises."""
    header = Header(SIDE, SIDE, PaletteKind.RGBA, 65536, 16, Compression.ZLIB, 0)
    palette = bytes(range(256)) * 1024
    for stored in (zlib.compress(bytes(1000)), zlib.compress(bytes(1000))[:-5]):
        data = complete(header, palette, stored)
        produced.clear()
        with measured() as cost:
            got = reason(kmzcodec.decode, data, max_pixels=None)
        assert got in ("wrong-size", "corrupt-stream")
        assert 0 < sum(produced) <= 1000  # what the stream holds, not the 2**49 bytes declared
        assert cost["peak"] < 2 * MiB, cost  # the 256 KiB palette, copied a few times


def test_pillow_refuses_the_largest_header_before_allocating(monkeypatch: pytest.MonkeyPatch) -> None:
    """Header and full palette, no data: Pillow's bomb check refuses it at open; with the
    check off it opens (the size is only numbers) and load() fails on the length before
    Pillow allocates the 2**48-pixel image."""
    header = Header(SIDE, SIDE, PaletteKind.RGBA, 65536, 16, Compression.ZLIB, 1000)
    data = header.pack() + bytes(range(256)) * 1024
    with measured() as cost, pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(data))
    assert cost["peak"] < 2 * MiB
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)

    def refuse(*args: object) -> None:
        raise AssertionError("Pillow allocated the image")

    monkeypatch.setattr(ImageFile.ImageFile, "load_prepare", refuse)
    with measured() as cost, Image.open(io.BytesIO(data)) as opened:
        assert opened.size == (SIDE, SIDE)
        with pytest.raises(OSError, match="truncated"):
            opened.load()
    assert cost["peak"] < 2 * MiB


# --------------------------------------------------------------------------- memory of a normal decode


def _file(side: int, colors: int, bits: int | None, kind: int, compression: str) -> bytes:
    rng = np.random.default_rng(colors)
    palette = rng.integers(0, 256, (colors, kind), dtype=np.uint8)
    indices = rng.integers(0, colors, (side, side), dtype=np.uint16 if colors > 256 else np.uint8)
    level = {"zlib": 1, "lzma": 0, "none": None}[compression]
    return container.write(palette, indices, compression=compression, level=level, bits_per_index=bits)


def _decode_peak(data: bytes) -> tuple[int, int]:
    """(peak traced bytes during decode, bytes of the decoded image)."""
    with measured() as cost:
        image = kmzcodec.decode(data)
    output = image.width * image.height * (1 if image.mode == "P" else len(image.mode))
    return int(cost["peak"]), output


#: The xz dictionary liblzma allocates for kmzcodec's own files (preset 0 here; 8 MiB at the
#: default preset 6); any file's is capped by container.LZMA_MEMLIMIT.
XZ_DICTIONARY = 8 * MiB


@pytest.mark.parametrize("compression", ["zlib", "none", "lzma"])
@pytest.mark.parametrize(("colors", "bits"), [(2, 1), (4, 2), (16, 4), (256, 8)])
def test_decode_memory_on_the_fast_path_is_twice_the_output(colors: int, bits: int, compression: str) -> None:
    """K <= 256 at 1, 2, 4 or 8 bits: the rows go to Pillow's unpackers as they are.
    Measured at 1000 x 1000 (1 MB of output): zlib 1.0-2.0x, none ~0x, lzma 2x + dictionary."""
    peak, output = _decode_peak(_file(1000, colors, bits, 3, compression))
    allowance = XZ_DICTIONARY if compression == "lzma" else 0
    assert peak <= 2.2 * output + allowance, (peak / output, peak)


#: Other widths and K > 256 unpack in numpy, a band of rows at a time for 3..15 bits
#: (kmzcodec.bands.BAND_PIXELS). Bytes per pixel measured from 1000^2 to 2000^2 pixels
#: (zlib), and what that is as a multiple of the decoded image:
OTHER_PATHS = [
    pytest.param(5, 3, 3, 1.55, id="k5-3bit"),  # 1.55x the P output
    pytest.param(300, 9, 1, 5.5, id="k300-9bit-grey"),  # 5.5x the L output
    pytest.param(300, 9, 3, 8.1, id="k300-9bit-rgb"),  # 2.7x the RGB output
    pytest.param(5000, 13, 4, 6.0, id="k5000-13bit-rgba"),  # 1.5x the RGBA output
    pytest.param(300, 16, 3, 15.0, id="k300-16bit-rgb"),  # 5.0x the RGB output (16 bits: no bands)
    pytest.param(65536, 16, 1, 13.0, id="k65536-16bit-grey"),  # 13x the L output: the worst multiple
]
#: What does not grow with the image (one band's temporaries) stays under this.
BAND_ALLOWANCE = 40 * MiB


@pytest.mark.parametrize(("colors", "bits", "kind", "per_pixel"), OTHER_PATHS)
def test_decode_memory_on_other_paths_grows_by_at_most_15_bytes_a_pixel(
    colors: int, bits: int, kind: int, per_pixel: float
) -> None:
    small_peak, _ = _decode_peak(_file(1000, colors, bits, kind, "zlib"))
    large_peak, _ = _decode_peak(_file(2000, colors, bits, kind, "zlib"))
    growth = (large_peak - small_peak) / (2000**2 - 1000**2)
    assert growth <= 1.1 * per_pixel, growth
    assert growth <= 16.5  # any file: at most 16.5 bytes a pixel ...
    assert small_peak - growth * 1000**2 <= BAND_ALLOWANCE  # ... plus one band's temporaries


# --------------------------------------------------------------------------- decompression bombs


def _zeros_stream(compressor: Any, mebibytes: int) -> bytes:
    chunk = bytes(MiB)
    return b"".join(compressor.compress(chunk) for _ in range(mebibytes)) + compressor.flush()


BOMBS = {
    # 64 MiB of zeros: 65 KB as zlib (1000:1), 10 KB as xz (6800:1)
    "zlib": lambda: _zeros_stream(zlib.compressobj(9), 64),
    "lzma": lambda: _zeros_stream(lzma.LZMACompressor(lzma.FORMAT_XZ, check=lzma.CHECK_NONE, preset=0), 64),
}


@pytest.mark.parametrize("compression", BOMBS)
def test_a_stream_that_expands_past_the_image_is_stopped_at_raw_length(
    compression: str, produced: list[int]
) -> None:
    stream = BOMBS[compression]()
    header = Header(16, 16, PaletteKind.GREY, 256, 8, Compression[compression.upper()], 0)
    data = complete(header, bytes(range(256)), stream)
    with measured() as cost:
        assert reason(kmzcodec.decode, data) == "wrong-size"
    dictionary = XZ_DICTIONARY if compression == "lzma" else 0
    assert cost["peak"] < 1 * MiB + dictionary, cost  # 257 bytes of output were asked for
    assert produced and sum(produced) == header.raw_length + 1  # of the 64 MiB: one byte too many
    produced.clear()
    with (
        measured() as cost,
        Image.open(io.BytesIO(data)) as opened,
        pytest.raises(OSError, match="more than"),
    ):
        opened.load()
    assert cost["peak"] < 1 * MiB + dictionary, cost
    assert produced and sum(produced) == header.raw_length + 1


def test_a_header_at_the_pixel_limit_with_a_tiny_stream_allocates_nothing_big() -> None:
    """2**28 pixels declared (256 MiB of rows), the stream holds 1000 bytes: memory
    follows what the stream produces, not what the header declares."""
    header = Header(16384, 16384, PaletteKind.RGB, 256, 8, Compression.ZLIB, 0)
    for compression, stream in (
        (Compression.ZLIB, zlib.compress(bytes(1000))),
        (Compression.LZMA, lzma.compress(bytes(1000), check=lzma.CHECK_NONE, preset=0)),
    ):
        data = complete(Header(**{**header.__dict__, "compression": compression}), bytes(768), stream)
        with measured() as cost:
            assert reason(kmzcodec.decode, data) == "wrong-size"
        assert cost["peak"] < 2 * MiB, cost


# --------------------------------------------------------------------------- xz memory limit


def _xz_with_dictionary(raw: bytes, code: int) -> bytes:
    """An xz stream whose block header declares LZMA2 dictionary ``code`` (xz spec 5.3.1:
    (2 | code & 1) << (code // 2 + 11) bytes; 40 means 4 GiB - 1), its CRC32 fixed."""
    stream = bytearray(lzma.compress(raw, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, preset=0))
    header_size = (stream[12] + 1) * 4
    assert stream[14:16] == b"\x21\x01"  # one filter, LZMA2, one property byte
    stream[16] = code
    stream[12 + header_size - 4 : 12 + header_size] = zlib.crc32(stream[12 : 12 + header_size - 4]).to_bytes(
        4, "little"
    )
    return bytes(stream)


def test_the_xz_memory_limit_is_96_mib() -> None:
    assert 96 * MiB == container.LZMA_MEMLIMIT


@pytest.mark.parametrize(("code", "dictionary"), [(30, 128 * MiB), (36, 1 << 29), (40, (1 << 32) - 1)])
def test_an_xz_dictionary_over_the_memory_limit_is_refused_without_allocating(
    code: int, dictionary: int
) -> None:
    raw = bytes(range(256)) * 4
    header = Header(32, 32, PaletteKind.GREY, 256, 8, Compression.LZMA, 0)
    data = complete(header, bytes(range(256)), _xz_with_dictionary(raw, code))
    with measured() as cost:
        assert reason(kmzcodec.decode, data) == "corrupt-stream"
    assert cost["peak"] < 1 * MiB, cost  # liblzma checked the limit before allocating anything


def test_an_xz_dictionary_within_the_limit_decodes() -> None:
    """64 MiB, the most an encoder may declare (spec 7.3): liblzma allocates it, within the limit."""
    raw = bytes(range(256)) * 4
    header = Header(32, 32, PaletteKind.GREY, 256, 8, Compression.LZMA, 0)
    data = complete(header, bytes(range(256)), _xz_with_dictionary(raw, 28))
    with measured() as cost:
        image = kmzcodec.decode(data)
    assert image.tobytes() == raw
    assert 64 * MiB <= cost["peak"] <= container.LZMA_MEMLIMIT, cost
