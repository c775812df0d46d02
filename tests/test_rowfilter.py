"""Row filters (spec 4.12 and 6.5): writing, reading, rejecting, and compression="smallest" choosing one.

The filter arithmetic is checked three ways: against the spec's worked example, by round
trips through kmzcodec's writer and reader, and against fuzz/reference.py (a reading of
the spec that shares no code with kmzcodec).
"""

from __future__ import annotations

import io
import re
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kmzcodec
from kmzcodec import container, rowfilter, smallest
from kmzcodec.format import HEADER_SIZE, Compression, Filter, Method, PaletteKind

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fuzz import reference  # noqa: E402

FILTERS = [Filter.SUB, Filter.UP, Filter.GRADIENT, Filter.PAETH]


def spec_example() -> dict[str, list[list[int]]]:
    """Section 6.5's first example: the indices and, per filter, the packed values (hex)."""
    text = (REPO / "spec" / "kmz-format.md").read_text(encoding="utf-8")
    section = text.split("### 6.5", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d) \w+ \| `([0-9A-F ]+)` \| `([0-9A-F ]+)` \|$", section, flags=re.M)
    assert len(rows) == 5
    return {
        code: [[int(v, 16) for v in row.split()] for row in (first, second)] for code, first, second in rows
    }


def test_the_spec_example() -> None:
    table = spec_example()
    indices = np.array(table["0"])
    for kind in Filter:
        assert rowfilter.residuals(indices, 8, kind).tolist() == table[str(int(kind))], kind
        np.testing.assert_array_equal(rowfilter.restore(np.array(table[str(int(kind))]), 8, kind), indices)
    # The 2-bit example: gradient and Paeth, modulo 4.
    small = np.array([[0, 3, 1], [3, 0, 2]])
    assert rowfilter.residuals(small, 2, Filter.GRADIENT).tolist() == [[0, 3, 2], [3, 2, 0]]
    assert rowfilter.residuals(small, 2, Filter.PAETH).tolist() == [[0, 3, 2], [3, 1, 2]]


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 8, 9, 12, 16])
def test_residuals_and_restore_are_inverse(rng: np.random.Generator, bits: int) -> None:
    for shape in [(1, 1), (1, 9), (7, 1), (11, 13)]:
        indices = rng.integers(0, 1 << bits, size=shape)
        for kind in Filter:
            stored = rowfilter.residuals(indices, bits, kind)
            assert stored.dtype == (np.uint8 if bits <= 8 else np.uint16)
            assert int(stored.max()) < 1 << bits
            np.testing.assert_array_equal(rowfilter.restore(stored, bits, kind), indices)


@pytest.mark.parametrize("scan_pixels", [rowfilter.SCAN_PIXELS, 1000], ids=["default", "small-chunks"])
def test_restore_by_groups_of_rows_and_doubling(
    monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator, scan_pixels: int
) -> None:
    """The wide-image sums (rows in groups down, doubling along): every group layout (one group,
    groups and leftover rows, a square number of rows), rows summed in several chunks, and
    widths of odd lengths and powers of two, against the residuals' inverse."""
    monkeypatch.setattr(rowfilter, "SCAN_PIXELS", scan_pixels)
    width = rowfilter.ROW_LOOP_WIDTH
    for shape in [(1, width), (2, width + 1), (3, 2 * width), (16, width + 7), (37, 300), (50, 1025)]:
        for bits in (3, 8, 12, 16):
            indices = rng.integers(0, 1 << bits, size=shape)
            for kind in (Filter.SUB, Filter.UP, Filter.GRADIENT):
                stored = rowfilter.residuals(indices, bits, kind)
                np.testing.assert_array_equal(rowfilter.restore(stored, bits, kind), indices)
                assert int(stored.max()) < 1 << bits  # the restored values wrapped, not the stored ones


def test_residuals_across_row_bands(rng: np.random.Generator) -> None:
    """An image of several bands (kmzcodec.bands) gets the residuals of one whole-image pass."""
    indices = rng.integers(0, 4096, size=(1100, 1000))
    whole = indices.astype(np.int64)
    a, b, c = np.zeros_like(whole), np.zeros_like(whole), np.zeros_like(whole)
    a[:, 1:], b[1:], c[1:, 1:] = whole[:, :-1], whole[:-1], whole[:-1, :-1]
    expected = {Filter.SUB: whole - a, Filter.UP: whole - b, Filter.GRADIENT: whole - a - b + c}
    for kind, rest in expected.items():
        np.testing.assert_array_equal(rowfilter.residuals(indices, 12, kind), rest % 4096)
    np.testing.assert_array_equal(rowfilter.restore(rowfilter.residuals(indices, 12, Filter.PAETH), 12,
                                                    Filter.PAETH), indices)  # fmt: skip


@pytest.mark.parametrize("kind", FILTERS, ids=lambda kind: kind.label)
@pytest.mark.parametrize("entry", [1, 3, 4], ids=["grey", "rgb", "rgba"])
def test_roundtrip_every_filter_width_and_kind(rng: np.random.Generator, kind: Filter, entry: int) -> None:
    for bits, colors in [(1, 2), (2, 3), (3, 7), (4, 16), (8, 200), (8, 256), (12, 3000), (16, 300)]:
        for width in (1, 2, 7, 33):
            indices = rng.integers(0, colors, size=(5, width))
            palette = rng.integers(0, 256, size=(colors, entry), dtype=np.uint8)
            compression = ("none", "zlib", "lzma")[(bits + width) % 3]
            data = container.write(
                palette, indices, compression=compression, bits_per_index=bits, row_filter=kind
            )
            header = container.parse_header(data)
            assert (header.filter, header.bits_per_index, data[35]) == (kind, bits, int(kind))
            decoded = kmzcodec.decode(data)
            assert decoded.info["filter"] == kind.label
            mode = {1: "L", 3: "RGB", 4: "RGBA"}[entry]
            expected = palette[indices].reshape(5, width, entry)
            pixels = np.asarray(decoded.convert(mode)).reshape(expected.shape)
            np.testing.assert_array_equal(pixels, expected)
            outcome = reference.read(data, None)  # the independent reading agrees
            assert outcome.valid and outcome.pixels is not None
            np.testing.assert_array_equal(outcome.pixels, expected)


def test_unfiltered_files_are_what_they_were() -> None:
    """Byte 35 stays 0 without a filter: the spec's section 12 example, byte for byte."""
    red, navy, white = (255, 0, 0), (0, 0, 128), (255, 255, 255)
    pixels = np.array([[red, red, white, navy, navy], [white, navy, navy, red, white]], dtype=np.uint8)
    data = kmzcodec.encode(pixels, colors=3, compression="none")
    assert data[35] == 0 and data[36:40] == bytes.fromhex("b97a9176")
    assert kmzcodec.decode(data).info["filter"] == "none"


def _with_byte35(data: bytes, value: int, flags: int | None = None) -> bytes:
    """``data`` with header byte 35 (and flags) changed and the header CRC made right."""
    head = bytearray(data[:HEADER_SIZE])
    head[35] = value
    if flags is not None:
        head[34] = flags
    head[36:40] = zlib.crc32(bytes(head[:36])).to_bytes(4, "little")
    return bytes(head) + data[HEADER_SIZE:]


@pytest.mark.parametrize("value", [5, 6, 128, 255])
def test_unknown_filter_codes_are_rejected(value: int) -> None:
    data = container.write(np.zeros((2, 3), np.uint8), np.array([[0, 1], [1, 0]]))
    bad = _with_byte35(data, value)
    for reader in (kmzcodec.decode, lambda raw: container.parse_header(raw[:HEADER_SIZE])):
        with pytest.raises(kmzcodec.KmzError) as caught:
            reader(bad)
        assert caught.value.reason == "bad-filter"
    assert reference.read(bad, None).reasons == {"bad-filter"}
    # A reserved flag bit is checked first (rule 9.6h: flags, then filter).
    with pytest.raises(kmzcodec.KmzError) as caught:
        kmzcodec.decode(_with_byte35(data, value, flags=0x02))
    assert caught.value.reason == "reserved-nonzero"
    with pytest.raises(OSError):
        Image.open(io.BytesIO(bad))


def test_the_range_check_is_on_the_restored_indices() -> None:
    palette = np.array([[0], [80], [160], [240]], np.uint8)[:3]
    # Sub residuals 1, 1, 1 are each < K = 3 but add up to index 3.
    rows = np.array([[1, 1, 1]], np.uint8)
    header = container.Header(3, 1, PaletteKind.GREY, 3, 8, Compression.NONE, 3, filter=Filter.SUB)
    data = header.pack() + palette.tobytes() + rows.tobytes()
    data += container.data_crc(palette.tobytes(), rows.tobytes()).to_bytes(4, "little")
    with pytest.raises(kmzcodec.KmzError) as caught:
        kmzcodec.decode(data)
    assert caught.value.reason == "index-out-of-range"
    assert reference.read(data, None).reasons == {"index-out-of-range"}
    # A residual >= K is fine when the index it makes is < K: 2, then 2 + 3 = 5 = 1 mod 4 at 2 bits.
    header = container.Header(2, 1, PaletteKind.GREY, 3, 2, Compression.NONE, 1, filter=Filter.SUB)
    rows_2bit = bytes([0b10_11_0000])
    data = header.pack() + palette.tobytes() + rows_2bit
    data += container.data_crc(palette.tobytes(), rows_2bit).to_bytes(4, "little")
    np.testing.assert_array_equal(np.asarray(kmzcodec.decode(data).convert("L")), [[160, 80]])


def test_smallest_may_not_be_told_a_filter() -> None:
    with pytest.raises(kmzcodec.KmzError) as caught:
        container.write(np.zeros((2, 1), np.uint8), np.zeros((2, 2), np.uint8), compression="smallest",
                        row_filter=Filter.SUB)  # fmt: skip
    assert caught.value.reason == "bad-option"
    with pytest.raises(kmzcodec.KmzError) as caught:
        container.write(np.zeros((2, 1), np.uint8), np.zeros((2, 2), np.uint8), row_filter=7)
    assert caught.value.reason == "bad-option"


def scan(rng: np.random.Generator, height: int = 180, width: int = 260) -> np.ndarray:
    """A grey page-like image: a smooth shaded background, dark strokes, a little noise (uint8)."""
    y, x = np.mgrid[0:height, 0:width]
    page = 200 + 30 * np.sin(x / 47.0) * np.cos(y / 31.0) + rng.normal(0, 2.0, (height, width))
    for top in range(12, height - 10, 16):  # "lines of text": short dark runs
        starts = rng.integers(0, width - 30, 8)
        for start in starts:
            page[top : top + 6, start : start + rng.integers(5, 25)] -= 120
    return np.clip(page, 0, 255).astype(np.uint8)


def test_smallest_picks_a_filter_on_a_grey_scan(rng: np.random.Generator) -> None:
    pixels = scan(rng)
    quantized = kmzcodec.encoder.encode_details(Image.fromarray(pixels), 256).quantized
    palette, indices = quantized.palette, quantized.indices
    method = Method[quantized.method.upper()]
    data = container.write(palette, indices, compression="smallest", method=method)
    header = container.parse_header(data)
    assert header.filter is not Filter.NONE
    # Smaller than every unfiltered way smallest knows (with the palette orders it may use).
    plain = min(
        len(smallest.compress(smallest.Stored(bits, candidate, b"", order).rows(indices), candidate))
        for order in (None, smallest.neighbour_order(indices, len(palette)))
        for bits in container._candidate_bits(len(palette))
        for candidate in smallest.CANDIDATES
    )
    assert header.data_length < plain
    decoded = kmzcodec.decode(data)
    np.testing.assert_array_equal(np.asarray(decoded.convert("L")), palette[indices][:, :, 0])
    assert container.write(palette, indices, compression="smallest", method=method) == data  # deterministic
    encoded = kmzcodec.encode(Image.fromarray(pixels), 256, compression="smallest")
    assert encoded[HEADER_SIZE:] == data[HEADER_SIZE:]  # the header also records the colour space


def test_smallest_reorders_a_shuffled_grey_palette_by_luminance(rng: np.random.Generator) -> None:
    """A grey ramp whose palette is in random order: only a reordered palette makes a filter pay."""
    height, width = 120, 200
    ramp = np.add.outer(np.arange(height), np.arange(width)) * 255 // (height + width)
    indices = np.clip(ramp + rng.integers(-1, 2, (height, width)), 0, 255)
    shuffle = rng.permutation(256)
    palette = np.arange(256, dtype=np.uint8)[shuffle][:, None]
    moved = np.argsort(shuffle)[indices]  # palette[moved] is the ramp
    kept = container.write(palette, moved, compression="smallest", method=Method.GIVEN)
    chosen = container.write(palette, moved, compression="smallest", method=Method.KMEANS)
    assert container.parse_header(chosen).filter is not Filter.NONE
    assert len(chosen) < 0.9 * len(kept)
    for data in (kept, chosen):
        np.testing.assert_array_equal(np.asarray(kmzcodec.decode(data).convert("L")), indices)
    stored = np.asarray(kmzcodec.decode(chosen).getpalette()).reshape(-1, 3)[:256, 0]
    # Stored close to grey-level order (the luminance order, or the neighbour order, which here
    # follows the ramp too, in either direction).
    assert abs(np.corrcoef(stored.astype(float), np.arange(256))[0, 1]) > 0.9


def test_a_large_filtered_image_through_the_sample_and_the_plugin(rng: np.random.Generator) -> None:
    pixels = np.concatenate([scan(rng, 300, 520)] * 2)
    assert pixels.size > container.TRIAL_PIXELS
    data = kmzcodec.encode(Image.fromarray(pixels), 64, compression="smallest")
    assert container.parse_header(data).filter is not Filter.NONE
    opened = Image.open(io.BytesIO(data))
    assert opened.info["filter"] != "none"
    np.testing.assert_array_equal(
        np.asarray(opened.convert("L")), np.asarray(kmzcodec.decode(data).convert("L"))
    )


def test_luminance_order() -> None:
    palette = np.array([[200, 200, 200, 255], [0, 0, 0, 255], [10, 10, 10, 0], [10, 10, 10, 128]], np.uint8)
    assert smallest.luminance_order(palette).tolist() == [1, 2, 3, 0]
    assert smallest.luminance_order(np.array([[5], [5], [1]], np.uint8)).tolist() == [2, 0, 1]


def test_a_truncated_filtered_file_opens_when_pillow_allows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spec D7: the missing residuals are 0, so a missing row repeats the row above."""
    from PIL import ImageFile

    indices = np.tile(np.arange(16), (8, 1))
    palette = (np.arange(16, dtype=np.uint8) * 16)[:, None]
    data = container.write(palette, indices, compression="none", row_filter=Filter.UP)
    cut = data[: HEADER_SIZE + 16 + 16 * 3]  # three whole rows of the eight
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with Image.open(io.BytesIO(cut)) as opened:
        opened.load()
        shown = np.asarray(opened.convert("L"))
    np.testing.assert_array_equal(shown, palette[indices][:, :, 0])


def test_filters_never_make_a_large_image_larger(
    rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the trial sample, the unfiltered choice is still compressed in full: with the
    filters the file is never larger than without them."""
    ramp = np.add.outer(np.arange(400), np.arange(420)) * 15 // 820
    cases = [
        (
            np.arange(0, 256, 17, dtype=np.uint8)[:, None],
            np.clip(ramp + rng.integers(-1, 2, ramp.shape), 0, 15),
        ),
        (rng.integers(0, 256, (16, 3), dtype=np.uint8), rng.integers(0, 16, ramp.shape)),
    ]
    for palette, indices in cases:
        assert indices.size > container.TRIAL_PIXELS
        with_filters = container.write(palette, indices, compression="smallest", method=Method.KMEANS)
        monkeypatch.setattr(smallest, "RANKED_FILTERS", 0)
        without = container.write(palette, indices, compression="smallest", method=Method.KMEANS)
        monkeypatch.undo()
        assert len(with_filters) <= len(without)
        assert container.parse_header(without).filter is Filter.NONE
