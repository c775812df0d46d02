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


# ---------------------------------------------------------------- mapping onto a given palette


def _photo(height: int = 40, width: int = 56, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    smooth = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    return np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)


def _entries_of(data: bytes) -> np.ndarray:
    payload = kmzcodec.container.read(data)
    return np.frombuffer(payload.palette, dtype=np.uint8).reshape(payload.header.colors, -1)


def _indices_of(data: bytes) -> np.ndarray:
    payload = kmzcodec.container.read(data)
    return kmzcodec.container.indices(payload.header, payload.rows)


@pytest.mark.parametrize("colorspace", ["rgb", "oklab"])
def test_every_pixel_gets_its_nearest_entry_of_the_given_palette(colorspace: str) -> None:
    pixels = _photo()
    data = kmzcodec.encode(pixels, palette=ENTRIES, colorspace=colorspace)
    assert _entries_of(data).tolist() == ENTRIES.tolist()  # kept exactly, in its order
    assert kmzcodec.decode(data).info["method"] == "given"
    from kmzcodec import colorspace as spaces

    points = spaces.from_rgb(pixels.reshape(-1, 3).astype(float), colorspace)
    targets = spaces.from_rgb(ENTRIES.astype(float), colorspace)
    distances = ((points[:, None, :] - targets[None, :, :]) ** 2).sum(axis=2)
    chosen = _indices_of(data).reshape(-1)
    assert np.allclose(distances[np.arange(len(chosen)), chosen], distances.min(axis=1))


def test_a_grey_palette_on_a_colour_image_and_an_rgba_palette_on_an_opaque_one() -> None:
    pixels = _photo()
    grey = np.array([[0], [85], [170], [255]], dtype=np.uint8)
    data = kmzcodec.encode(pixels, palette=grey)
    assert kmzcodec.decode(data).info["palette_kind"] == "grey"
    expected = np.abs(pixels.reshape(-1, 1, 3).astype(int) - grey.reshape(1, -1, 1)).__pow__(2).sum(axis=2)
    assert (_indices_of(data).reshape(-1) == expected.argmin(axis=1)).all()
    rgba = np.array([[0, 0, 0, 0], [255, 255, 255, 255], [250, 10, 10, 255]], dtype=np.uint8)
    # An opaque image never picks the transparent entry, even where it is darkest.
    assert 0 not in _indices_of(kmzcodec.encode(np.zeros((4, 4, 3), np.uint8), palette=rgba))


def test_dithering_onto_a_given_palette_keeps_region_colours() -> None:
    ramp = np.repeat(np.linspace(0, 255, 64)[None, :, None], 32, axis=0).repeat(3, axis=2).astype(np.uint8)
    palette = np.array([[0, 0, 0], [255, 255, 255]], dtype=np.uint8)
    plain = np.asarray(kmzcodec.decode(kmzcodec.encode(ramp, palette=palette)).convert("RGB"), float)
    dithered = np.asarray(
        kmzcodec.decode(kmzcodec.encode(ramp, palette=palette, dither=True)).convert("RGB"), float
    )
    columns = ramp[:, :, 0].astype(float).mean(axis=0)
    assert (
        np.abs(dithered[:, :, 0].mean(axis=0) - columns).mean()
        < np.abs(plain[:, :, 0].mean(axis=0) - columns).mean() / 2
    )


def test_palette_from_a_file_path_and_through_the_plugin(tmp_path: Path) -> None:
    path = tmp_path / "four.gpl"
    path.write_text("GIMP Palette\n" + "".join(f"{r} {g} {b}\n" for r, g, b in ENTRIES))
    pixels = _photo()
    data = kmzcodec.encode(pixels, palette=str(path))
    assert data == kmzcodec.encode(pixels, palette=palettes.load(path))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "KMZ", palette=palettes.load(path))
    assert buffer.getvalue() == data


# ---------------------------------------------------------------- one palette for many images


def test_a_shared_palette_of_one_image_is_encode_s_own_palette() -> None:
    pixels = _photo(seed=3)
    own = _entries_of(kmzcodec.encode(pixels, 16))
    assert palettes.fit_palette([pixels], 16).entries.tolist() == own.tolist()


def test_one_array_given_alone_is_one_image_and_a_stack_is_frames() -> None:
    # An (H, W, 3) array alone was iterated row by row: each (W, 3) row read as a grey image.
    pixels = _photo(seed=3)
    assert palettes.fit_palette(pixels, 16) == palettes.fit_palette([pixels], 16)
    assert palettes.fit_palette(pixels, 16).channels == 3
    grey = pixels[:, :, 0]
    assert palettes.fit_palette(grey, 8) == palettes.fit_palette([grey], 8)
    assert palettes.fit_palette(grey[:, :, None], 8) == palettes.fit_palette([grey], 8)
    frames = np.stack([pixels, pixels[::-1]])
    assert palettes.fit_palette(frames, 16) == palettes.fit_palette(list(frames), 16)
    greys = np.stack([grey, grey[::-1], grey[:, ::-1]])  # (N, H, W): grey frames
    assert palettes.fit_palette(greys, 8) == palettes.fit_palette(list(greys), 8)


def test_merged_counts_are_the_same_in_any_order_or_grouping() -> None:
    images = [_photo(seed=seed) for seed in range(4)]
    counts = [palettes.color_counts(image) for image in images]
    one_by_one = palettes.ColorCounts.merge(counts)
    grouped = palettes.ColorCounts.merge(
        [palettes.ColorCounts.merge(counts[2:][::-1]), palettes.ColorCounts.merge(counts[:2])]
    )
    assert np.array_equal(one_by_one.keys, grouped.keys) and np.array_equal(one_by_one.counts, grouped.counts)
    assert int(one_by_one.counts.sum()) == sum(image.shape[0] * image.shape[1] for image in images)
    assert palettes.fit(one_by_one, 32) == palettes.fit(grouped, 32) == palettes.fit_palette(images[::-1], 32)


def test_counts_made_in_worker_processes_give_the_same_palette() -> None:
    import concurrent.futures
    import multiprocessing

    images = [_photo(seed=seed) for seed in range(3)]
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        counts = list(pool.map(palettes.color_counts, images))
    assert palettes.fit(palettes.ColorCounts.merge(counts), 24) == palettes.fit_palette(images, 24)


def test_shared_palette_kinds() -> None:
    grey = _photo()[:, :, :1]
    assert palettes.fit_palette([grey, grey[::-1]], 8).channels == 1
    assert palettes.fit_palette([grey, _photo()], 8).channels == 3  # any colour image: RGB
    rgba = np.dstack([_photo(), np.full(_photo().shape[:2], 255, np.uint8)])
    rgba[:5, :5, 3] = 0
    shared = palettes.fit_palette([rgba, _photo(seed=1)], 8)
    assert shared.channels == 4 and [0, 0, 0, 0] in shared.entries.tolist()
    few = palettes.fit_palette([ENTRIES[None, :, :]], 16)
    assert sorted(few.entries.tolist()) == sorted(ENTRIES.tolist())  # fewer colours than K: kept exactly


def test_fit_palette_errors() -> None:
    with pytest.raises(kmzcodec.KmzError):
        palettes.fit_palette([], 16)
    with pytest.raises(kmzcodec.KmzError):
        palettes.fit_palette([_photo()], 0)
    with pytest.raises(kmzcodec.KmzError):
        palettes.fit_palette(["/nonexistent.png"], 16)
    with pytest.raises(kmzcodec.KmzError):
        palettes.fit(np.zeros(3), 16)  # type: ignore[arg-type]


def test_kmz_encode_palette(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kmzcodec.cli import main

    source = tmp_path / "photo.png"
    Image.fromarray(_photo()).save(source)
    good, bad = tmp_path / "good.txt", tmp_path / "bad.gpl"
    good.write_text("".join(f"#{r:02x}{g:02x}{b:02x}\n" for r, g, b in ENTRIES))
    bad.write_text("GIMP Palette\n1 2 3\n4 5\n")
    out = tmp_path / "photo.kmz"
    assert main(["encode", str(source), "-o", str(out), "--palette", str(good)]) == 0
    assert out.read_bytes() == kmzcodec.encode(Image.open(source), palette=ENTRIES)
    capsys.readouterr()
    assert main(["encode", str(source), "-o", str(tmp_path / "x.kmz"), "--palette", str(bad)]) == 1
    assert (
        capsys.readouterr().err.strip()
        == f"kmz: error: {bad} line 3: expected three numbers 0..255 (R G B), got '4 5'"
    )
    assert (
        main(["encode", str(source), "-o", str(tmp_path / "y.kmz"), "--palette", str(good), "-k", "8"]) == 2
    )
    assert not (tmp_path / "x.kmz").exists() and not (tmp_path / "y.kmz").exists()
