"""Every public option, given a wrong type and a wrong value, raises KmzError "bad-option" (issue 11).

Never a TypeError, never an error from NumPy or scikit-learn: the options are
checked in one place (kmzcodec/options.py) before any work is done. The table
below must cover every keyword of kmzcodec.encode, so an option added there
without a line here fails test_the_table_covers_every_encode_option.
"""

from __future__ import annotations

import inspect
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import kmzcodec
from kmzcodec import container, options, quantize
from kmzcodec.encoder import encode_details
from kmzcodec.format import Compression

#: option -> (wrong types, wrong values). A value that is wrong only together with another
#: option is given as a dict of both (dither with K = 300, GMM with K = 9000).
TABLE: dict[str, tuple[list[Any], list[Any]]] = {
    "colors": (["many", 2.5, True, None, [16], np.float64(16)], [0, -1, 65537, np.int64(70000)]),
    "method": ([None, 1, ["kmeans"]], ["dbscan", "KMEANS", "", {"colors": 9000, "method": "gmm"}]),
    "colorspace": ([None, 3, b"rgb"], ["hsl", "HSV", "RGB"]),
    "dither": (["yes", None, [1], b"1"], [{"colors": 300, "dither": True}, -0.1, 1.5, math.nan, 2]),
    "seed": (["1", 1.0, True, None], [-1, 2**32, np.int64(-5)]),
    "compression": (
        [None, 1.5, 1, b"zlib", Compression],
        ["gzip", "ZLIB", "", "Smallest", {"compression": "smallest", "level": 9}],
    ),
    "level": (["9", 6.5, True], [10, -1, np.int8(-1)]),
    "bits_per_index": (["8", 8.0, True], [0, 17]),
    "min_psnr": (["high", True, [30]], [math.nan, math.inf, -math.inf]),
    "min_ssim": (["0.9", True, [0.9]], [0, 0.0, -0.5, 1.5, math.nan]),
    "min_ssimulacra2": (
        ["90", True, [90]],
        [math.nan, math.inf, -math.inf, 100.5, {"min_ssimulacra2": 50, "min_ssim": 0.9}],
    ),
    "max_bytes": (["1000", 1000.0, True], [0, -5]),
    "value_range": (
        ["0..4095", 4095, (0, "x"), (True, 5), {0: 1, 1: 2}],
        [(5, 5), (10, 0), (0, math.inf), (0, math.nan), (0, 1, 2), ()],
    ),
    "quality": (["90", 90.0, True, None, [90]], [-1, 101, np.int64(1000)]),
    "palette": (
        [5, b"#000000", 1.5, True],
        [
            np.zeros((0, 3)),
            [[1, 2]],
            np.full((2, 3), 300),
            "/nonexistent/palette.gpl",
            {"palette": [[0, 0, 0], [9, 9, 9]], "colors": 16},
            {"palette": [[0, 0, 0], [9, 9, 9]], "colors": "auto"},
            {"palette": [[0, 0, 0], [9, 9, 9]], "method": "gmm"},
        ],
    ),
}
#: Options that only mean something with colors="auto": their bad values are tried
#: there, so that the error is about the value and not about the missing "auto".
AUTO_ONLY = {"min_psnr", "min_ssim", "min_ssimulacra2", "max_bytes"}


def _cases() -> list[Any]:
    cases = []
    for name, (types, values) in TABLE.items():
        for kind, wrongs in (("type", types), ("value", values)):
            for number, wrong in enumerate(wrongs):
                given = dict(wrong) if isinstance(wrong, dict) and name != "value_range" else {name: wrong}
                if name in AUTO_ONLY:
                    given.setdefault("colors", "auto")
                cases.append(pytest.param(given, id=f"{name}-{kind}-{number}"))
    return cases


CASES = _cases()


def picture() -> np.ndarray:
    """16-bit RGB with many colours, so no option is moot (value_range applies, K < colours)."""
    rng = np.random.default_rng(11)
    return rng.integers(0, 65536, (24, 32, 3), dtype=np.uint16)


def split(given: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    keywords = dict(given)
    return keywords.pop("colors", 16), keywords


def check(caught: pytest.ExceptionInfo[kmzcodec.KmzError]) -> None:
    assert caught.value.reason == "bad-option", caught.value
    assert str(caught.value)


# --------------------------------------------------------------------------- the table is complete


def test_the_table_covers_every_encode_option() -> None:
    keywords = set(inspect.signature(kmzcodec.encode).parameters) - {"image"}
    assert set(TABLE) == keywords
    assert set(inspect.signature(encode_details).parameters) == set(
        inspect.signature(kmzcodec.encode).parameters
    )
    for name, (types, values) in TABLE.items():
        assert types and values, f"{name} needs a wrong type and a wrong value"


def test_the_plugin_takes_every_encode_option() -> None:
    assert set(kmzcodec.plugin.SAVE_OPTIONS) == set(TABLE)


# --------------------------------------------------------------------------- every way in


@pytest.mark.parametrize("given", CASES)
def test_encode(given: dict[str, Any]) -> None:
    colors, keywords = split(given)
    with pytest.raises(kmzcodec.KmzError) as caught:
        kmzcodec.encode(picture(), colors, **keywords)
    check(caught)


@pytest.mark.parametrize("given", CASES)
def test_encode_details(given: dict[str, Any]) -> None:
    colors, keywords = split(given)
    with pytest.raises(kmzcodec.KmzError) as caught:
        encode_details(Image.fromarray(picture()[:, :, 0]), colors, **keywords)
    check(caught)


@pytest.mark.parametrize("given", CASES)
def test_save(given: dict[str, Any], tmp_path: Path) -> None:
    colors, keywords = split(given)
    target = tmp_path / "out.kmz"
    with pytest.raises(kmzcodec.KmzError) as caught:
        kmzcodec.save(picture(), target, colors, **keywords)
    check(caught)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("given", CASES)
def test_plugin_save(given: dict[str, Any], tmp_path: Path) -> None:
    # Pillow's convention for a bad save parameter is ValueError: KmzError is one.
    image = Image.fromarray(picture()[:, :, 0])
    with pytest.raises(kmzcodec.KmzError) as caught:
        image.save(io.BytesIO(), format="KMZ", **given)
    check(caught)
    with pytest.raises(ValueError):
        image.save(tmp_path / "out.kmz", **given)
    assert list(tmp_path.iterdir()) == []  # Pillow removes the file it created


@pytest.mark.parametrize(
    ("path", "extra"),
    [
        (None, {}),
        (3, {}),
        (b"x.kmz", {}),
        ("x.kmz", {"overwrite": "no"}),
        ("x.kmz", {"overwrite": None}),
        ("x.kmz", {"colours": 16}),
        ("x.kmz", {"max_pixels": 100}),
    ],  # fmt: skip
    ids=["path-none", "path-int", "path-bytes", "overwrite-str", "overwrite-none", "unknown", "decode-only"],
)
def test_save_own_options(
    path: Any, extra: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(kmzcodec.KmzError) as caught:
        kmzcodec.save(picture(), path, 16, **extra)
    check(caught)
    assert list(tmp_path.iterdir()) == []


def test_save_options_are_all_tried() -> None:
    own = set(inspect.signature(kmzcodec.save).parameters) - {"image", "options"}
    assert own == {"path", "colors", "overwrite"}  # colors: the table; path, overwrite: above


@pytest.mark.parametrize("limit", ["100", 100.0, True, [100], 0, -1], ids=str)
def test_decode_max_pixels(limit: Any) -> None:
    data = kmzcodec.encode(picture(), 4)
    with pytest.raises(kmzcodec.KmzError) as caught:
        kmzcodec.decode(data, max_pixels=limit)
    check(caught)


@pytest.mark.parametrize("data", ["a string", None, 3, Path("x.kmz")], ids=str)
def test_decode_data_that_is_not_bytes(data: Any) -> None:
    with pytest.raises(kmzcodec.KmzError) as caught:
        kmzcodec.decode(data)
    assert caught.value.reason == "bad-input"


def test_decode_accepts_good_limits_and_buffers() -> None:
    data = kmzcodec.encode(picture(), 4)
    for limit in (None, 768, np.int64(768), 2**40):
        assert kmzcodec.decode(data, max_pixels=limit).size == (32, 24)
    assert kmzcodec.decode(bytearray(data)).size == kmzcodec.decode(np.frombuffer(data, np.uint8)).size


# --------------------------------------------------------------------------- particular promises


def test_gmm_says_where_its_limit_is() -> None:
    with pytest.raises(kmzcodec.KmzError) as caught:
        kmzcodec.encode(picture(), 9000, method="gmm")
    assert str(options.GMM_MAX_COLORS) in str(caught.value) and "kmeans" in str(caught.value)
    assert kmzcodec.decode(kmzcodec.encode(picture(), options.GMM_MAX_COLORS, method="gmm")).size == (32, 24)


def test_the_quantizer_keeps_the_gmm_limit_too() -> None:
    # colors="auto" searches K through the Quantizer: past the limit it gets our error, not sklearn's.
    quantizer = quantize.Quantizer((picture() >> 8).astype(np.uint8), method="gmm")
    with pytest.raises(kmzcodec.KmzError) as caught:
        quantizer.quantize(options.GMM_MAX_COLORS + 1)
    check(caught)


def test_options_are_checked_before_the_image_is_looked_at() -> None:
    with pytest.raises(kmzcodec.KmzError) as caught:
        kmzcodec.encode("not an image", 16, compression=None)  # type: ignore[arg-type]
    check(caught)


@pytest.mark.parametrize("compression", [None, 1.5, 1, "ZLIB", b"zlib"], ids=str)
def test_the_writer_takes_only_compression_names_and_members(compression: Any) -> None:
    palette, indices = np.array([[0], [255]], np.uint8), np.array([[0, 1], [1, 0]], np.uint8)
    with pytest.raises(kmzcodec.KmzError) as caught:
        container.write(palette, indices, compression=compression)
    check(caught)
    for good in (*options.COMPRESSIONS, *Compression):
        assert kmzcodec.decode(container.write(palette, indices, compression=good)).size == (2, 2)


def test_numpy_scalars_and_sequences_are_accepted() -> None:
    pixels = picture()
    plain = kmzcodec.encode(pixels, 8, seed=3, level=6, bits_per_index=4, dither=True, value_range=(0, 65535))
    numpy = kmzcodec.encode(
        pixels,
        np.int16(8),
        seed=np.uint32(3),
        level=np.int64(6),
        bits_per_index=np.uint8(4),
        dither=np.bool_(True),
        value_range=np.array([0, 65535]),
    )
    assert numpy == plain
    assert kmzcodec.encode(pixels, 8, value_range=[0.0, 65535.0]) == kmzcodec.encode(
        pixels, 8, value_range=(0, 65535)
    )
    assert kmzcodec.encode(pixels, 8, compression=Compression.LZMA) == kmzcodec.encode(
        pixels, 8, compression="lzma"
    )


def test_good_auto_targets_pass_the_checks() -> None:
    pixels = picture()[:8, :8]
    for target in ({"min_psnr": 20}, {"min_psnr": np.float32(20)}, {"max_bytes": np.int64(10_000)}):
        assert kmzcodec.decode(kmzcodec.encode(pixels, "auto", **target)).size == (8, 8)
