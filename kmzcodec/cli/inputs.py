"""Reading what the commands accept: any image Pillow reads, a .kmz, or a MATLAB .mat array.

A MATLAB array is handed to the encoder as it is (``kmzcodec.encode`` takes numpy
arrays and scales their samples by their type, or by ``--value-range``), so the
command reads the same values a notebook would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .. import reading
from ..errors import KmzError
from ..format import MAGIC
from ..image import decode
from ..request import EncodeOptions, Source
from .status import CliError, UsageError


def require_file(path: Path) -> None:
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder, not a file")


def read_bytes(path: Path) -> bytes:
    require_file(path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None


def read_kmz(path: Path) -> Image.Image:
    data = read_bytes(path)
    try:
        return decode(data)
    except KmzError as exc:
        raise CliError(f"{path}: {exc}") from None


def load_image(path: Path, mat_key: str | None = None) -> Source:
    """Any input the command accepts: a Pillow image (from a .kmz or what Pillow reads, turned
    upright by its EXIF orientation) or, for a .mat file, its image array."""
    require_file(path)
    try:
        with path.open("rb") as handle:
            prefix = handle.read(len(MAGIC))
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        if prefix == MAGIC:
            return decode(path.read_bytes())
        if reading.is_mat(prefix, path.name):
            return reading.mat_array(path, mat_key)
        return reading.pillow_image(path)[0]
    except KmzError as exc:
        raise (UsageError if exc.reason == "bad-option" else CliError)(f"{path}: {exc}") from None
    except OSError as exc:  # the file went away or became unreadable since the check above
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _target(width: int, height: int, size: tuple[int | None, int | None]) -> tuple[int, int]:
    new_width, new_height = size
    if new_width is None:
        assert new_height is not None
        new_width = max(1, round(width * new_height / height))
    if new_height is None:
        new_height = max(1, round(height * new_width / width))
    return new_width, new_height


def _resized_array(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Lanczos on each channel in float32 ("F" images), back in the array's own type and units,
    so that the encoder still scales the samples by their type (or by --value-range)."""
    if values.dtype == bool:
        values = values.astype(np.uint8) * np.uint8(255)
    planes = values if values.ndim == 3 else values[:, :, None]
    resized = np.stack(
        [
            np.asarray(
                Image.fromarray(np.ascontiguousarray(planes[:, :, c], dtype=np.float32)).resize(
                    size, Image.Resampling.LANCZOS
                )
            )
            for c in range(planes.shape[2])
        ],
        axis=2,
    )
    if values.dtype.kind in "ui":
        limits = np.iinfo(values.dtype)
        resized = np.clip(np.rint(resized), limits.min, limits.max)
    resized = resized.astype(values.dtype)
    return resized if values.ndim == 3 else resized[:, :, 0]


def resized(image: Source, size: tuple[int | None, int | None] | None) -> Source:
    if size is None:
        return image
    if isinstance(image, np.ndarray):
        height, width = image.shape[:2]
        return _resized_array(image, _target(width, height, size))
    target = _target(image.width, image.height, size)
    if image.mode == "P":  # resampling a palette image would fall back to nearest neighbour
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    return image.resize(target, Image.Resampling.LANCZOS)


def prepare(path: Path, options: EncodeOptions) -> Source:
    return resized(load_image(path, options.mat_key), options.resize)
