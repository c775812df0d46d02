"""kmzcodec.encode and the quantizer: methods, colour spaces, modes, dither, auto K, exactness."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

import kmzcodec
from kmzcodec import metrics, quantize
from kmzcodec.encoder import encode_details
from kmzcodec.settings import DEFAULT_SETTINGS


def photo(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth colour field with noise: many distinct colours, like a photograph."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height) + 64], axis=2)
    noisy = base + rng.normal(0, 12, base.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def distinct(image: Image.Image) -> int:
    values = np.asarray(image.convert("RGBA")).reshape(-1, 4)
    return len(np.unique(values, axis=0))


def roundtrip(source: Image.Image | np.ndarray, colors: int | str = 16, **options: object) -> Image.Image:
    return kmzcodec.decode(kmzcodec.encode(source, colors, **options))


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
@pytest.mark.parametrize("colorspace", ["rgb", "oklab", "lab"])
def test_every_method_and_colour_space(method: str, colorspace: str) -> None:
    pixels = photo()
    few, many = (
        roundtrip(pixels, 4, method=method, colorspace=colorspace),
        roundtrip(pixels, 32, method=method, colorspace=colorspace),
    )
    assert few.size == many.size == (64, 48)
    assert distinct(few) <= 4 and distinct(many) <= 32
    assert few.info["method"] == many.info["method"] == method
    assert few.info["colorspace"] == colorspace
    assert metrics.psnr(pixels, many) > metrics.psnr(pixels, few) + 3


def test_kmeans_beats_a_naive_uniform_palette() -> None:
    pixels = photo(64, 64)
    ours = metrics.psnr(pixels, roundtrip(pixels, 64))
    uniform = (pixels // 64) * 64 + 32  # 4 levels a channel = 64 colours
    assert ours > metrics.psnr(pixels, uniform) + 2


def test_binning_costs_less_than_a_tenth_of_a_db() -> None:
    # Large enough that the coarse-to-fine grids and the seeding sample are used.
    pixels = photo(256, 320, seed=3)
    fast = quantize.quantize(pixels, 64)
    # No grids, every colour in the seeding sample, Lloyd to convergence.
    unbinned = dataclasses.replace(
        DEFAULT_SETTINGS, levels=(), seed_sample_per_cluster=1 << 30, exact_steps=300
    )
    exact = quantize.quantize(pixels, 64, settings=unbinned)
    assert (
        metrics.psnr(pixels, fast.palette[fast.indices])
        >= metrics.psnr(pixels, exact.palette[exact.indices]) - 0.1
    )


@pytest.mark.parametrize("colors", [2, 3, 16, 256])
@pytest.mark.parametrize("colorspace", ["rgb", "oklab"])
def test_every_colour_gets_its_nearest_palette_entry(colors: int, colorspace: str) -> None:
    # The Lloyd loop skips colours its bounds prove settled; a wrong bound would
    # leave some colour on an entry farther than the nearest one.
    pixels = photo(160, 200, seed=5)
    result = quantize.quantize(pixels, colors, colorspace=colorspace)
    points = quantize._to_space(pixels.reshape(-1, 3), colorspace)
    entries = quantize._to_space(result.palette, colorspace)
    squared = ((points[:, None, :] - entries[None, :, :]) ** 2).sum(axis=2)
    chosen = squared[np.arange(len(points)), result.indices.reshape(-1)]
    assert np.all(chosen <= squared.min(axis=1) + 1e-9)


def test_same_input_same_bytes() -> None:
    pixels = photo()
    for options in ({}, {"method": "gmm"}, {"dither": True}, {"colorspace": "oklab"}):
        assert kmzcodec.encode(pixels, 16, **options) == kmzcodec.encode(pixels, 16, **options)


def test_options_are_checked_even_when_a_palette_image_needs_no_quantizing() -> None:
    source = Image.fromarray(photo()).quantize(8)
    with pytest.raises(kmzcodec.KmzError):
        kmzcodec.encode(source, 16, method="bogus")


def test_seed_is_an_option() -> None:
    pixels = photo(seed=5)
    assert kmzcodec.decode(kmzcodec.encode(pixels, 8, seed=1)).size == (64, 48)
    with pytest.raises(kmzcodec.KmzError):
        kmzcodec.encode(pixels, 8, seed=-1)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_images_with_few_colours_are_stored_exactly(mode: str) -> None:
    rng = np.random.default_rng(1)
    palette = rng.integers(0, 256, (7, 4), dtype=np.uint8)
    picks = rng.integers(0, 7, (20, 30))
    source = Image.fromarray(palette[picks], "RGBA").convert(mode)
    decoded = roundtrip(source, 7)
    assert decoded.info["method"] == "exact"
    assert np.array_equal(np.asarray(decoded.convert(mode)), np.asarray(source))


def test_rgba_keeps_alpha_and_full_transparency() -> None:
    pixels = np.dstack([photo(), np.full((48, 64), 255, np.uint8)])
    pixels[:, :16, 3] = 0  # fully transparent, colour underneath varies
    pixels[:, 16:32, 3] = 128
    decoded = roundtrip(Image.fromarray(pixels, "RGBA"), 8)
    assert decoded.info["palette_kind"] == "rgba"
    alpha = np.asarray(decoded.convert("RGBA"))[:, :, 3]
    assert (alpha[:, :16] == 0).all()
    assert (alpha[:, 16:] > 0).all()
    assert abs(int(np.median(alpha[:, 16:32])) - 128) <= 8


def test_grey_images_get_a_grey_palette() -> None:
    grey = Image.fromarray(photo()[:, :, 0], "L")
    data = kmzcodec.encode(grey, 8)
    decoded = kmzcodec.decode(data)
    assert decoded.info["palette_kind"] == "grey"
    assert distinct(decoded) <= 8
    assert metrics.psnr(grey, decoded.convert("L")) > 25


def test_grey_images_get_the_optimal_k_means() -> None:
    """Grey palettes come from dynamic programming: no split of the sorted values does better."""
    import itertools

    rng = np.random.default_rng(5)
    values = np.sort(rng.choice(256, size=9, replace=False))
    pixels = np.repeat(values, rng.integers(1, 40, size=9)).astype(np.uint8)
    rng.shuffle(pixels)
    image = Image.fromarray(pixels.reshape(1, -1), "L")
    for k in (2, 3, 5):
        decoded = np.asarray(kmzcodec.decode(kmzcodec.encode(image, k)).convert("L"), dtype=float)[0]
        error = float(((decoded - pixels) ** 2).sum())
        best = np.inf
        for cuts in itertools.combinations(range(1, 9), k - 1):
            edges = (0, *cuts, 9)
            palette = np.array(
                [
                    pixels[(pixels >= values[a]) & (pixels <= values[b - 1])].mean()
                    for a, b in zip(edges[:-1], edges[1:], strict=True)
                ]
            )
            palette = np.rint(palette)
            best = min(best, float((np.min((pixels[:, None] - palette[None, :]) ** 2, axis=1)).sum()))
        assert error <= best


def test_palette_images_that_fit_are_stored_as_they_are() -> None:
    source = Image.fromarray(photo()).quantize(12)
    decoded = roundtrip(source, 16)
    assert decoded.info["method"] == "given"
    assert np.array_equal(np.asarray(decoded.convert("RGB")), np.asarray(source.convert("RGB")))
    again = roundtrip(decoded, 16)  # re-saving a decoded file keeps the pixels
    assert np.array_equal(np.asarray(again.convert("RGB")), np.asarray(source.convert("RGB")))


def test_palette_images_that_do_not_fit_are_quantized() -> None:
    source = Image.fromarray(photo()).quantize(64)
    decoded = roundtrip(source, 8)
    assert decoded.info["method"] == "kmeans"
    assert distinct(decoded) <= 8


def test_palette_image_with_transparency_keeps_it() -> None:
    source = Image.fromarray(photo()).quantize(6)
    source.info["transparency"] = 2
    decoded = roundtrip(source, 8)
    expected = np.asarray(source.convert("RGBA"))
    assert np.array_equal(np.asarray(decoded.convert("RGBA"))[:, :, 3], expected[:, :, 3])


@pytest.mark.parametrize(
    ("mode", "make"),
    [
        ("1", lambda p: Image.fromarray(p[:, :, 0] > 128)),
        ("I;16", lambda p: Image.fromarray(p[:, :, 0].astype(np.uint16) * 257)),
        ("I", lambda p: Image.fromarray(p[:, :, 0].astype(np.int32) * 257, "I")),
        ("F", lambda p: Image.fromarray(p[:, :, 0].astype(np.float32) / 255, "F")),
        ("LA", lambda p: Image.fromarray(p[:, :, :2], "LA")),
        ("CMYK", lambda p: Image.fromarray(p).convert("CMYK")),
        ("YCbCr", lambda p: Image.fromarray(p).convert("YCbCr")),
    ],
)
def test_other_modes_are_converted_sensibly(mode: str, make) -> None:  # type: ignore[no-untyped-def]
    pixels = photo()
    source = make(pixels)
    assert source.mode == mode
    decoded = roundtrip(source, 16)
    assert decoded.size == source.size
    if mode in ("I;16", "I", "F"):  # 16-bit and float grey scale back to 0..255 grey
        assert decoded.info["palette_kind"] == "grey"
        assert metrics.psnr(pixels[:, :, 0], decoded.convert("L")) > 25


@pytest.mark.parametrize(
    "array",
    [
        photo()[:, :, 0],
        photo()[:, :, :1],
        photo()[:, :, :2],
        photo(),
        np.dstack([photo(), np.full((48, 64), 200, np.uint8)]),
        photo().astype(np.uint16) * 257,
        photo().astype(np.float64) / 255,
        photo()[:, :, 0] > 100,
    ],
    ids=["2d", "hw1", "hw2", "rgb", "rgba", "uint16", "float01", "bool"],
)
def test_numpy_arrays(array: np.ndarray) -> None:
    decoded = roundtrip(array, 16)
    assert decoded.size == (array.shape[1], array.shape[0])
    assert distinct(decoded) <= 16


def test_uint16_arrays_keep_their_high_byte() -> None:
    pixels = photo()
    assert metrics.psnr(pixels, roundtrip(pixels.astype(np.uint16) * 257, 64)) > 25


@pytest.mark.parametrize(
    "bad",
    [np.zeros((4, 4, 5), np.uint8), np.zeros((0, 4, 3), np.uint8), np.zeros((2, 2, 3), complex), "a string"],
    ids=["five-channels", "empty", "complex", "not-an-image"],
)
def test_bad_inputs_raise_kmzerror(bad: object) -> None:
    with pytest.raises(kmzcodec.KmzError):
        kmzcodec.encode(bad, 4)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        {"colors": 0},
        {"colors": 65537},
        {"colors": 2.5},
        {"colors": "many"},
        {"colors": True},
        {"method": "dbscan"},
        {"colorspace": "hsv"},
        {"compression": "gzip"},
        {"level": 12},
        {"colors": 8, "min_psnr": 30},
        {"colors": "auto", "min_psnr": 30, "max_bytes": 1000},
        {"colors": "auto", "min_ssim": 2.0},
        {"colors": "auto", "max_bytes": 10},
        {"colors": "auto", "min_psnr": "high"},
        {"colors": 300, "dither": True},
    ],
)
def test_bad_options_raise_kmzerror(options: dict) -> None:
    with pytest.raises(kmzcodec.KmzError):
        kmzcodec.encode(photo(), **options)


def test_dither_uses_pillow_floyd_steinberg() -> None:
    pixels = photo(64, 64)
    plain = kmzcodec.decode(kmzcodec.encode(pixels, 4))
    dithered = kmzcodec.decode(kmzcodec.encode(pixels, 4, dither=True))
    assert dithered.info["dither"] is True and plain.info["dither"] is False
    assert distinct(dithered) <= 4

    # Error diffusion keeps local averages: a blurred dithered image is closer to the
    # blurred original than a blurred plain one.
    def blur(values: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(values).resize((8, 8), Image.Resampling.BOX)).astype(float)

    original = blur(pixels)
    assert (
        np.abs(blur(np.asarray(dithered.convert("RGB"))) - original).mean()
        < np.abs(blur(np.asarray(plain.convert("RGB"))) - original).mean()
    )


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_dither_grey_and_rgba(mode: str) -> None:
    source = Image.fromarray(photo()).convert(mode)
    decoded = roundtrip(source, 4, dither=True)
    assert decoded.size == source.size and distinct(decoded) <= 4


def test_more_than_256_colours() -> None:
    pixels = photo(64, 96)
    decoded = roundtrip(pixels, 1000)
    assert decoded.mode == "RGB"
    assert decoded.info["colors"] <= 1000 and decoded.info["bits_per_index"] >= 9
    assert distinct(decoded) <= 1000
    assert metrics.psnr(pixels, decoded) > metrics.psnr(pixels, roundtrip(pixels, 256))


def test_auto_min_psnr_finds_the_smallest_k() -> None:
    pixels = photo()
    result = encode_details(pixels, "auto", min_psnr=30)
    k = result.colors
    assert kmzcodec.decode(result.data).info["colors"] == k
    assert metrics.psnr(pixels, kmzcodec.decode(result.data)) >= 30
    assert k == 1 or metrics.psnr(pixels, roundtrip(pixels, k - 1)) < 30


def test_auto_max_bytes_finds_the_largest_k() -> None:
    pixels = photo()
    result = encode_details(pixels, "auto", max_bytes=2500)
    assert len(result.data) <= 2500
    assert len(kmzcodec.encode(pixels, result.colors + 1)) > 2500


def test_auto_min_ssim() -> None:
    pixels = photo()
    result = encode_details(pixels, "auto", min_ssim=0.9)
    assert metrics.ssim(pixels, kmzcodec.decode(result.data)) >= 0.9


def test_auto_without_target_uses_the_elbow() -> None:
    result = encode_details(photo(), "auto")
    assert 2 <= result.colors <= 256
    assert kmzcodec.decode(result.data).info["colors"] == result.colors


def test_auto_on_an_image_with_few_colours_is_exact() -> None:
    pixels = np.zeros((10, 10, 3), np.uint8)
    pixels[5:] = 200
    result = encode_details(pixels, "auto", min_psnr=60)
    assert result.colors == 2 and result.quantized.method == "exact"


def test_save_writes_atomically_and_never_over_its_source(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "out.kmz"
    kmzcodec.save(photo(), target, 8)
    first = target.read_bytes()
    assert kmzcodec.decode(first).info["colors"] == 8

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(kmzcodec.fileio.os, "fsync", broken)  # disk full shows at fsync
    with pytest.raises(OSError):
        kmzcodec.save(photo(seed=2), target, 8)
    monkeypatch.undo()
    assert target.read_bytes() == first  # the previous file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.kmz"]  # no temporary left

    with pytest.raises(FileExistsError):
        kmzcodec.save(photo(), target, 8, overwrite=False)
    source = tmp_path / "source.png"
    Image.fromarray(photo()).save(source)
    with Image.open(source) as opened, pytest.raises(ValueError):
        kmzcodec.save(opened, source, 8)  # never over the image's own file
    assert Image.open(source).format == "PNG"
