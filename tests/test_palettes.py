"""kmzcodec.palettes: palettes read from .kmz files, images, GIMP palettes and #rrggbb lines."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kmzcodec
from kmzcodec import palettes
from kmzcodec.palettes import Palette

ENTRIES = np.array([[0, 0, 0], [255, 255, 255], [200, 30, 40], [12, 140, 250]], dtype=np.uint8)


def test_gpl() -> None:
    text = (
        "GIMP Palette\nName: four\nColumns: 4\n# a comment\n"
        "  0   0   0\tBlack\n255 255 255 White\n200  30  40\n12 140 250 sky blue\n"
    )
    assert palettes.parse(text.encode()) == Palette(ENTRIES)


def test_hex_lines() -> None:
    text = "; four colours\n#000000\n#FFFFFF\n\n// more\n#c81e28\n#0c8cfa\n"
    assert palettes.parse(text.encode()) == Palette(ENTRIES)


def test_hex_lines_with_alpha() -> None:
    palette = palettes.parse(b"#00000000\n#ff000080\n")
    assert palette.channels == 4
    assert palette.entries.tolist() == [[0, 0, 0, 0], [255, 0, 0, 128]]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("GIMP Palette\n1 2 3\n1 2\n", 3, "three numbers"),
        ("GIMP Palette\n1 2 300 too bright\n", 2, "0..255"),
        ("GIMP Palette\nred green blue\n", 2, "three numbers"),
        ("#000000\n#12345\n", 2, "#rrggbb"),
        ("#000000\nff0000\n", 2, "#rrggbb"),
        ("#000000\n#ff000080\n", 2, "mixes"),
    ],
)
def test_malformed_files_name_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(kmzcodec.KmzError) as caught:
        palettes.load(path)
    assert caught.value.reason == "bad-palette"
    assert f"bad.txt line {line}:" in str(caught.value)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [b"", b"GIMP Palette\n# nothing\n", b"; only a comment\n", b"\xff\xfe\x00garbage", b"hello"],
)
def test_files_without_colours_are_refused(data: bytes) -> None:
    with pytest.raises(kmzcodec.KmzError) as caught:
        palettes.parse(data, "p")
    assert caught.value.reason == "bad-palette"


def test_a_missing_file_is_our_error(tmp_path: Path) -> None:
    with pytest.raises(kmzcodec.KmzError) as caught:
        palettes.load(tmp_path / "absent.gpl")
    assert caught.value.reason == "bad-input"


def test_palette_of_a_kmz_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    indices = rng.integers(0, 4, (8, 9))
    data = kmzcodec.container.write(ENTRIES, indices)
    path = tmp_path / "p.kmz"
    path.write_bytes(data)
    assert palettes.load(path) == Palette(ENTRIES)
    damaged = bytearray(data)
    damaged[-1] ^= 1
    with pytest.raises(kmzcodec.KmzError, match="data CRC"):
        palettes.parse(bytes(damaged), "p.kmz")


def test_palette_of_a_p_image_keeps_transparency() -> None:
    image = Image.new("P", (2, 2))
    image.putpalette(ENTRIES.tobytes())
    image.info["transparency"] = 2
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    palette = palettes.parse(buffer.getvalue())
    assert palette.channels == 4
    assert palette.entries[:4, :3].tolist() == ENTRIES.tolist()
    assert palette.entries[:4, 3].tolist() == [255, 255, 0, 255]


def test_colours_of_a_small_image_in_sorted_order() -> None:
    pixels = ENTRIES[np.array([[3, 1], [0, 2], [2, 2]])]
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    assert palettes.parse(buffer.getvalue()).entries.tolist() == sorted(ENTRIES.tolist())


def test_an_image_of_too_many_colours_is_refused() -> None:
    values = np.arange(300 * 300, dtype=np.uint32)
    pixels = np.stack([values & 255, (values >> 8) & 255, values >> 16], axis=-1).astype(np.uint8)
    with pytest.raises(kmzcodec.KmzError, match="at most 65536 colours, this one has 90000"):
        palettes.from_image(Image.fromarray(pixels.reshape(300, 300, 3)))


@pytest.mark.parametrize(
    "bad",
    [np.zeros((0, 3)), np.zeros((3, 2)), np.full((2, 3), 256), np.full((2, 3), -1), np.zeros((3, 3)) + 0.5],
)
def test_bad_arrays_are_refused(bad: np.ndarray) -> None:
    with pytest.raises(kmzcodec.KmzError):
        Palette(bad)


def test_palette_is_read_only_and_compares_by_value() -> None:
    palette = Palette(ENTRIES)
    with pytest.raises(ValueError):
        palette.entries[0, 0] = 1
    assert palette == Palette(ENTRIES.copy()) and hash(palette) == hash(Palette(ENTRIES.copy()))
    assert palette != Palette(ENTRIES[:3])
    assert len(palette) == 4 and "4 RGB entries" in repr(palette)
