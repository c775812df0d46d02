"""Error diffusion against a chosen palette: what every kind of dithering shares.

:func:`dither` takes the nearest-entry indices the quantizer found (kept where
dithering does not apply) and returns the dithered ones. It handles the
256-entry limit and alpha (only opaque pixels are dithered, against the opaque
entries) and leaves the diffusion itself to :mod:`kmzcodec.diffusion`:
adaptive, serpentine Floyd-Steinberg compiled by numba.
"""

from __future__ import annotations

import numpy as np

from .diffusion import diffuse
from .errors import KmzError
from .options import DEFAULT_QUALITY, DITHER_MAX_COLORS


def dither(
    pixels: np.ndarray,
    palette: np.ndarray,
    labels: np.ndarray,
    strength: float,
    quality: int = DEFAULT_QUALITY,
    contrast: np.ndarray | None = None,
) -> np.ndarray:
    """Dithered indices, (H, W), for (H, W, 1|3|4) ``pixels`` against ``palette`` at ``strength`` 0..1.

    ``labels`` are each pixel's nearest entry; ``quality`` is the size/quality
    knob (:func:`kmzcodec.diffusion.knob`; 100: off). RGBA: opaque pixels are dithered
    (colour only) against the opaque entries, the rest keep their nearest entry.
    ``contrast``: the contrast map of :func:`dithered_planes`, if made beforehand.
    """
    k, channels = palette.shape
    if k > DITHER_MAX_COLORS:
        raise KmzError(f"dithering works with at most {DITHER_MAX_COLORS} colours", "bad-option")
    if channels == 4:
        opaque_entries = np.flatnonzero(palette[:, 3] == 255)
        if len(opaque_entries) == 0:
            return labels
        within = np.zeros(k, dtype=np.int32)  # an entry's place among the opaque ones: the search's start
        within[opaque_entries] = np.arange(len(opaque_entries))
        opaque = pixels[:, :, 3] == 255
        rgb = palette[opaque_entries, :3]
        dithered = diffuse(
            dithered_planes(pixels),
            rgb,
            within[labels],
            strength,
            active=opaque,
            quality=quality,
            contrast=contrast,
        )
        return np.where(opaque, opaque_entries[dithered].astype(labels.dtype), labels)
    return diffuse(pixels, palette, labels, strength, quality=quality, contrast=contrast).astype(
        labels.dtype, copy=False
    )


def dithered_planes(pixels: np.ndarray) -> np.ndarray:
    """The planes :func:`dither` diffuses error in (and builds its dither map from): the colour
    of RGBA pixels (alpha is never dithered), all of the others."""
    return pixels[:, :, :3] if pixels.shape[2] == 4 else pixels
