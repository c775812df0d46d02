"""sRGB <-> OKLab and CIE L*a*b* (D65), vectorised over (n, 3) float arrays.

Coordinates are scaled so one unit means roughly the same in every space the
quantizer clusters in: sRGB 0..255, OKLab L in 0..255 (a, b alike), Lab L* in
0..255 (a*, b* alike). The scale only matters for how alpha (0..255) weighs
against colour when RGBA pixels are clustered.
"""

from __future__ import annotations

import numpy as np

SPACES = ("rgb", "oklab", "lab")

_OKLAB_M1 = np.array(
    [
        [0.4122214708, 0.5363325363, 0.0514459929],
        [0.2119034982, 0.6806995451, 0.1073969566],
        [0.0883024619, 0.2817188376, 0.6299787005],
    ]
)
_OKLAB_M2 = np.array(
    [
        [0.2104542553, 0.7936177850, -0.0040720468],
        [1.9779984951, -2.4285922050, 0.4505937099],
        [0.0259040371, 0.7827717662, -0.8086757660],
    ]
)
_XYZ_FROM_RGB = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
_D65 = np.array([0.95047, 1.0, 1.08883])
_OKLAB_SCALE = 255.0
_LAB_SCALE = 255.0 / 100.0


def _to_linear(rgb255: np.ndarray) -> np.ndarray:
    c = rgb255 / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _from_linear(linear: np.ndarray) -> np.ndarray:
    c = np.clip(linear, 0.0, 1.0)
    srgb = np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)
    return srgb * 255.0


def _lab_f(t: np.ndarray) -> np.ndarray:
    delta = 6 / 29
    return np.where(t > delta**3, np.cbrt(t), t / (3 * delta**2) + 4 / 29)


def _lab_f_inv(t: np.ndarray) -> np.ndarray:
    delta = 6 / 29
    return np.where(t > delta, t**3, 3 * delta**2 * (t - 4 / 29))


def from_rgb(rgb255: np.ndarray, space: str) -> np.ndarray:
    """(n, 3) sRGB values 0..255 -> coordinates in ``space``."""
    rgb255 = np.asarray(rgb255, dtype=np.float64)
    if space == "rgb":
        return rgb255
    linear = _to_linear(rgb255)
    if space == "oklab":
        return np.cbrt(linear @ _OKLAB_M1.T) @ _OKLAB_M2.T * _OKLAB_SCALE
    if space == "lab":
        f = _lab_f(linear @ _XYZ_FROM_RGB.T / _D65)
        lab = np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)
        return lab * _LAB_SCALE
    raise ValueError(f"unknown colour space {space!r}")


def to_rgb(coords: np.ndarray, space: str) -> np.ndarray:
    """Inverse of :func:`from_rgb`: float sRGB 0..255, clipped to the gamut."""
    coords = np.asarray(coords, dtype=np.float64)
    if space == "rgb":
        return np.clip(coords, 0.0, 255.0)
    if space == "oklab":
        lms = (coords / _OKLAB_SCALE) @ np.linalg.inv(_OKLAB_M2).T
        return _from_linear((lms**3) @ np.linalg.inv(_OKLAB_M1).T)
    if space == "lab":
        lab = coords / _LAB_SCALE
        fy = (lab[:, 0] + 16) / 116
        f = np.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], axis=1)
        return _from_linear((_lab_f_inv(f) * _D65) @ np.linalg.inv(_XYZ_FROM_RGB).T)
    raise ValueError(f"unknown colour space {space!r}")
