"""The size/quality knob with dithering: encode(dither=S, quality=Q) (issue 12.2, "plain or dithered").

Dithered, the knob works inside the error diffusion (kmzcodec.diffusion.knob).
A dithered image is judged by its local averages (the eye blurs the noise), so
the error that must grow as quality falls is that of the low-pass difference;
pixel by pixel, dropping small errors can even bring pixels nearer.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from images import photo
from PIL import Image
from scipy import ndimage

import kmzcodec
from kmzcodec import cli, diffusion, metrics
from kmzcodec.encoder import encode_details

QUALITIES = (100, 90, 75, 50, 25, 0)


def low_pass_error(pixels: np.ndarray, data: bytes) -> float:
    """Mean squared error of the 5 x 5 local means: what is left of the error once the eye blurs it."""
    decoded = np.asarray(kmzcodec.decode(data).convert("RGB")).astype(np.float64)
    return float((ndimage.uniform_filter(decoded - pixels, size=(5, 5, 1)) ** 2).mean())


@pytest.mark.parametrize(("colors", "strength"), [(16, True), (64, True), (64, 0.5)])
def test_lower_quality_is_smaller_and_worse_monotonically(colors: int, strength: float) -> None:
    pixels = photo()
    sizes, errors = [], []
    for quality in QUALITIES:
        data = kmzcodec.encode(pixels, colors, dither=strength, quality=quality)
        sizes.append(len(data))
        errors.append(low_pass_error(pixels, data))
    assert all(later < earlier for earlier, later in zip(sizes, sizes[1:], strict=False)), sizes
    assert all(later > earlier for earlier, later in zip(errors, errors[1:], strict=False)), errors
    assert sizes[-1] < 0.8 * sizes[0]


def test_quality_100_is_the_dithered_encoder_and_the_knob_is_off() -> None:
    pixels = photo()
    assert kmzcodec.encode(pixels, 32, dither=True, quality=100) == kmzcodec.encode(pixels, 32, dither=True)
    assert diffusion.knob(100) == (0.0, diffusion.MIN_ERROR)
    relative, min_error = diffusion.knob(0)
    assert relative == diffusion.KNOB_RELATIVE and min_error == diffusion.KNOB_MIN_ERROR


def test_the_palette_stays_and_the_file_says_dithered() -> None:
    pixels = photo()
    full = encode_details(pixels, 32, dither=True).quantized
    traded = encode_details(pixels, 32, dither=True, quality=40).quantized
    assert traded.dithered and np.array_equal(traded.palette, full.palette)
    assert not np.array_equal(traded.indices, full.indices)
    assert kmzcodec.decode(kmzcodec.encode(pixels, 32, dither=True, quality=40)).info["dither"] is True


@pytest.mark.parametrize("off", [False, 0.0])
def test_strength_zero_with_the_knob_is_the_undithered_knob(off: object) -> None:
    pixels = photo()
    assert kmzcodec.encode(pixels, 32, dither=off, quality=60) == kmzcodec.encode(pixels, 32, quality=60)


def test_same_input_same_bytes() -> None:
    pixels = photo()
    first = kmzcodec.encode(pixels, 48, dither=0.7, quality=60)
    assert first == kmzcodec.encode(pixels.copy(), 48, dither=0.7, quality=60)


def test_an_exact_image_stays_exact() -> None:
    pixels = photo() // 64 * 64  # 64 colours at most: stored exactly, nothing to dither
    data = kmzcodec.encode(pixels, 64, dither=True, quality=0)
    assert np.array_equal(np.asarray(kmzcodec.decode(data).convert("RGB")), pixels)


def test_rgba_transparency_is_kept() -> None:
    pixels = np.dstack([photo(), np.full(photo().shape[:2], 255, np.uint8)])
    pixels[:, :40, 3] = 0
    data = kmzcodec.encode(pixels, 32, dither=True, quality=20)
    assert len(data) < len(kmzcodec.encode(pixels, 32, dither=True))
    decoded = np.asarray(kmzcodec.decode(data).convert("RGBA"))
    assert (decoded[:, :40, 3] == 0).all() and (decoded[:, 40:, 3] == 255).all()


def test_a_given_palette_and_auto_k() -> None:
    pixels = photo()
    palette = kmzcodec.fit_palette([pixels], 24)
    given = kmzcodec.encode(pixels, palette=palette, dither=True, quality=30)
    assert len(given) < len(kmzcodec.encode(pixels, palette=palette, dither=True))
    full = encode_details(pixels, "auto", min_psnr=30, dither=True)
    traded = encode_details(pixels, "auto", min_psnr=30, dither=True, quality=50)
    # K is searched with the knob applied, so the target holds for the file written.
    assert traded.quantized.dithered and metrics.psnr(pixels, kmzcodec.decode(traded.data)) >= 30
    assert len(traded.data) < len(full.data)
    assert traded.data == kmzcodec.encode(pixels, traded.colors, dither=True, quality=50)


def test_the_plugin_and_the_command(tmp_path: Path) -> None:
    pixels = photo()
    image = Image.fromarray(pixels)
    small, full = io.BytesIO(), io.BytesIO()
    image.save(small, format="KMZ", colors=32, dither=True, quality=40)
    image.save(full, format="KMZ", colors=32, dither=True)
    assert len(small.getvalue()) < len(full.getvalue())
    source, output = tmp_path / "photo.png", tmp_path / "small.kmz"
    image.save(source)
    command = ["encode", str(source), "-o", str(output), "-k", "32", "--dither", "--quality", "40"]
    assert cli.main(command) == 0
    assert output.read_bytes() == kmzcodec.encode(pixels, 32, dither=True, quality=40) == small.getvalue()
