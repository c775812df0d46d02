"""The size/quality knob, encode(quality=...) (issue 12.2; kmzcodec/ratedistortion.py).

Quality 100 is today's encoder; lower quality gives smaller files and larger
error, and every pixel stays within the documented bound of its nearest entry.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from images import photo
from PIL import Image

import kmzcodec
from kmzcodec import cli, container, metrics, ratedistortion
from kmzcodec.encoder import encode_details
from kmzcodec.format import ColorSpace, Method
from kmzcodec.quantize import Quantizer

QUALITIES = (100, 90, 75, 50, 25, 0)


def squared_errors(pixels: np.ndarray, palette: np.ndarray, indices: np.ndarray) -> np.ndarray:
    return ((pixels.astype(np.float64) - palette[indices].astype(np.float64)) ** 2).sum(axis=-1)


def assert_within_bound(pixels: np.ndarray, quality: int, colors: int = 32) -> None:
    nearest = encode_details(pixels, colors).quantized
    traded = encode_details(pixels, colors, quality=quality).quantized
    assert np.array_equal(traded.palette, nearest.palette)
    bound = (1 + ratedistortion.tolerance(quality)) * squared_errors(pixels, nearest.palette, nearest.indices)
    assert (squared_errors(pixels, traded.palette, traded.indices) <= bound + 1e-9).all()
    assert not np.array_equal(traded.indices, nearest.indices)  # the knob did something


def test_quality_100_is_todays_encoder() -> None:
    pixels = photo()
    quantized = Quantizer(pixels).quantize(64)
    today = container.write(
        quantized.palette, quantized.indices, method=Method.KMEANS, colorspace=ColorSpace.RGB
    )
    assert kmzcodec.encode(pixels, 64, quality=100) == kmzcodec.encode(pixels, 64) == today
    assert ratedistortion.trade(pixels, quantized.palette, quantized.indices, 100) is quantized.indices


def test_lower_quality_is_smaller_and_worse_monotonically() -> None:
    pixels = photo()
    sizes, errors = [], []
    for quality in QUALITIES:
        data = kmzcodec.encode(pixels, 64, quality=quality)
        decoded = np.asarray(kmzcodec.decode(data).convert("RGB"))
        sizes.append(len(data))
        errors.append(float(((decoded.astype(np.float64) - pixels) ** 2).mean()))
    assert all(later < earlier for earlier, later in zip(sizes, sizes[1:], strict=False)), sizes
    assert all(later > earlier for earlier, later in zip(errors, errors[1:], strict=False)), errors
    assert sizes[-1] < 0.8 * sizes[0]


@pytest.mark.parametrize("quality", [90, 50, 0])
def test_every_pixel_is_within_the_bound(quality: int) -> None:
    assert_within_bound(photo(), quality)


def test_the_bound_is_the_documented_one() -> None:
    assert ratedistortion.tolerance(100) == 0
    assert ratedistortion.tolerance(75) == pytest.approx(ratedistortion.MAX_RELATIVE / 4)
    assert ratedistortion.bit_cost(100) == 0
    assert ratedistortion.tolerance(0) == ratedistortion.MAX_RELATIVE


def test_same_input_same_bytes() -> None:
    pixels = photo()
    assert kmzcodec.encode(pixels, 48, quality=60) == kmzcodec.encode(pixels.copy(), 48, quality=60)


def test_grey() -> None:
    grey = photo()[:, :, 1:2]
    assert_within_bound(grey, 40, colors=16)
    assert len(kmzcodec.encode(grey[:, :, 0], 16, quality=40)) < len(kmzcodec.encode(grey[:, :, 0], 16))


def test_rgba_keeps_each_pixels_alpha_class() -> None:
    pixels = np.dstack([photo(), np.full(photo().shape[:2], 255, np.uint8)])
    pixels[:, :40, 3] = 0  # transparent
    pixels[20:60, 30:90, 3] = 128  # translucent, across the edge of the transparent part
    nearest = encode_details(pixels, 32).quantized
    traded = encode_details(pixels, 32, quality=0).quantized
    assert not np.array_equal(traded.indices, nearest.indices)
    classes = ratedistortion.alpha_class
    assert np.array_equal(
        classes(traded.palette[traded.indices, 3]), classes(nearest.palette[nearest.indices, 3])
    )
    assert (traded.palette[traded.indices[:, :30], 3] == 0).all()


def test_an_exact_image_stays_exact() -> None:
    pixels = photo() // 64 * 64  # 64 colours at most
    data = kmzcodec.encode(pixels, 64, quality=0)
    assert np.array_equal(np.asarray(kmzcodec.decode(data).convert("RGB")), pixels)


def test_a_given_palette() -> None:
    pixels = photo()
    palette = kmzcodec.fit_palette([pixels], 24)
    nearest = encode_details(pixels, palette=palette).quantized
    traded = encode_details(pixels, palette=palette, quality=30).quantized
    assert np.array_equal(traded.palette, palette.entries)
    bound = (1 + ratedistortion.tolerance(30)) * squared_errors(pixels, nearest.palette, nearest.indices)
    assert (squared_errors(pixels, traded.palette, traded.indices) <= bound + 1e-9).all()
    assert len(kmzcodec.encode(pixels, palette=palette, quality=30)) < len(
        kmzcodec.encode(pixels, palette=palette)
    )


def test_auto_k_with_the_knob() -> None:
    """The auto search judges each K with the knob applied: the target holds for the file
    written, which is smaller than without the knob."""
    pixels = photo()
    full = encode_details(pixels, "auto", min_psnr=30)
    traded = encode_details(pixels, "auto", min_psnr=30, quality=50)
    assert metrics.psnr(pixels, kmzcodec.decode(traded.data)) >= 30
    assert traded.colors >= full.colors  # the knob's error is paid for with colours, if at all
    assert len(traded.data) < len(full.data)
    assert traded.data == kmzcodec.encode(pixels, traded.colors, quality=50)


def test_the_plugin_takes_quality() -> None:
    image = Image.fromarray(photo())
    small, full = io.BytesIO(), io.BytesIO()
    image.save(small, format="KMZ", colors=32, quality=40)
    image.save(full, format="KMZ", colors=32)
    assert len(small.getvalue()) < len(full.getvalue())


def test_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "photo.png"
    Image.fromarray(photo()).save(source)
    full, small = tmp_path / "full.kmz", tmp_path / "small.kmz"
    assert cli.main(["encode", str(source), "-o", str(full), "-k", "32"]) == 0
    assert cli.main(["encode", str(source), "-o", str(small), "-k", "32", "--quality", "40"]) == 0
    assert small.stat().st_size < full.stat().st_size
    assert small.read_bytes() == kmzcodec.encode(np.asarray(Image.open(source)), 32, quality=40)
    capsys.readouterr()
    assert cli.main(["encode", str(source), "-o", str(tmp_path / "x.kmz"), "--quality", "101"]) != 0
    assert "quality must be an integer from 0 to 100" in capsys.readouterr().err
    assert not (tmp_path / "x.kmz").exists()
