"""Opening what ``kmz`` accepts besides ``.kmz``: any image Pillow reads, and MATLAB ``.mat`` arrays.

One reader for the command line (files by path) and ``kmz gui`` (uploaded bytes). With a
pixel limit, sizes are checked from the headers before anything image-sized is allocated.
Every failure is a :class:`~kmzcodec.errors.KmzError` whose reason says which kind:

- ``not-image``: not a format Pillow reads, or a MATLAB file with no image-shaped array;
- ``bad-image`` / ``bad-input``: a damaged image / MATLAB file;
- ``too-large``: over the pixel limit (or Pillow's decompression-bomb limit);
- ``bad-option``: a MATLAB variable asked for by name that the file does not have.

A MATLAB array is returned as it is stored (``kmzcodec.encode`` scales samples by their
type, or by ``value_range``), so the codec sees the values a notebook would.
"""

from __future__ import annotations

import io
import math
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from .errors import KmzError

#: Pillow's plugins raise all of these for a damaged file (besides UnidentifiedImageError).
PILLOW_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    struct.error,
)

#: MATLAB classes (as scipy.io.whosmat names them) whose arrays can be images.
_NUMERIC = {"double", "single", "logical", *(f"{s}int{b}" for s in ("", "u") for b in (8, 16, 32, 64))}


def is_mat(prefix: bytes, name: str) -> bool:
    """A MATLAB file: a v5 header (``MATLAB`` text), or a v4 file, which only its name tells."""
    return prefix.startswith(b"MATLAB") or name.lower().endswith(".mat")


def too_large(width: int, height: int, max_pixels: int) -> KmzError:
    return KmzError(
        f"image too large: {width} x {height} = {width * height:,} pixels (the limit is "
        f"{max_pixels:,}; a decompression bomb?)",
        "too-large",
    )


def _check_size(width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise too_large(width, height, max_pixels)


def _image_shaped(shape: tuple[int, ...]) -> bool:
    if math.prod(shape) == 0:
        return False
    return len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 2, 3, 4))


def mat_array(source: bytes | Path, key: str | None = None, max_pixels: int | None = None) -> np.ndarray:
    """The image array of a MATLAB file: variable ``key``, or the largest image-shaped one.

    The variables' headers are read first (``whosmat``), so a compressed array cannot inflate
    to gigabytes before its size is checked against ``max_pixels``.
    """
    import scipy.io

    def opened() -> BinaryIO:
        return io.BytesIO(source) if isinstance(source, bytes) else source.open("rb")

    try:
        with opened() as handle:
            listed = scipy.io.whosmat(handle)
    except NotImplementedError:  # scipy's answer to v7.3 (HDF5-based) files
        raise KmzError("MATLAB v7.3 files are not supported (save with -v7)", "bad-input") from None
    except Exception as exc:  # scipy raises many types for a damaged file
        raise KmzError(f"cannot read MATLAB file: {exc}", "bad-input") from None
    shapes = {name: tuple(shape) for name, shape, kind in listed}
    shaped = {name for name, shape, kind in listed if kind in _NUMERIC and _image_shaped(tuple(shape))}
    if key is not None:
        if key not in shapes:
            names = ", ".join(sorted(shapes)) or "none"
            raise KmzError(f"no variable {key!r} (variables: {names})", "bad-option")
        if key not in shaped:
            raise KmzError(f"variable {key!r} is not an image array (shape {shapes[key]})", "not-image")
        name = key
    elif shaped:  # the largest; then the one with more dimensions; then by name
        name = max((math.prod(shapes[n]), len(shapes[n]), n) for n in shaped)[2]
    else:
        raise KmzError(f"no image-shaped array (H x W, or H x W x 1/3/4) among {sorted(shapes)}", "not-image")
    _check_size(shapes[name][1], shapes[name][0], max_pixels)
    try:
        with opened() as handle:
            values = scipy.io.loadmat(handle, variable_names=[name])[name]
    except Exception as exc:
        raise KmzError(f"cannot read MATLAB file: {exc}", "bad-input") from None
    if not isinstance(values, np.ndarray) or values.dtype.kind not in "uifb":
        raise KmzError(f"variable {name!r} is not a numeric array", "not-image")
    return values


def pillow_image(source: bytes | Path, max_pixels: int | None = None) -> tuple[Image.Image, str]:
    """The image and Pillow's name for its format, turned upright by its EXIF orientation
    (as viewers show photographs) and loaded."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as opened:
            _check_size(opened.width, opened.height, max_pixels)  # before load(): header only
            image = ImageOps.exif_transpose(opened)
            image.load()
            return image, str(opened.format or "image")
    except KmzError:
        raise
    except Image.UnidentifiedImageError:
        raise KmzError("not an image file that Pillow can read", "not-image") from None
    except Image.DecompressionBombError as exc:
        raise KmzError(f"image too large: {exc}", "too-large") from None
    except PILLOW_ERRORS as exc:
        raise KmzError(f"cannot read image: {exc}", "bad-image") from None
