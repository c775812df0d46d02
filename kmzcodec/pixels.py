"""Any supported input -> a uint8 pixel array the quantizer understands.

The quantizer works on (height, width, channels) uint8 arrays with 1 (grey),
3 (RGB) or 4 (RGBA) channels. This module decides how every other Pillow mode
and numpy layout maps onto those, in one place.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .errors import KmzError

#: Pillow modes converted by Pillow itself before quantization.
_VIA_PILLOW = {
    "1": "L",
    "LA": "RGBA",
    "La": "LA",  # premultiplied: Pillow converts La only to LA (then LA -> RGBA)
    "PA": "RGBA",
    "RGBa": "RGBA",
    "RGBX": "RGB",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
}


def _scale_to_uint8(values: np.ndarray) -> np.ndarray:
    """Deep or floating-point samples -> uint8, by the range their type implies."""
    if values.dtype == np.uint8:
        return values
    if values.dtype == bool:
        return values.astype(np.uint8) * np.uint8(255)
    if values.dtype.kind == "f":
        finite = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        # Floats in [0, 1] are the usual convention (matplotlib, scikit-image);
        # anything larger is taken as already on the 0..255 scale.
        scale = 255.0 if finite.size == 0 or float(finite.max()) <= 1.0 else 1.0
        return np.clip(np.rint(finite * scale), 0, 255).astype(np.uint8)
    if values.dtype.kind in "ui":
        top = int(values.max()) if values.size else 0
        if values.dtype.itemsize == 1 or top <= 255:
            return np.clip(values, 0, 255).astype(np.uint8)
        # 16-bit samples (and 32-bit ones holding 16-bit data): keep the high byte.
        shift = 8 if top <= 0xFFFF else max(0, top.bit_length() - 8)
        return (np.clip(values, 0, None).astype(np.uint64) >> np.uint64(shift)).astype(np.uint8)
    raise KmzError(f"unsupported array dtype {values.dtype}", "bad-input")


def from_array(array: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1|2|3|4) arrays -> (H, W, 1|3|4) uint8."""
    values = np.asarray(array)
    if values.ndim == 2:
        values = values[:, :, None]
    if values.ndim != 3 or values.shape[2] not in (1, 2, 3, 4) or 0 in values.shape[:2]:
        raise KmzError(
            f"an image array must be (height, width) or (height, width, 1..4), not {values.shape}",
            "bad-input",
        )
    values = _scale_to_uint8(values)
    if values.shape[2] == 2:  # grey + alpha
        values = values[:, :, [0, 0, 0, 1]]
    return np.ascontiguousarray(values)


def from_image(image: Image.Image) -> np.ndarray:
    """A Pillow image in any mode -> (H, W, 1|3|4) uint8 (palette images are expanded)."""
    mode = image.mode
    if mode == "P":
        has_alpha = "transparency" in image.info or image.palette is not None and image.palette.mode == "RGBA"
        return from_image(image.convert("RGBA" if has_alpha else "RGB"))
    if mode in _VIA_PILLOW:
        return from_image(image.convert(_VIA_PILLOW[mode]))
    if mode in ("L", "RGB", "RGBA"):
        values = np.asarray(image)
        return values[:, :, None] if values.ndim == 2 else values
    if mode in ("I", "F") or mode.startswith("I;16"):
        return from_array(np.asarray(image))
    raise KmzError(f"unsupported image mode {mode!r}", "bad-input")


def to_pixels(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, Image.Image):
        if image.width < 1 or image.height < 1:
            raise KmzError(f"cannot encode an empty {image.width}x{image.height} image", "bad-input")
        return from_image(image)
    if isinstance(image, np.ndarray):
        return from_array(image)
    raise KmzError(f"expected a PIL image or a numpy array, got {type(image).__name__}", "bad-input")
