"""sRGB <-> OKLab, CIE L*a*b* (D65) and the HSV cone, vectorised over (n, 3) float arrays.

Coordinates are scaled so one unit means roughly the same in every space the
quantizer clusters in: sRGB 0..255, OKLab L in 0..255 (a, b alike), Lab L* in
0..255 (a*, b* alike), HSV cone V in 0..255 (its radius S·V alike). The scale
only matters for how alpha (0..255) weighs against colour when RGBA pixels are
clustered.

HSV's hue is an angle, so it is not clustered as a number (hues 359° and 1°
would be far apart and their mean would be cyan): a colour is the point
(V, S·V·cos H, S·V·sin H) of the HSV cone, with V = max(R, G, B) and
S·V = max - min (the chroma), both 0..255. Greys lie on the axis whatever their
(undefined) hue, and distances across the 0°/360° seam are as short as
anywhere else. V comes first, like lightness in OKLab and Lab, so a grey
image clusters on its grey values.
"""

from __future__ import annotations

import numpy as np

SPACES = ("rgb", "oklab", "lab", "hsv")

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


def _hsv_cone(rgb255: np.ndarray) -> np.ndarray:
    """sRGB 0..255 -> (V, C cos H, C sin H) with H the usual hexagonal HSV hue and C = S·V = max - min."""
    red, green, blue = rgb255[:, 0], rgb255[:, 1], rgb255[:, 2]
    value, chroma = rgb255.max(axis=1), np.ptp(rgb255, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):  # greys (chroma 0) are masked out below
        sector = np.where(
            value == red,
            ((green - blue) / chroma) % 6,
            np.where(value == green, (blue - red) / chroma + 2, (red - green) / chroma + 4),
        )
    hue = np.where(chroma > 0, sector, 0.0) * (np.pi / 3)
    return np.stack([value, chroma * np.cos(hue), chroma * np.sin(hue)], axis=1)


def _hsv_from_cone(coords: np.ndarray) -> np.ndarray:
    """(V, x, y) of the cone -> sRGB 0..255; points outside the cone are clipped onto it.

    V is clipped to 0..255 and S = hypot(x, y) / V to 0..1 (S = 0 when V = 0, so
    black has no NaN); a point on the axis gets hue 0, which S = 0 makes irrelevant.
    """
    value = np.clip(coords[:, 0], 0.0, 255.0)
    chroma = np.minimum(np.hypot(coords[:, 1], coords[:, 2]), value)  # S <= 1
    hue = np.arctan2(coords[:, 2], coords[:, 1]) * (3 / np.pi)  # in sextants, -3..3
    # The continuous form of HSV -> RGB: channel n is V - C * clip(min(k, 4 - k), 0, 1)
    # with k = (n + H / 60°) mod 6, n = 5 (R), 3 (G), 1 (B).
    k = (np.array([5.0, 3.0, 1.0]) + hue[:, None]) % 6
    return value[:, None] - chroma[:, None] * np.clip(np.minimum(k, 4 - k), 0.0, 1.0)


def from_rgb(rgb255: np.ndarray, space: str) -> np.ndarray:
    """(n, 3) sRGB values 0..255 -> coordinates in ``space``."""
    rgb255 = np.asarray(rgb255, dtype=np.float64)
    if space == "rgb":
        return rgb255
    if space == "hsv":
        return _hsv_cone(rgb255)
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
    if space == "hsv":
        return _hsv_from_cone(coords)
    if space == "oklab":
        lms = (coords / _OKLAB_SCALE) @ np.linalg.inv(_OKLAB_M2).T
        return _from_linear((lms**3) @ np.linalg.inv(_OKLAB_M1).T)
    if space == "lab":
        lab = coords / _LAB_SCALE
        fy = (lab[:, 0] + 16) / 116
        f = np.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], axis=1)
        return _from_linear((_lab_f_inv(f) * _D65) @ np.linalg.inv(_XYZ_FROM_RGB).T)
    raise ValueError(f"unknown colour space {space!r}")
