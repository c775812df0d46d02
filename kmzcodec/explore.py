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

import contextlib
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
from .pixels import to_pixels

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

    def __repr__(self) -> str:
        # Not the file's bytes (explore.trials(...) echoed in a notebook cell printed them all).
        return (
            f"Trial(k={self.k}, colors={self.colors}, data=<{len(self.data):,} bytes>, "
            f"decoded=<{self.decoded.mode} {self.decoded.width}x{self.decoded.height}>, "
            f"comparison={self.comparison!r}, seconds={self.seconds:.3f})"
        )

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


#: :func:`warm_up` encodes copies of the image with at most this many pixels at the other K.
WARM_UP_PIXELS = 1 << 14


def _shrunk(image: Image.Image | np.ndarray) -> Image.Image | np.ndarray:
    """A copy of ``image`` with at most WARM_UP_PIXELS pixels (same mode or dtype)."""
    if isinstance(image, Image.Image):
        width, height = image.size
    else:
        height, width = np.shape(image)[:2]
    step = max(1, int(np.ceil(np.sqrt(width * height / WARM_UP_PIXELS))))
    if step == 1:
        return image
    if isinstance(image, Image.Image):
        return image.resize((max(1, width // step), max(1, height // step)), Image.Resampling.NEAREST)
    return np.asarray(image)[::step, ::step]


def warm_up(image: Image.Image | np.ndarray, ks: Sequence[int], **encode_options: Any) -> float:
    """Encode ``image`` at the smallest of ``ks``, and a small copy of it (WARM_UP_PIXELS) at
    each other K; return the seconds it took. The first encode after installing compiles the
    encoder's numba kernels (cached on disk afterwards: seconds once), some of them only for
    images of some sizes and some only for some K; this way no trial's ``seconds`` counts
    that. An error of the options is left for the trials themselves to raise.
    """
    start = time.perf_counter()
    ordered = sorted(ks)
    with contextlib.suppress(KmzError):  # a trial on the image itself raises it
        encode_details(image, ordered[0], **encode_options)
        shrunk = _shrunk(image)
        for k in ordered[1:]:
            encode_details(shrunk, k, **encode_options)
    return time.perf_counter() - start


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
    # Measured against what was encoded: with value_range, the samples mapped by it.
    value_range = encode_options.get("value_range")
    reference = image if value_range is None else to_pixels(image, value_range)
    comparison = metrics.compare(
        reference, decoded, len(encoded.data), with_ssim=with_ssim, with_ssimulacra2=with_ssimulacra2
    )
    return Trial(k, encoded.colors, encoded.data, decoded, comparison, seconds)


def trials(
    image: Image.Image | np.ndarray,
    ks: Sequence[int],
    *,
    with_ssim: bool | None = None,
    with_ssimulacra2: bool | None = None,
    progress: Progress | None = None,
    warm: bool = False,
    **encode_options: Any,
) -> list[Trial]:
    """One :class:`Trial` per K, in the order given.

    ``with_ssim``: None (default) measures SSIM when scikit-image is installed;
    True requires it (ImportError naming the extra otherwise); ``with_ssimulacra2``
    likewise for SSIMULACRA2 (see :func:`trial`). ``progress`` may wrap
    the K values (e.g. ``tqdm``) to show how far it got. ``warm``: first :func:`warm_up`
    (one more encode), so that no trial's ``seconds`` counts the kernels' compilation, which
    the first encodes after installing pay (``kmz`` does this once per command).
    """
    checked = _check_ks(ks)
    if warm:
        warm_up(image, checked, **encode_options)
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
    warm: bool = False,
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
    done = trials(image, ordered, with_ssim=with_ssim, progress=progress, warm=warm, **encode_options)
    values = [getattr(t.comparison, metric) for t in done]
    return Sweep(done, metrics.elbow(ordered, values), metric)
