"""Trying several K on one image: the measurements behind ``kmz compare`` and ``kmz sweep``.

The notebook workflow as functions: encode at each K, decode, and measure the
result against the original with :mod:`kmzcodec.metrics`::

    from kmzcodec import explore
    for trial in explore.trials(image, [4, 16, 64], colorspace="oklab"):
        print(trial.k, trial.comparison.bytes, trial.comparison.psnr, trial.comparison.ssim)
    result = explore.sweep(image, [2, 4, 8, 16, 32, 64, 128, 256])
    result.elbow  # the K where more colours stop paying off (metrics.elbow on SSIM)

Encoder options (``method``, ``colorspace``, ``dither``, ``seed``, ``compression``,
``level``, ...) are passed on to :func:`kmzcodec.encode` unchanged, so every trial
is the file ``encode`` would write. SSIM needs scikit-image (the ``metrics``
extra); without it ``trials`` leaves ``comparison.ssim`` as None. SSIMULACRA2
(the ``ssimulacra2`` package, same extra) is scored on the centre
``metrics.SSIMULACRA2_CROP`` pixels, as ``kmz`` shows it; without the package
``comparison.ssimulacra2`` is None.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from . import metrics
from .encoder import encode_details
from .errors import KmzError
from .format import MAX_COLORS
from .image import decode

#: The curves :func:`sweep` can take the elbow of (fields of metrics.Comparison).
ELBOW_METRICS: tuple[str, ...] = ("ssim", "psnr")

Progress = Callable[[Iterable[int]], Iterable[int]]


@dataclass(frozen=True)
class Trial:
    """One K tried on one image: the file, its decoded pixels and how they measure."""

    k: int  # as asked for
    colors: int  # palette entries used: fewer than K when the image has fewer colours
    data: bytes
    decoded: Image.Image
    comparison: metrics.Comparison
    seconds: float  # encoding time

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, as ``kmz compare --json`` prints it (non-finite numbers become None)."""
        return {
            "k": self.k,
            "colors": self.colors,
            **self.comparison.as_dict(),
            "seconds": round(self.seconds, 4),
        }


@dataclass(frozen=True)
class Sweep:
    """Trials at increasing K and the elbow of one quality curve."""

    trials: list[Trial]
    elbow: int
    metric: str  # the curve the elbow is on: "ssim" or "psnr"

    @property
    def ks(self) -> list[int]:
        return [trial.k for trial in self.trials]


def _check_ks(ks: Sequence[int]) -> list[int]:
    checked = []
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_COLORS:
            raise KmzError(f"each K must be an integer from 1 to {MAX_COLORS}, not {k!r}", "bad-option")
        checked.append(int(k))
    if not checked:
        raise KmzError("no K to try", "bad-option")
    if len(set(checked)) != len(checked):
        raise KmzError(f"the values of K must be distinct, not {checked}", "bad-option")
    return checked


def trial(
    image: Image.Image | np.ndarray,
    k: int,
    *,
    with_ssim: bool | None = None,
    with_ssimulacra2: bool | None = None,
    **encode_options: Any,
) -> Trial:
    """Encode ``image`` with K = ``k`` (``encode_options`` as for kmzcodec.encode), decode, measure.

    ``with_ssim``: None (default) measures SSIM when scikit-image is installed; True
    requires it (ImportError naming the extra otherwise); False skips it (the slow part).
    ``with_ssimulacra2`` likewise for SSIMULACRA2 and the ssimulacra2 package (on the
    centre ``metrics.SSIMULACRA2_CROP`` pixels).
    """
    (k,) = _check_ks([k])
    if with_ssim is None:
        with_ssim = metrics.ssim_available()
    if with_ssimulacra2 is None:
        with_ssimulacra2 = metrics.ssimulacra2_available()
    start = time.perf_counter()
    encoded = encode_details(image, k, **encode_options)
    seconds = time.perf_counter() - start
    decoded = decode(encoded.data)
    comparison = metrics.compare(
        image, decoded, len(encoded.data), with_ssim=with_ssim, with_ssimulacra2=with_ssimulacra2
    )
    return Trial(k, encoded.colors, encoded.data, decoded, comparison, seconds)


def trials(
    image: Image.Image | np.ndarray,
    ks: Sequence[int],
    *,
    with_ssim: bool | None = None,
    with_ssimulacra2: bool | None = None,
    progress: Progress | None = None,
    **encode_options: Any,
) -> list[Trial]:
    """One :class:`Trial` per K, in the order given.

    ``with_ssim``: None (default) measures SSIM when scikit-image is installed;
    True requires it (ImportError naming the extra otherwise); ``with_ssimulacra2``
    likewise for SSIMULACRA2 (see :func:`trial`). ``progress`` may wrap
    the K values (e.g. ``tqdm``) to show how far it got.
    """
    checked = _check_ks(ks)
    measure = metrics.ssim_available() if with_ssim is None else with_ssim  # once, not per K
    perceptual = metrics.ssimulacra2_available() if with_ssimulacra2 is None else with_ssimulacra2
    steps: Iterable[int] = checked if progress is None else progress(checked)
    return [trial(image, k, with_ssim=measure, with_ssimulacra2=perceptual, **encode_options) for k in steps]


def sweep(
    image: Image.Image | np.ndarray,
    ks: Sequence[int],
    *,
    metric: str = "ssim",
    progress: Progress | None = None,
    **encode_options: Any,
) -> Sweep:
    """Trials at each K (sorted, at least two) and the elbow of the ``metric`` curve against K.

    The elbow is :func:`kmzcodec.metrics.elbow` of ``metric`` ("ssim" or "psnr")
    against log2 K. With ``metric="ssim"`` scikit-image is required; with "psnr"
    SSIM is still measured when it is installed.
    """
    if metric not in ELBOW_METRICS:
        raise KmzError(f"metric must be one of {', '.join(ELBOW_METRICS)}, not {metric!r}", "bad-option")
    ordered = sorted(_check_ks(ks))
    if len(ordered) < 2:
        raise KmzError("a sweep needs at least two values of K", "bad-option")
    with_ssim = True if metric == "ssim" else None
    done = trials(image, ordered, with_ssim=with_ssim, progress=progress, **encode_options)
    values = [getattr(t.comparison, metric) for t in done]
    return Sweep(done, metrics.elbow(ordered, values), metric)
