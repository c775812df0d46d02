"""kmzcodec.encode and the quantizer: methods, colour spaces, modes, dither, auto K, exactness."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest
from PIL import Image

import kmzcodec
from kmzcodec import autok, metrics, pixels, quantize
from kmzcodec.encoder import encode_details
from kmzcodec.options import COLORSPACES
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
@pytest.mark.parametrize("colorspace", COLORSPACES)
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
@pytest.mark.parametrize("colorspace", ["rgb", "oklab", "hsv"])
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
    for options in ({}, {"method": "gmm"}, {"dither": True}, {"colorspace": "oklab"}, {"colorspace": "hsv"}):
        assert kmzcodec.encode(pixels, 16, **options) == kmzcodec.encode(pixels, 16, **options)


def test_options_are_checked_even_when_a_palette_image_needs_no_quantizing() -> None:
    source = Image.fromarray(photo()).quantize(8)
    with pytest.raises(kmzcodec.KmzError):
        kmzcodec.encode(source, 16, method="bogus")


@pytest.mark.parametrize("method", ["kmeans", "gmm"])
def test_seed_is_an_option(method: str) -> None:
    """The seed reaches the clustering (other seeds, other palettes), the same seed gives
    the same bytes, and leaving it out is the documented default seed."""
    pixels = photo(seed=5)
    files = {seed: kmzcodec.encode(pixels, 8, method=method, seed=seed) for seed in range(4)}
    palettes = {tuple(kmzcodec.decode(data).getpalette() or ()) for data in files.values()}
    assert len(palettes) > 1
    assert all(kmzcodec.encode(pixels, 8, method=method, seed=seed) == data for seed, data in files.items())
    default = inspect.signature(kmzcodec.encode).parameters["seed"].default
    unseeded = kmzcodec.encode(pixels, 8, method=method)
    assert unseeded == kmzcodec.encode(pixels, 8, method=method, seed=default)
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
    ("array", "expected"),
    [
        (photo()[:, :, 0], photo()[:, :, 0]),
        (photo()[:, :, :1], photo()[:, :, 0]),
        (photo()[:, :, :2], np.dstack([photo()[:, :, [0, 0, 0]], photo()[:, :, 1]])),
        (photo(), photo()),
        (
            np.dstack([photo(), np.full((48, 64), 200, np.uint8)]),
            np.dstack([photo(), np.full((48, 64), 200)]),
        ),
        (photo().astype(np.uint16) * 257, photo()),
        (photo().astype(np.float64) / 255, photo()),
        (photo()[:, :, 0] > 100, (photo()[:, :, 0] > 100) * 255),
    ],
    ids=["2d", "hw1", "hw2", "rgb", "rgba", "uint16", "float01", "bool"],
)
def test_numpy_arrays(array: np.ndarray, expected: np.ndarray) -> None:
    decoded = roundtrip(array, 16)
    assert decoded.size == (array.shape[1], array.shape[0])
    assert distinct(decoded) <= 16
    # Read as the 8-bit picture it holds (the same bytes), and quantized well: not black.
    assert kmzcodec.encode(array, 16) == kmzcodec.encode(expected.astype(np.uint8), 16)
    mode = "L" if expected.ndim == 2 else {3: "RGB", 4: "RGBA"}[expected.shape[2]]
    assert metrics.psnr(expected.astype(np.uint8), decoded.convert(mode)) > 20


#: dtype -> (samples, what each becomes): the type's range, never the values present.
SCALING = {
    np.bool_: ([False, True], [0, 255]),
    np.uint8: ([0, 1, 254, 255], [0, 1, 254, 255]),
    np.uint16: ([0, 255, 256, 32768, 65535], [0, 0, 1, 128, 255]),
    np.uint32: ([0, 2**24 - 1, 2**24, 2**32 - 1], [0, 0, 1, 255]),
    np.uint64: ([0, 2**56 - 1, 2**56, 2**64 - 1], [0, 0, 1, 255]),
    np.int8: ([-128, -1, 0, 1, 64, 127], [0, 0, 0, 2, 129, 255]),
    np.int16: ([-32768, -1, 0, 127, 128, 32767], [0, 0, 0, 0, 1, 255]),
    np.int32: ([-(2**31), 0, 2**23 - 1, 2**23, 2**31 - 1], [0, 0, 0, 1, 255]),
    np.int64: ([-(2**63), 0, 2**55, 2**63 - 1], [0, 0, 1, 255]),
    np.float16: (
        [-0.5, 0.0, 0.25, 0.5, 1.0, 1.01, np.nan, np.inf, -np.inf],
        [0, 0, 64, 128, 255, 255, 0, 255, 0],
    ),
    np.float32: (
        [-0.5, 0.0, 0.25, 0.5, 1.0, 1.01, np.nan, np.inf, -np.inf],
        [0, 0, 64, 128, 255, 255, 0, 255, 0],
    ),
    np.float64: (
        [-0.5, 0.0, 0.25, 0.5, 1.0, 1.01, np.nan, np.inf, -np.inf],
        [0, 0, 64, 128, 255, 255, 0, 255, 0],
    ),
}


@pytest.mark.parametrize("dtype", SCALING, ids=lambda dtype: np.dtype(dtype).name)
def test_samples_scale_by_their_type(dtype: type) -> None:
    samples, expected = SCALING[dtype]
    scaled = pixels.from_array(np.array([samples], dtype=dtype))
    assert scaled.dtype == np.uint8 and scaled[0, :, 0].tolist() == expected


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (np.full((4, 4), 255, np.uint16), 256),  # max 255 used to be read as 8-bit, 256 as 16-bit
        (np.full((4, 4), 1.0), 1.01),  # a float image of 1.0s is white; a Lanczos overshoot made it black
        (np.full((4, 4), 0.5, np.float32), 255.0),  # floats are 0..1 whatever the largest value
        (np.full((4, 4), 100, np.int32), 70000),
    ],
    ids=["uint16-255-vs-256", "float-1.0-vs-1.01", "float-0..255", "int32"],
)
def test_one_sample_cannot_change_how_the_others_are_read(before: np.ndarray, after: float) -> None:
    changed = before.copy()
    changed[0, 0] = after
    assert (pixels.from_array(changed)[1:] == pixels.from_array(before)[1:]).all()
    assert len(np.unique(pixels.from_array(before))) == 1


def test_scaling_matches_scikit_image() -> None:
    skimage_util = pytest.importorskip("skimage.util")
    rng = np.random.default_rng(7)
    for dtype in (np.uint16, np.uint32, np.uint64, np.int8, np.int16, np.int32, np.int64):
        info = np.iinfo(dtype)
        values = rng.integers(info.min, info.max, (16, 16), dtype=dtype, endpoint=True)
        values[0, :2] = info.min, info.max  # full range: scikit-image then scales by type too
        assert (pixels.from_array(values)[:, :, 0] == skimage_util.img_as_ubyte(values)).all(), dtype
    for dtype in (np.float16, np.float32, np.float64):
        values = np.linspace(-1, 1, 20001).astype(dtype).reshape(1, -1)
        assert (pixels.from_array(values)[:, :, 0] == skimage_util.img_as_ubyte(values)).all(), dtype


@pytest.mark.parametrize(
    ("make", "value_range", "expected"),
    [
        (lambda: np.array([[0, 2048, 4095, 5000]], np.uint16), (0, 4095), [0, 128, 255, 255]),  # 12-bit data
        (lambda: np.array([[0.0, 127.5, 255.0, np.nan]]), (0, 255), [0, 128, 255, 0]),  # floats on 0..255
        (lambda: np.array([[-1.0, 0.0, 1.0]], np.float32), (-1, 1), [0, 128, 255]),
        (lambda: np.array([[-100, 0, 100]], np.int16), (-100, 100), [0, 128, 255]),
        (lambda: Image.fromarray(np.array([[0, 2048, 4095]], np.uint16)), (0, 4095), [0, 128, 255]),
        (lambda: Image.fromarray(np.array([[0, 128, 255]], np.int32), "I"), (0, 255), [0, 128, 255]),
        (lambda: Image.fromarray(np.array([[10.0, 20.0]], np.float32), "F"), (10, 20), [0, 255]),
    ],
    ids=["uint16-12bit", "float-0..255", "float-signed", "int16", "I;16", "I-from-8-bit", "F"],
)
def test_value_range_says_otherwise(make, value_range: tuple[float, float], expected: list[int]) -> None:  # type: ignore[no-untyped-def]
    source = make()
    assert pixels.to_pixels(source, value_range)[0, :, 0].tolist() == expected
    decoded = roundtrip(source, 16, value_range=value_range)
    assert np.asarray(decoded.convert("L"))[0].tolist() == expected


@pytest.mark.parametrize(
    "make",
    [
        lambda: photo(),
        lambda: photo()[:, :, 0] > 100,
        lambda: Image.fromarray(photo()),
        lambda: Image.fromarray(photo()[:, :, 0]),
        lambda: Image.fromarray(photo()).quantize(8),  # fits K: would be stored as it is
        lambda: Image.fromarray(photo()[:, :, 0] > 100),
    ],
    ids=["uint8", "bool", "RGB", "L", "P", "1"],
)
def test_value_range_is_refused_for_8_bit_input(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(kmzcodec.KmzError) as caught:
        kmzcodec.encode(make(), 16, value_range=(0, 4095))
    assert caught.value.reason == "bad-option" and "8-bit" in str(caught.value)


def test_pillow_deep_modes() -> None:
    # "I;16" and "I" are 16-bit data (values above 65535 clip), "F" is 0..1.
    levels = np.array([[0, 255, 256, 65535, 70000]])
    assert pixels.to_pixels(Image.fromarray(levels[:, :4].astype(np.uint16)))[0, :, 0].tolist() == [
        0,
        0,
        1,
        255,
    ]
    assert pixels.to_pixels(Image.fromarray(levels.astype(np.int32), "I"))[0, :, 0].tolist() == [
        0,
        0,
        1,
        255,
        255,
    ]
    floats = Image.fromarray(np.array([[0.0, 0.5, 1.0, 1.01]], np.float32), "F")
    assert pixels.to_pixels(floats)[0, :, 0].tolist() == [0, 128, 255, 255]


def test_a_16_bit_file_pillow_opens_as_mode_i_reads_as_16_bit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Pillow opens 16-bit PGM files (and, before Pillow 10.3, 16-bit PNGs) as mode "I".
    levels = (photo()[:, :, 0].astype(np.uint16) * 257).astype(np.uint16)
    Image.fromarray(levels).save(tmp_path / "deep.pgm")
    with Image.open(tmp_path / "deep.pgm") as opened:
        assert opened.mode == "I"
        assert (pixels.to_pixels(opened) == pixels.from_array(levels)).all()
        assert kmzcodec.encode(opened, 16) == kmzcodec.encode(levels, 16)


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
        {"colorspace": "hsl"},
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


def test_dither_diffuses_the_error() -> None:
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


def _block_means(image: Image.Image, mode: str, side: int = 8) -> np.ndarray:
    """Mean of each channel over side x side blocks: the colour of each region."""
    values = np.asarray(image.convert(mode), dtype=np.float64)
    values = values.reshape(values.shape[0], values.shape[1], -1)
    height, width, channels = values.shape
    return values.reshape(height // side, side, width // side, side, channels).mean(axis=(1, 3))


@pytest.mark.parametrize(
    "mode",
    [
        "L",
        "RGBA",
    ],
)
def test_dither_grey_and_rgba(mode: str) -> None:
    """Error diffusion keeps the colour of the image and of each region (an all-black or
    one-entry result fails), and regions are closer than without dithering."""
    source = Image.fromarray(photo()).convert(mode)
    plain = roundtrip(source, 4)
    dithered = roundtrip(source, 4, dither=True)
    assert dithered.size == source.size and distinct(dithered) <= 4
    assert dithered.info["dither"] is True
    assert distinct(dithered) >= 3  # several entries used, not one
    original = _block_means(source, mode)
    mean_colour = _block_means(dithered, mode).mean(axis=(0, 1))
    # Error is diffused on sRGB values raised to diffusion.WORKING_GAMMA (nearer light than sRGB
    # is), so the sRGB mean may drift by a few levels at K = 4; an all-black result is 100 off.
    np.testing.assert_allclose(mean_colour, original.mean(axis=(0, 1)), atol=4)
    error = np.abs(_block_means(dithered, mode) - original).mean()
    assert error < 0.8 * np.abs(_block_means(plain, mode) - original).mean()


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


def test_auto_min_ssim_finds_the_smallest_k() -> None:
    pixels = photo()
    result = encode_details(pixels, "auto", min_ssim=0.9)
    k = result.colors
    assert kmzcodec.decode(result.data).info["colors"] == k
    assert metrics.ssim(pixels, kmzcodec.decode(result.data)) >= 0.9
    assert k > 1 and metrics.ssim(pixels, roundtrip(pixels, k - 1)) < 0.9


def test_auto_without_target_uses_the_elbow() -> None:
    """The K chosen is metrics.elbow of the SSIM curve measured here, through the public API."""
    pixels = photo()
    ks = [k for k in autok.ELBOW_KS if k <= distinct(Image.fromarray(pixels))]
    assert ks == list(autok.ELBOW_KS)  # the photo has more colours than the largest K
    curve = [metrics.ssim(pixels, roundtrip(pixels, k)) for k in ks]
    expected = metrics.elbow(ks, curve)
    assert ks[0] < expected < ks[-1]  # a real bend, not elbow's fallback to an end
    result = encode_details(pixels, "auto")
    assert result.colors == expected
    assert kmzcodec.decode(result.data).info["colors"] == expected


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


@pytest.mark.parametrize("options", [{"dither": True}, {"method": "gmm"}])
def test_auto_with_a_colour_cap_says_when_the_target_is_out_of_reach(options: dict) -> None:
    """Dithering and GMM take at most 256 colours: a target only more colours reach is refused
    in one clear error (not the error of a K = 512 the search would try next)."""
    noise = np.random.default_rng(3).integers(0, 256, (40, 40, 3), dtype=np.uint8)  # 1,600 colours
    with pytest.raises(kmzcodec.KmzError, match="out of reach .* at most 256 colours") as caught:
        kmzcodec.encode(noise, "auto", min_psnr=60, **options)
    assert caught.value.reason == "unreachable-target"  # valid options; this image cannot meet them
    reachable = encode_details(noise, "auto", min_psnr=15, **options)  # a target within reach still works
    assert reachable.colors <= 256


def test_auto_targets_hold_for_the_file_written_with_the_knob() -> None:
    """With quality below 100, each K the auto search tries is judged as it is written (knob
    applied): K was chosen without the knob, and the file written after it could exceed
    max_bytes (a random 5x13 image, dither 0.5, quality 60: 126 bytes for max_bytes=124)."""
    over = []
    for seed in range(4):
        noise = np.random.default_rng(seed).integers(0, 256, (13, 5, 3), dtype=np.uint8)
        for quality, dither in ((53, True), (30, False), (60, 0.5)):
            for max_bytes in range(64, 140, 6):
                data = kmzcodec.encode(noise, "auto", max_bytes=max_bytes, quality=quality, dither=dither)
                if len(data) > max_bytes:
                    over.append((seed, quality, dither, max_bytes, len(data)))
    assert not over
    photo = np.random.default_rng(9).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    knobbed = encode_details(photo, "auto", min_psnr=20, quality=40)
    assert metrics.psnr(photo, kmzcodec.decode(knobbed.data)) >= 20
