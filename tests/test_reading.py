"""kmzcodec.reading: the one reader of MATLAB arrays and Pillow images behind the CLI and the GUI."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kmzcodec import reading
from kmzcodec.errors import KmzError

scipy_io = pytest.importorskip("scipy.io")


def _mat(**variables: object) -> bytes:
    buffer = io.BytesIO()
    scipy_io.savemat(buffer, variables)
    return buffer.getvalue()


def test_largest_numeric_image_array_is_chosen_and_cells_are_passed_over(tmp_path: Path) -> None:
    picture = np.arange(12 * 10 * 3, dtype=np.uint8).reshape(12, 10, 3)
    cells = np.empty((40, 40), dtype=object)  # a cell array larger than the picture: not an image
    cells[:] = "x"
    data = _mat(picture=picture, small=np.ones((3, 3)), notes=cells)
    assert reading.is_mat(data, "upload")
    for source in (data, tmp_path / "x.mat"):
        if isinstance(source, Path):
            source.write_bytes(data)
        chosen = reading.mat_array(source)
        assert chosen.dtype == np.uint8 and np.array_equal(chosen, picture)
    assert np.array_equal(reading.mat_array(data, key="small"), np.ones((3, 3)))
    with pytest.raises(KmzError) as missing:
        reading.mat_array(data, key="nope")
    assert missing.value.reason == "bad-option" and "notes, picture, small" in str(missing.value)
    with pytest.raises(KmzError) as cell:
        reading.mat_array(data, key="notes")
    assert cell.value.reason == "not-image"


def test_sizes_are_checked_before_the_array_is_read() -> None:
    data = _mat(big=np.zeros((300, 200), dtype=np.uint8))
    with pytest.raises(KmzError) as error:
        reading.mat_array(data, max_pixels=300 * 200 - 1)
    assert error.value.reason == "too-large" and "200 x 300" in str(error.value)
    assert reading.mat_array(data, max_pixels=300 * 200).shape == (300, 200)


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"MATLAB 5.0 MAT-file, but cut", "bad-input"), (_mat(v=np.zeros((5, 6, 6))), "not-image")],
)
def test_bad_mat_files(data: bytes, reason: str) -> None:
    with pytest.raises(KmzError) as error:
        reading.mat_array(data)
    assert error.value.reason == reason


def test_pillow_image_upright_and_limited() -> None:
    image = Image.new("RGB", (30, 20), (200, 10, 10))
    exif = image.getexif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to view
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    opened, kind = reading.pillow_image(buffer.getvalue())
    assert kind == "JPEG" and opened.size == (20, 30)
    with pytest.raises(KmzError) as error:
        reading.pillow_image(buffer.getvalue(), max_pixels=599)
    assert error.value.reason == "too-large"
    for data, reason in [(b"not an image at all", "not-image"), (buffer.getvalue()[:200], "bad-image")]:
        with pytest.raises(KmzError) as bad:
            reading.pillow_image(data)
        assert bad.value.reason == reason
