"""Reading what the commands accept: any image Pillow reads, a .kmz, or a MATLAB .mat array.

A MATLAB array is handed to the encoder as it is (``kmzcodec.encode`` takes numpy
arrays and scales their samples by their type, or by ``--value-range``), so the
command reads the same values a notebook would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..errors import KmzError
from ..format import MAGIC
from ..image import decode
from .encoding import EncodeOptions, Source
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


def _image_shaped(value: object) -> bool:
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "uifb" or value.size == 0:
        return False
    return value.ndim == 2 or (value.ndim == 3 and value.shape[2] in (1, 2, 3, 4))


def mat_array(path: Path, key: str | None) -> np.ndarray:
    """The image array in a MATLAB file: ``key``, or the largest image-shaped array."""
    import scipy.io

    try:
        contents = scipy.io.loadmat(path)
    except NotImplementedError:  # scipy's answer to v7.3 (HDF5-based) files
        raise CliError(f"{path}: MATLAB v7.3 files are not supported (save with -v7)") from None
    except Exception as exc:  # scipy raises many types for a bad file
        raise CliError(f"{path}: cannot read MATLAB file: {exc}") from None
    variables = {name: value for name, value in contents.items() if not name.startswith("__")}
    if key is not None:
        if key not in variables:
            names = ", ".join(sorted(variables)) or "none"
            raise UsageError(f"{path}: no variable {key!r} (variables: {names})")
        if not _image_shaped(variables[key]):
            shape = getattr(variables[key], "shape", None)
            raise CliError(f"{path}: variable {key!r} is not an image array (shape {shape})")
        return variables[key]
    candidates = [(value.size, value.ndim, name) for name, value in variables.items() if _image_shaped(value)]
    if not candidates:
        raise CliError(f"{path}: no image-shaped array (H x W, or H x W x 1/3/4) among {sorted(variables)}")
    return variables[max(candidates)[2]]


def load_image(path: Path, mat_key: str | None = None) -> Source:
    """Any input the command accepts: a Pillow image (from a .kmz or what Pillow reads) or,
    for a .mat file, its image array.

    Photographs are turned upright by their EXIF orientation, as viewers show them.
    """
    require_file(path)
    try:
        with path.open("rb") as handle:
            prefix = handle.read(len(MAGIC))
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if prefix == MAGIC:
        try:
            return decode(path.read_bytes())
        except KmzError as exc:
            raise CliError(f"{path}: {exc}") from None
    if path.suffix.lower() == ".mat" or prefix.startswith(b"MATLAB"):
        return mat_array(path, mat_key)
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()
            return image
    except Image.UnidentifiedImageError:
        raise CliError(f"{path}: not an image file that Pillow can read") from None
    except Image.DecompressionBombError as exc:
        raise CliError(f"{path}: {exc}") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError) as exc:
        # Pillow's plugins raise a variety of types for a damaged file.
        raise CliError(f"{path}: cannot read image: {exc}") from None


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
