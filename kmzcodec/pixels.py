"""Any supported input -> a uint8 pixel array the quantizer understands.

The quantizer works on (height, width, channels) uint8 arrays with 1 (grey),
3 (RGB) or 4 (RGBA) channels. This module decides how every other Pillow mode
and numpy layout maps onto those, in one place.

Samples are scaled by their type, never by their values (as scikit-image's
``img_as_ubyte``), so one bright pixel cannot change how the rest are read:

- bool: False -> 0, True -> 255; uint8: as it is;
- uint16 / uint32 / uint64: the type's full range, keeping the high byte
  (``x >> 8`` for uint16, i.e. floor(x / 256));
- int8 / int16 / int32 / int64: negatives are 0, the type's positive range
  maps onto 0..255 (int16: ``x >> 7``; int8: ``x * 129 // 64``);
- float: 0.0..1.0, clipped (so 1.01 is white, -0.1 and -inf black, +inf
  white), then ``rint(x * 255)`` computed in the array's own float type;
  NaN is 0 (black, or transparent in an alpha channel);
- Pillow mode "I;16*": uint16, as above; mode "I" (32-bit integers) is taken
  as 16-bit data, clipped to 0..65535, because that is where Pillow puts
  16-bit samples it does not keep as "I;16": Pillow before 10.3 (which
  pyproject.toml allows) opens 16-bit grey PNGs as "I" (Pillow PR #7849),
  and Pillow 13 still opens 16-bit PGM files (any maxval, rescaled to
  0..65535) as "I"; mode "F": float, as above.

scikit-image itself passes a uint16 array whose maximum is below 256 through
unscaled (with a warning); we do not, since that is the flip this rule removes.

Where the data use another range (12-bit camera data in uint16, floats in
0..255, an "I" image made by ``convert("I")`` from 8-bit grey), say so with
``value_range=(low, high)``: low..high maps linearly onto 0..255, clipped and
rounded to nearest (NaN is 0). It applies to deep samples only — arrays of any
integer type but uint8, float arrays, and Pillow modes "I", "I;16*" and "F" —
and is refused (KmzError "bad-option") for 8-bit input (bool and uint8 arrays,
Pillow's 8-bit modes), which is already on the 0..255 scale: a range given for
it is a mistake we would rather report than apply.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .errors import KmzError
from .options import check_value_range

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
#: Mode "I" samples are 16-bit data: see the module docstring.
_MODE_I_MAX = 0xFFFF


def _by_range(values: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    """low..high -> 0..255, linearly; clipped, rounded to nearest, NaN -> 0."""
    if values.dtype == np.uint8 or values.dtype.kind == "b":
        raise KmzError(
            "value_range is for 16-bit, 32-bit and floating-point samples; this input is 8-bit",
            "bad-option",
        )
    low, high = value_range
    # Multiplied before dividing: exact for integer samples, so a midpoint rounds as rint says.
    scaled = (values.astype(np.float64) - low) * 255.0 / (high - low)
    scaled = np.nan_to_num(np.rint(scaled), nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _by_type(values: np.ndarray) -> np.ndarray:
    """Samples -> uint8 by the range their dtype implies (the rules of the module docstring)."""
    dtype = values.dtype
    if dtype == np.uint8:
        return values
    if dtype.kind == "b":
        return values.astype(np.uint8) * np.uint8(255)
    if dtype.kind == "u":
        return np.right_shift(values, 8 * dtype.itemsize - 8).astype(np.uint8)
    if dtype.kind == "i":
        positive = np.maximum(values, 0)
        if dtype.itemsize == 1:  # 7 bits -> 8: scikit-image's exact upscale, 127 -> 255
            return (positive.astype(np.int32) * 129 // 64).astype(np.uint8)
        return np.right_shift(positive, 8 * dtype.itemsize - 9).astype(np.uint8)
    if dtype.kind == "f":
        # In the array's own float type, as scikit-image does, so results match it.
        unit = np.clip(np.where(np.isnan(values), 0, values), 0, 1)
        return np.rint(np.multiply(unit, 255, dtype=dtype)).astype(np.uint8)
    raise KmzError(f"unsupported array dtype {dtype}", "bad-input")


def from_array(array: np.ndarray, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """(H, W), (H, W, 1|2|3|4) arrays -> (H, W, 1|3|4) uint8.

    Samples are scaled by their dtype, or from ``value_range`` when given
    (see the module docstring).
    """
    value_range = check_value_range(value_range)
    values = np.asarray(array)
    if values.ndim == 2:
        values = values[:, :, None]
    if values.ndim != 3 or values.shape[2] not in (1, 2, 3, 4) or 0 in values.shape[:2]:
        raise KmzError(
            f"an image array must be (height, width) or (height, width, 1..4), not {values.shape}",
            "bad-input",
        )
    if values.dtype.kind not in "buif":
        raise KmzError(f"unsupported array dtype {values.dtype}", "bad-input")
    values = _by_type(values) if value_range is None else _by_range(values, value_range)
    if values.shape[2] == 2:  # grey + alpha
        values = values[:, :, [0, 0, 0, 1]]
    return np.ascontiguousarray(values)


def from_image(image: Image.Image, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """A Pillow image in any mode -> (H, W, 1|3|4) uint8 (palette images are expanded)."""
    value_range = check_value_range(value_range)
    mode = image.mode
    deep = mode in ("I", "F") or mode.startswith("I;16")
    if value_range is not None and not deep:
        raise KmzError(f"value_range is for Pillow modes I, I;16 and F; mode {mode!r} is 8-bit", "bad-option")
    if mode == "P":
        has_alpha = "transparency" in image.info or image.palette is not None and image.palette.mode == "RGBA"
        return from_image(image.convert("RGBA" if has_alpha else "RGB"))
    if mode in _VIA_PILLOW:
        return from_image(image.convert(_VIA_PILLOW[mode]))
    if mode in ("L", "RGB", "RGBA"):
        values = np.asarray(image)
        return values[:, :, None] if values.ndim == 2 else values
    if deep:
        values = np.asarray(image)
        if mode == "I" and value_range is None:
            values = np.clip(values, 0, _MODE_I_MAX).astype(np.uint16)
        return from_array(values, value_range)
    raise KmzError(f"unsupported image mode {mode!r}", "bad-input")


def to_pixels(image: Image.Image | np.ndarray, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """A PIL image or a numpy array -> (H, W, 1|3|4) uint8; ``value_range`` as in :func:`from_array`."""
    if isinstance(image, Image.Image):
        if image.width < 1 or image.height < 1:
            raise KmzError(f"cannot encode an empty {image.width}x{image.height} image", "bad-input")
        return from_image(image, value_range)
    if isinstance(image, np.ndarray):
        return from_array(image, value_range)
    raise KmzError(f"expected a PIL image or a numpy array, got {type(image).__name__}", "bad-input")
