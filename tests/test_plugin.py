"""The Pillow plugin (issue 4), in the style of Pillow's Tests/test_file_qoi.py.

Every image here is made by the test itself; nothing reads ../shared/corpus.
The module imports only ``kmzcodec`` to get the plugin registered: the spawn
test's worker lives here, so a fresh interpreter importing this module proves
that ``import kmzcodec`` is all a program needs.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import multiprocessing
import sys
import warnings
import zipfile
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFile, UnidentifiedImageError

import kmzcodec
from kmzcodec import container
from kmzcodec.container import Header
from kmzcodec.format import HEADER_SIZE, MAGIC, Compression, PaletteKind

plugin = kmzcodec.plugin  # reached through the package: importing it is the package's job

CONFORMANCE = Path(__file__).resolve().parents[1] / "spec" / "conformance"
INFO_KEYS = (
    "colors", "bits_per_index", "compression", "palette_kind", "method", "colorspace", "dither", "filter",
)  # fmt: skip


# --------------------------------------------------------------------------- helpers


def few_colours(
    rng: np.random.Generator, count: int, channels: int = 3, size: tuple[int, int] = (40, 30)
) -> np.ndarray:
    """A (height, width, channels) image using exactly ``count`` distinct colours."""
    width, height = size
    colours = rng.choice(256**channels, size=count, replace=False)
    table = np.stack([(colours >> (8 * c)) & 255 for c in range(channels)], axis=1).astype(np.uint8)
    chosen = np.concatenate([np.arange(count), rng.integers(0, count, width * height - count)])
    return table[rng.permutation(chosen)].reshape(height, width, channels)


def noise(rng: np.random.Generator, size: tuple[int, int] = (40, 30)) -> Image.Image:
    """An RGB image with far more colours than any K used here (forces real quantization)."""
    width, height = size
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def write(tmp_path: Path, data: bytes, name: str = "image.kmz") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def loaded(source: Any) -> Image.Image:
    """Image.open + load; the image keeps its format and info (a copy would lose the format)."""
    with Image.open(source) as opened:
        opened.load()
    return opened


def same_as_decode(opened: Image.Image, data: bytes) -> None:
    """The plugin's image equals kmzcodec.decode's: mode, size, indices/pixels, palette, info."""
    expected = kmzcodec.decode(data)
    assert opened.format == "KMZ"
    assert (opened.mode, opened.size) == (expected.mode, expected.size)
    np.testing.assert_array_equal(np.asarray(opened), np.asarray(expected))
    if expected.mode == "P":
        assert opened.getpalette("RGBA") == expected.getpalette("RGBA")
        np.testing.assert_array_equal(
            np.asarray(opened.convert("RGBA")), np.asarray(expected.convert("RGBA"))
        )
    assert {key: opened.info[key] for key in INFO_KEYS} == {key: expected.info[key] for key in INFO_KEYS}


def craft(
    rows: bytes,
    *,
    width: int,
    height: int,
    palette: bytes,
    kind: PaletteKind = PaletteKind.RGB,
    bits: int = 8,
    compression: Compression = Compression.NONE,
    data_length: int | None = None,
) -> bytes:
    """A file built byte by byte (container.write refuses to make broken ones); CRCs correct."""
    stored = rows if compression is Compression.NONE else zlib.compress(rows)
    colors = len(palette) // int(kind)
    length = len(stored) if data_length is None else data_length
    header = Header(width, height, kind, colors, bits, compression, length)
    return header.pack() + palette + stored + container.data_crc(palette, stored).to_bytes(4, "little")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(4)


@pytest.fixture(scope="module")
def sample() -> bytes:
    """A quantized 40x30 photograph-like file: K = 16 of 1200 random colours."""
    return kmzcodec.encode(noise(np.random.default_rng(16)), colors=16)


# --------------------------------------------------------------------------- open


def test_open_matches_decode(tmp_path: Path, sample: bytes) -> None:
    path = write(tmp_path, sample)
    with Image.open(path) as opened:
        assert opened.format == "KMZ"
        assert opened.format_description
        assert opened.get_format_mimetype() == "image/x-kmz"
        assert opened.size == (40, 30)
        assert opened.mode == "P"
        opened.load()
        same_as_decode(opened, sample)


def test_open_decodes_nothing(tmp_path: Path, sample: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("decompressed during open")

    monkeypatch.setattr(container, "decompress", refuse)
    with Image.open(write(tmp_path, sample)) as opened:
        assert opened.size == (40, 30)
        assert len(opened.tile) == 1


def test_open_path_str_and_file_objects(tmp_path: Path, sample: bytes) -> None:
    path = write(tmp_path, sample)
    reference = np.asarray(kmzcodec.decode(sample))
    for source in (path, str(path), io.BytesIO(sample)):
        np.testing.assert_array_equal(np.asarray(loaded(source)), reference)
    with open(path, "rb") as handle:
        np.testing.assert_array_equal(np.asarray(loaded(handle)), reference)
        assert not handle.closed  # the caller's file stays the caller's


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 8, 12, 16])
def test_every_packing_width(bits: int, rng: np.random.Generator) -> None:
    """1/2/4/8 bits go through Pillow's unpackers, the rest through numpy: same pixels either way."""
    colors = 2 if bits == 1 else 3
    palette = rng.integers(0, 256, (colors, 3), dtype=np.uint8)
    indices = rng.integers(0, colors, (9, 13))
    data = container.write(palette, indices, bits_per_index=bits)
    same_as_decode(loaded(io.BytesIO(data)), data)


@pytest.mark.parametrize("compression", ["none", "zlib", "lzma"])
@pytest.mark.parametrize("kind", [1, 3, 4])
def test_palette_kinds_and_compressions(compression: str, kind: int, rng: np.random.Generator) -> None:
    palette = rng.integers(0, 256, (5, kind), dtype=np.uint8)
    data = container.write(palette, rng.integers(0, 5, (7, 11)), compression=compression)
    opened = loaded(io.BytesIO(data))
    same_as_decode(opened, data)
    expected = palette[np.asarray(opened)]
    converted = np.asarray(opened.convert({1: "L", 3: "RGB", 4: "RGBA"}[kind]))
    np.testing.assert_array_equal(converted.reshape(expected.shape), expected)
    # Re-saving stores the same palette and indices ("given"), whatever the palette kind.
    again, _ = save_and_reopen(opened, colors=5)
    assert (again.info["method"], again.info["palette_kind"]) == ("given", opened.info["palette_kind"])
    np.testing.assert_array_equal(np.asarray(again), np.asarray(opened))
    assert again.getpalette("RGBA") == opened.getpalette("RGBA")


def test_more_than_256_colours_opens_as_direct_colour(rng: np.random.Generator) -> None:
    palette = rng.integers(0, 256, (300, 4), dtype=np.uint8)
    indices = rng.integers(0, 300, (6, 70))
    data = container.write(palette, indices)
    opened = loaded(io.BytesIO(data))
    assert opened.mode == "RGBA"
    np.testing.assert_array_equal(np.asarray(opened), palette[indices])
    same_as_decode(opened, data)


def test_info_fields(rng: np.random.Generator) -> None:
    data = kmzcodec.encode(noise(rng), colors=8, colorspace="oklab", dither=True, compression="lzma")
    opened = loaded(io.BytesIO(data))
    assert opened.info["colors"] == 8
    assert opened.info["compression"] == "lzma"
    assert opened.info["palette_kind"] == "rgb"
    assert opened.info["method"] == "kmeans"
    assert opened.info["colorspace"] == "oklab"
    assert opened.info["dither"] is True
    assert opened.info["bits_per_index"] in (3, 4, 8)


def test_save_option_colorspace_hsv(rng: np.random.Generator) -> None:
    image, buffer = noise(rng), io.BytesIO()
    image.save(buffer, "KMZ", colors=8, colorspace="hsv")
    assert buffer.getvalue() == kmzcodec.encode(image, colors=8, colorspace="hsv")
    assert loaded(io.BytesIO(buffer.getvalue())).info["colorspace"] == "hsv"


@pytest.mark.parametrize("chunk", [1, 100, 1 << 20])
def test_image_file_parser_fed_piece_by_piece(sample: bytes, chunk: int) -> None:
    """ImageFile.Parser, Pillow's incremental reader (Django's get_image_dimensions feeds it
    chunks): the size is known once the header is in, the pixels at close(). It raised an
    AssertionError from the decoder, which reads the file itself."""
    parser = ImageFile.Parser()
    sizes = []
    for start in range(0, len(sample), chunk):
        parser.feed(sample[start : start + chunk])
        if parser.image is not None:
            sizes.append(parser.image.size)
    image = parser.close()
    expected = kmzcodec.decode(sample)
    assert sizes and set(sizes) == {expected.size}
    assert image.mode == expected.mode and image.getpalette() == expected.getpalette()
    np.testing.assert_array_equal(np.asarray(image), np.asarray(expected))
    broken = ImageFile.Parser()
    broken.feed(sample[:-10])
    with pytest.raises(OSError):
        broken.close()


def test_with_statement_closes_the_file(tmp_path: Path, sample: bytes) -> None:
    with Image.open(write(tmp_path, sample)) as opened:
        handle = opened.fp
        assert handle is not None and not handle.closed
    assert handle.closed  # closed even though nothing was loaded


# --------------------------------------------------------------------------- foreign files


def test_accept_checks_the_magic_only() -> None:
    assert plugin._accept(MAGIC)
    assert plugin._accept(MAGIC + b"anything at all")
    assert not plugin._accept(MAGIC[:7])
    assert not plugin._accept(b"PK\x03\x04" + MAGIC)
    assert not plugin._accept(b"\x89PNG\r\n\x1a\n")


def google_earth_kmz(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("doc.kml", '<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"/>')
    return path


def test_google_earth_kmz_is_not_claimed(tmp_path: Path) -> None:
    path = google_earth_kmz(tmp_path / "places.kmz")
    with pytest.raises(UnidentifiedImageError):
        Image.open(path)
    with pytest.raises(UnidentifiedImageError):
        Image.open(path, formats=["KMZ"])
    with pytest.raises(SyntaxError, match="not a KMZ file"):
        plugin.KmzImageFile(path)


def test_other_plugins_get_their_turn_on_a_kmz_name(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "really-a-png.kmz"
    noise(rng).save(path, format="PNG")
    with Image.open(path) as opened:
        assert opened.format == "PNG"


# --------------------------------------------------------------------------- broken files


@pytest.mark.parametrize("length", [1, 8, 20, HEADER_SIZE - 1])
def test_truncated_header_is_unidentified(tmp_path: Path, sample: bytes, length: int) -> None:
    with pytest.raises(UnidentifiedImageError):
        Image.open(write(tmp_path, sample[:length]))


@pytest.mark.parametrize("offset", [8, 9, 12, 20, 35, 37])
def test_corrupt_header_is_unidentified(tmp_path: Path, sample: bytes, offset: int) -> None:
    broken = bytearray(sample)
    broken[offset] ^= 0x40
    with pytest.raises(UnidentifiedImageError):
        Image.open(write(tmp_path, bytes(broken)))
    with pytest.raises(SyntaxError, match="broken KMZ header"):
        plugin.KmzImageFile(io.BytesIO(bytes(broken)))


def test_truncated_palette_is_unidentified(tmp_path: Path, sample: bytes) -> None:
    palette_end = container.parse_header(sample[:HEADER_SIZE]).data_offset
    for cut in (HEADER_SIZE, palette_end - 1):
        with pytest.raises(UnidentifiedImageError):
            Image.open(write(tmp_path, sample[:cut]))


def test_truncated_data_raises_on_load(tmp_path: Path, sample: bytes) -> None:
    for cut in (len(sample) - 1, len(sample) - 10, len(sample) // 2):
        with Image.open(write(tmp_path, sample[:cut])) as opened:
            assert opened.size == (40, 30)  # the header is fine
            with pytest.raises(OSError, match="truncated"):
                opened.load()
            with pytest.raises(OSError, match="truncated"):
                opened.load()  # and stays broken rather than showing a half-filled image


def test_load_truncated_images_fills_the_rest(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    palette = rng.integers(1, 256, (200, 3), dtype=np.uint8)
    indices = rng.integers(1, 200, (30, 40))  # no index 0: the filled part is recognisable
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    for compression in ("none", "zlib"):
        data = container.write(palette, indices, compression=compression, bits_per_index=8)
        header = container.parse_header(data[:HEADER_SIZE])
        cut = header.data_offset + header.data_length // 2
        opened = loaded(write(tmp_path, data[:cut]))
        assert opened.size == (40, 30)
        got = np.asarray(opened)
        complete = int(np.argmax((got != indices).any(axis=1)))  # first row that differs
        assert complete >= 1, compression  # the rows that were there decode
        np.testing.assert_array_equal(got[:complete], indices[:complete])
        assert not got[complete + 1 :].any(), compression  # the rest is index 0
        # A file missing only its trailer keeps every pixel.
        np.testing.assert_array_equal(np.asarray(loaded(io.BytesIO(data[:-2]))), indices)


@pytest.mark.parametrize("where", ["palette", "data", "trailer"])
def test_corrupt_data_raises_on_load(sample: bytes, where: str) -> None:
    header = container.parse_header(sample[:HEADER_SIZE])
    offset = {"palette": HEADER_SIZE + 1, "data": header.data_offset + 5, "trailer": len(sample) - 1}[where]
    broken = bytearray(sample)
    broken[offset] ^= 0x01
    with Image.open(io.BytesIO(bytes(broken))) as opened, pytest.raises(OSError, match="CRC"):
        opened.load()


def test_corrupt_data_is_not_excused_by_load_truncated_images(
    sample: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    broken = bytearray(sample)
    broken[-1] ^= 0x01
    with Image.open(io.BytesIO(bytes(broken))) as opened, pytest.raises(OSError, match="CRC"):
        opened.load()


def test_trailing_bytes_raise_on_load(sample: bytes) -> None:
    with Image.open(io.BytesIO(sample + b"\0")) as opened, pytest.raises(OSError, match="trailing"):
        opened.load()


@pytest.mark.parametrize(
    ("rows", "width", "height", "bits", "reason"),
    [
        (bytes([0b00011011, 0]), 4, 2, 2, "index"),  # indices 0 1 2 3 with K = 3
        (bytes([0b00000001, 0]), 3, 2, 2, "padding"),  # 3 x 2 bits: a padding bit set
        (bytes([0, 7, 0, 0]), 4, 1, 8, "index"),  # index 7 with K = 3 at 8 bits
        (bytes([0, 0, 3]), 2, 1, 12, "index"),  # indices 0 and 3 with K = 3 at 12 bits
    ],
)
def test_bad_indices_raise_on_load(rows: bytes, width: int, height: int, bits: int, reason: str) -> None:
    data = craft(rows, width=width, height=height, palette=bytes(range(9)), bits=bits)
    with Image.open(io.BytesIO(data)) as opened, pytest.raises(OSError, match=reason):
        opened.load()
    with pytest.raises(kmzcodec.KmzError):
        kmzcodec.decode(data)


# --------------------------------------------------------------------------- limits


def test_bomb_limit_applies_before_any_allocation(
    tmp_path: Path, sample: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pixel data touched before the size was checked")

    monkeypatch.setattr(plugin.KmzDecoder, "decode", refuse)
    monkeypatch.setattr(plugin.KmzImageFile, "load_prepare", refuse)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # 40 x 30 = 1200 > 2 x 500
    with pytest.raises(Image.DecompressionBombError):
        Image.open(write(tmp_path, sample))


def test_a_huge_header_on_a_tiny_file_costs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    side = 1 << 24  # the format's maximum: 2^48 pixels
    huge = Header(side, side, PaletteKind.GREY, 2, 1, Compression.ZLIB, 12).pack() + b"\0\xff" + bytes(16)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(write(tmp_path, huge))
    # Limit lifted: it opens (size is only numbers), and load() fails on the length
    # check before Pillow allocates the image.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("image allocated for a file that cannot hold it")

    monkeypatch.setattr(plugin.KmzImageFile, "load_prepare", refuse)
    stored_none = Header(30000, 30000, PaletteKind.GREY, 2, 8, Compression.NONE, 30000 * 30000).pack()
    with Image.open(write(tmp_path, stored_none + b"\0\xff" + bytes(100))) as opened:
        assert opened.size == (30000, 30000)
        with pytest.raises(OSError, match="truncated"):
            opened.load()


# --------------------------------------------------------------------------- save


def save_and_reopen(picture: Image.Image, **options: Any) -> tuple[Image.Image, bytes]:
    buffer = io.BytesIO()
    picture.save(buffer, format="KMZ", **options)
    data = buffer.getvalue()
    opened = loaded(io.BytesIO(data))
    same_as_decode(opened, data)
    return opened, data


def test_save_rgb_exact_when_colours_fit(rng: np.random.Generator) -> None:
    pixels = few_colours(rng, 12)
    opened, _ = save_and_reopen(Image.fromarray(pixels), colors=16)
    assert opened.info["method"] == "exact"
    np.testing.assert_array_equal(np.asarray(opened.convert("RGB")), pixels)


def test_save_rgba_keeps_alpha(rng: np.random.Generator) -> None:
    pixels = few_colours(rng, 10, channels=4)
    pixels[:5, :, 3] = 0
    pixels[5:10, :, 3] = 128
    opened, _ = save_and_reopen(Image.fromarray(pixels, "RGBA"))
    assert opened.info["palette_kind"] == "rgba"
    back = np.asarray(opened.convert("RGBA"))
    np.testing.assert_array_equal(back[:, :, 3], pixels[:, :, 3])
    visible = pixels[:, :, 3] > 0
    np.testing.assert_array_equal(back[visible], pixels[visible])


def test_save_l_stays_grey(rng: np.random.Generator) -> None:
    pixels = few_colours(rng, 20, channels=1)[:, :, 0]
    opened, _ = save_and_reopen(Image.fromarray(pixels, "L"), colors=32)
    assert opened.info["palette_kind"] == "grey"
    np.testing.assert_array_equal(np.asarray(opened.convert("L")), pixels)


def test_save_p_is_stored_as_is(rng: np.random.Generator) -> None:
    original = Image.fromarray(rng.integers(0, 16, (30, 40), dtype=np.uint8), "P")
    original.putpalette(rng.integers(0, 256, 16 * 3, dtype=np.uint8).tobytes())
    opened, _ = save_and_reopen(original, colors=16)
    assert opened.info["method"] == "given"
    np.testing.assert_array_equal(np.asarray(opened), np.asarray(original))
    np.testing.assert_array_equal(np.asarray(opened.convert("RGB")), np.asarray(original.convert("RGB")))


def test_save_mode_1(rng: np.random.Generator) -> None:
    original = Image.fromarray(rng.integers(0, 2, (30, 40)).astype(bool))
    assert original.mode == "1"
    opened, _ = save_and_reopen(original)
    assert opened.info["colors"] == 2
    np.testing.assert_array_equal(np.asarray(opened.convert("L")), np.asarray(original.convert("L")))


def test_save_mode_i16(rng: np.random.Generator) -> None:
    levels = rng.integers(0, 8, (30, 40)).astype(np.uint16) * 8000
    original = Image.fromarray(levels)
    assert original.mode.startswith("I;16")
    opened, _ = save_and_reopen(original, colors=8)
    assert opened.info["palette_kind"] == "grey"
    np.testing.assert_array_equal(np.asarray(opened.convert("L")), (levels >> 8).astype(np.uint8))


def test_save_more_than_256_colours(rng: np.random.Generator) -> None:
    pixels = few_colours(rng, 300, size=(30, 20))
    opened, _ = save_and_reopen(Image.fromarray(pixels), colors=300)
    assert opened.mode == "RGB"
    assert opened.info["colors"] == 300
    np.testing.assert_array_equal(np.asarray(opened), pixels)


def test_save_options_reach_the_encoder(rng: np.random.Generator) -> None:
    picture = noise(rng)
    options: dict[str, Any] = {
        "colors": 6,
        "colorspace": "lab",
        "compression": "lzma",
        "level": 1,
        "bits_per_index": 8,
        "seed": 3,
    }
    buffer = io.BytesIO()
    picture.save(buffer, format="KMZ", progressive=True, optimize=True, **options)  # foreign keys ignored
    assert buffer.getvalue() == kmzcodec.encode(picture, **options)


def test_new_encoder_options_reach_save_without_plugin_changes(rng: np.random.Generator) -> None:
    """Save options are kmzcodec.encode's keyword parameters, whatever they are today."""
    assert "min_psnr" in plugin.SAVE_OPTIONS
    picture = noise(rng)
    buffer = io.BytesIO()
    picture.save(buffer, format="KMZ", colors="auto", min_psnr=20)
    assert buffer.getvalue() == kmzcodec.encode(picture, colors="auto", min_psnr=20)


def test_save_value_range_for_deep_images(tmp_path: Path, rng: np.random.Generator) -> None:
    """12-bit data in a 16-bit image: ``img.save(p, value_range=(0, 4095))`` maps 0..4095 onto 0..255."""
    levels = rng.integers(0, 4096, (30, 40), dtype=np.uint16)
    levels[0, :2] = 0, 4095
    picture = Image.fromarray(levels)
    assert picture.mode == "I;16"
    picture.save(tmp_path / "deep.kmz", value_range=(0, 4095))
    expected = np.rint(levels.astype(np.float64) * 255 / 4095).astype(np.uint8)
    assert (tmp_path / "deep.kmz").read_bytes() == kmzcodec.encode(expected, 256)
    with Image.open(tmp_path / "deep.kmz") as opened:
        assert opened.convert("L").getextrema() == (0, 255)  # without the range: (0, 15)
    # 8-bit images are already on the 0..255 scale: a range for them is refused, and no file is left.
    with pytest.raises(ValueError, match="8-bit"):
        picture.convert("L").save(tmp_path / "grey.kmz", value_range=(0, 4095))
    assert not (tmp_path / "grey.kmz").exists()


def test_save_paths_and_file_objects(tmp_path: Path, sample: bytes) -> None:
    picture = kmzcodec.decode(sample)
    expected = kmzcodec.encode(picture)
    picture.save(tmp_path / "by-path.kmz")
    picture.save(str(tmp_path / "by-str.kmz"))
    buffer = io.BytesIO()
    picture.save(buffer, format="KMZ")
    with open(tmp_path / "by-handle.kmz", "wb") as handle:
        picture.save(handle, format="kmz")
    for data in (
        (tmp_path / "by-path.kmz").read_bytes(),
        (tmp_path / "by-str.kmz").read_bytes(),
        buffer.getvalue(),
        (tmp_path / "by-handle.kmz").read_bytes(),
    ):
        assert data == expected


def test_resaving_a_decoded_file_keeps_the_pixels(tmp_path: Path, sample: bytes) -> None:
    first = write(tmp_path, sample)
    with Image.open(first) as opened:
        opened.save(tmp_path / "again.kmz")
        original = np.asarray(opened)
        palette = opened.getpalette()
    with Image.open(tmp_path / "again.kmz") as again:
        assert again.info["method"] == "given"
        np.testing.assert_array_equal(np.asarray(again), original)
        assert again.getpalette() == palette
    # Saving over the file it was opened from works too.
    with Image.open(first) as opened:
        opened.save(first)
    np.testing.assert_array_equal(np.asarray(loaded(first)), original)


def test_encoding_an_opened_rgba_palette_file_before_load(tmp_path: Path) -> None:
    """Image.open leaves an RGBA palette raw until load(); kmzcodec.encode, save and
    palette= read it all the same (they used to fail with Pillow's "palette contains raw
    palette data"), and so does a palette set with putpalette(..., "RGBA")."""
    pixels = np.zeros((6, 5, 4), dtype=np.uint8)
    pixels[:3] = (200, 100, 50, 128)
    pixels[3:] = (10, 20, 30, 255)
    path = tmp_path / "rgba.kmz"
    path.write_bytes(kmzcodec.encode(pixels, 4))
    with Image.open(path) as opened:
        again = kmzcodec.decode(kmzcodec.encode(opened, 4))
    np.testing.assert_array_equal(np.asarray(again.convert("RGBA")), pixels)
    with Image.open(path) as opened:
        kmzcodec.save(opened, tmp_path / "saved.kmz", 4)
    np.testing.assert_array_equal(np.asarray(loaded(tmp_path / "saved.kmz").convert("RGBA")), pixels)
    with Image.open(path) as opened:
        mapped = kmzcodec.decode(kmzcodec.encode(pixels, palette=opened))
    np.testing.assert_array_equal(np.asarray(mapped.convert("RGBA")), pixels)
    drawn = Image.new("P", (5, 6), 1)
    drawn.putpalette(bytes([200, 100, 50, 128, 10, 20, 30, 255]), "RGBA")
    assert kmzcodec.decode(kmzcodec.encode(drawn, 4)).convert("RGBA").getpixel((0, 0)) == (10, 20, 30, 255)


@pytest.mark.parametrize(
    "options",
    [{"colors": 0}, {"colors": 70000}, {"method": "median-cut"}, {"compression": "zip"}, {"level": 12}],
)
def test_bad_options_raise_valueerror_and_leave_no_file(
    tmp_path: Path, rng: np.random.Generator, options: dict[str, Any]
) -> None:
    path = tmp_path / "never.kmz"
    with pytest.raises(ValueError, match="cannot save as KMZ"):
        noise(rng).save(path, **options)
    assert not path.exists()
    buffer = io.BytesIO()
    with pytest.raises(kmzcodec.KmzError):
        noise(rng).save(buffer, format="KMZ", **options)
    assert buffer.getvalue() == b""  # encoded in memory first: nothing half-written


def test_failing_encoder_leaves_no_partial_file(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> bytes:
        raise MemoryError("out of memory while clustering")

    monkeypatch.setattr(plugin, "encode", fail)
    path = tmp_path / "never.kmz"
    with pytest.raises(MemoryError):
        noise(rng).save(path)
    assert not path.exists()


# --------------------------------------------------------------------------- Pillow operations


def test_thumbnail_and_convert(tmp_path: Path, sample: bytes) -> None:
    expected = kmzcodec.decode(sample)
    with Image.open(write(tmp_path, sample)) as opened:
        rgb = opened.convert("RGB")
    np.testing.assert_array_equal(np.asarray(rgb), np.asarray(expected.convert("RGB")))
    with Image.open(write(tmp_path, sample)) as opened:
        opened.thumbnail((10, 10))
        assert max(opened.size) <= 10
        assert opened.size == (10, 8)


def test_verify_good_file(tmp_path: Path, sample: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("verify decompressed the data")

    monkeypatch.setattr(container, "decompress", refuse)
    opened = Image.open(write(tmp_path, sample))
    handle = opened.fp
    opened.verify()
    assert handle is not None and handle.closed
    opened.close()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda data: data[:-1] + bytes([data[-1] ^ 1]), SyntaxError),  # trailer CRC
        (lambda data: data[:60] + bytes([data[60] ^ 1]) + data[61:], SyntaxError),  # stored data
        (lambda data: data + b"\0", SyntaxError),  # trailing byte
        (lambda data: data[:-2], OSError),  # trailer cut
        (lambda data: data[: len(data) // 2], OSError),  # data cut
    ],
)
def test_verify_broken_file(tmp_path: Path, sample: bytes, change: Any, error: type[Exception]) -> None:
    opened = Image.open(write(tmp_path, change(sample)))
    handle = opened.fp
    with pytest.raises(error):
        opened.verify()
    assert handle is not None and handle.closed


# --------------------------------------------------------------------------- files and processes


def open_and_describe(path: str) -> tuple[str, str, tuple[int, int], bytes]:
    """Worker for the spawn test: runs in a fresh interpreter that imported this module."""
    with Image.open(path) as opened:
        opened.load()
        return opened.format or "", opened.mode, opened.size, opened.tobytes()


def test_spawned_workers_only_need_import_kmzcodec(tmp_path: Path, rng: np.random.Generator) -> None:
    files = {}
    for colors in (4, 300):
        data = kmzcodec.encode(
            Image.fromarray(few_colours(rng, min(colors, 200), size=(20, 10))), colors=colors
        )
        files[str(write(tmp_path, data, f"k{colors}.kmz"))] = kmzcodec.decode(data)
    # The child imports this module by name; make sure it can, however pytest was started.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            results = list(pool.map(open_and_describe, files))
    finally:
        sys.path.pop(0)
    for (path, expected), (fmt, mode, size, pixels) in zip(files.items(), results, strict=True):
        assert (fmt, mode, size) == ("KMZ", expected.mode, expected.size), path
        assert pixels == expected.tobytes(), path


def test_files_pillow_opened_are_closed_without_resource_warnings(tmp_path: Path, sample: bytes) -> None:
    good = write(tmp_path, sample)
    cut = write(tmp_path, sample[:-10], "cut.kmz")

    def open_load_drop(path: Path) -> bool:
        opened = Image.open(path)
        handle = opened.fp
        with contextlib.suppress(OSError):
            opened.load()
        return handle is not None and handle.closed

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert open_load_drop(good)
        assert open_load_drop(cut)  # closed after a failed load too
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.filterwarnings("error")
def test_unclosed_file_pillow_style(tmp_path: Path, sample: bytes) -> None:
    path = write(tmp_path, sample)

    def open_and_load() -> None:
        opened = Image.open(path)
        opened.load()

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        open_and_load()
        gc.collect()


def test_registration_is_idempotent() -> None:
    kmzcodec.register()
    kmzcodec.register()
    assert Image.ID.count("KMZ") == 1
    assert Image.OPEN["KMZ"][0] is plugin.KmzImageFile
    assert Image.SAVE["KMZ"] is plugin._save
    assert Image.registered_extensions()[".kmz"] == "KMZ"
    assert Image.MIME["KMZ"] == "image/x-kmz"
    assert Image.DECODERS["kmz"] is plugin.KmzDecoder
    assert "register" in kmzcodec.__all__


# --------------------------------------------------------------------------- conformance


def conformance_vectors(*, truncated_only: bool = False) -> list[Any]:
    """Cases of spec/conformance/cases.json (shipped with the spec: a missing table is an error)."""
    cases = json.loads((CONFORMANCE / "cases.json").read_text(encoding="utf-8"))["cases"]
    if truncated_only:
        cases = [case for case in cases if case["reason"] == "truncated-data"]
    return [pytest.param(case, id=case["file"]) for case in cases]


#: Reasons found in the header or palette: Pillow must not identify the file.
OPEN_REASONS = {
    "empty", "bad-magic", "truncated-header", "unsupported-version", "header-crc", "bad-palette-kind",
    "bad-compression", "bad-dimensions", "bad-colors", "bad-bits", "bad-method", "bad-colorspace",
    "reserved-nonzero", "bad-filter", "truncated-palette",
}  # fmt: skip


@pytest.mark.parametrize("case", conformance_vectors())
def test_conformance_vector_through_pillow(case: dict[str, Any]) -> None:
    path = CONFORMANCE / case["file"]
    data = path.read_bytes()
    if case["valid"]:
        opened = loaded(path)
        same_as_decode(opened, data)
        expected = np.load(CONFORMANCE / case["expected"])
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[expected.shape[2]]
        np.testing.assert_array_equal(np.asarray(opened.convert(mode)).reshape(expected.shape), expected)
        return
    reason = case["reason"]
    if reason == "too-many-pixels":
        # kmzcodec.decode's own limit; through Pillow, MAX_IMAGE_PIXELS stops it at open
        # (or the cut palette does, whichever Pillow meets first).
        with pytest.raises((Image.DecompressionBombError, UnidentifiedImageError)):
            Image.open(path)
        return
    # "wrong-size" is a header rule for compression none and a data rule otherwise.
    at_open = reason in OPEN_REASONS or (reason == "wrong-size" and data[11] == Compression.NONE)
    if at_open:
        with pytest.raises(UnidentifiedImageError):
            Image.open(path)
        with pytest.raises(SyntaxError):
            plugin.KmzImageFile(io.BytesIO(data))
        return
    with Image.open(path) as opened, pytest.raises(OSError):
        opened.load()


@pytest.mark.parametrize("case", conformance_vectors(truncated_only=True))
def test_conformance_truncated_vectors_load_when_allowed(
    case: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    path = CONFORMANCE / case["file"]
    header = container.parse_header(path.read_bytes()[:HEADER_SIZE])
    with Image.open(path) as opened:
        opened.load()
        assert opened.size == (header.width, header.height)
