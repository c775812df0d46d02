"""Image quality and size measures: PSNR, SSIM, bytes, ratios, and the elbow of a K sweep.

One implementation shared by the ``kmz`` command, the benchmarks and the tests, so
every number in the README is computed the same way.

Conventions:

- Images are read as uint8 arrays of shape (height, width, channels) after
  :func:`kmzcodec.pixels.to_pixels` (palette images are expanded; grey is one
  channel). When the two sides differ in channels, grey is widened to RGB and a
  missing alpha channel is taken as opaque, so an RGB original and a decoded "P"
  image with an RGB palette compare directly.
- With alpha, colours are compared premultiplied by alpha (plus the alpha channel
  itself), so the hidden colour of a fully transparent pixel, which encoders are
  free to change, does not count; what can be seen does.
- PSNR is over all channels with a peak of 255; identical images give ``inf``.
- SSIM is scikit-image's ``structural_similarity`` with ``data_range=255``, the
  mean over channels (``channel_axis``), on the default 7x7 window (smaller for
  images under 7 pixels on a side; ``nan`` under 3).
- SSIMULACRA2 is the ``ssimulacra2`` package (optional, in the ``metrics`` extra),
  on RGB: grey is widened, and with alpha the colours are blended on a dark and on
  a light background and the lower score is kept, as the reference tool does.
  100 means identical; 90 visually lossless, 70 high quality, 50 medium, 30
  low, 10 very low, negative scores are worse still. The package takes about
  3 s per megapixel, so ``crop=768`` (the centre 768 x 768 pixels) is offered for
  large images. It is not bit-exact with libjxl's ``ssimulacra2``: on the
  reference implementation's own test pair (rust-av/ssimulacra2 ``tank_source`` /
  ``tank_distorted``, expected 17.40) it gives 21.03; compare kmz with other
  tools through this one function, never with scores from elsewhere.
- Raw size is width x height x channels of the original, one byte per sample;
  the compression ratio is raw bytes / compressed bytes; bits per pixel is
  8 x compressed bytes / (width x height).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from .pixels import to_pixels

PEAK = 255.0
#: scikit-image's default SSIM window; odd, as it requires.
SSIM_WINDOW = 7

ImageLike = Image.Image | np.ndarray


#: Rows per block when summing squared errors: bounds the float64 working memory.
BLOCK_ROWS = 256


def _aligned(reference: ImageLike, test: ImageLike) -> tuple[np.ndarray, np.ndarray]:
    """Both images as uint8 (H, W, C) arrays with the same number of channels."""
    first, second = to_pixels(reference), to_pixels(test)
    if first.shape[:2] != second.shape[:2]:
        h1, w1 = first.shape[:2]
        h2, w2 = second.shape[:2]
        msg = f"cannot compare a {w1}x{h1} image with a {w2}x{h2} one"
        raise ValueError(msg)
    channels = max(first.shape[2], second.shape[2])
    return _widen(first, channels), _widen(second, channels)


def _widen(values: np.ndarray, channels: int) -> np.ndarray:
    if values.shape[2] == channels:
        return values
    if values.shape[2] == 1:  # grey -> RGB
        values = np.repeat(values, 3, axis=2)
    if channels == 4 and values.shape[2] == 3:  # opaque
        alpha = np.full(values.shape[:2] + (1,), 255, dtype=np.uint8)
        values = np.concatenate([values, alpha], axis=2)
    return values


def _samples(values: np.ndarray) -> np.ndarray:
    """float64 on the 0..255 scale; with alpha, colour premultiplied by it."""
    samples = values.astype(np.float64)
    if samples.shape[2] == 4:
        samples[:, :, :3] *= samples[:, :, 3:] / 255.0
    return samples


def mse(reference: ImageLike, test: ImageLike) -> float:
    """Mean squared error over every sample (0..255 scale)."""
    first, second = _aligned(reference, test)
    total = 0.0
    for top in range(0, first.shape[0], BLOCK_ROWS):
        diff = _samples(first[top : top + BLOCK_ROWS]) - _samples(second[top : top + BLOCK_ROWS])
        total += float(np.einsum("ijk,ijk->", diff, diff))
    return total / first.size


def psnr_from_mse(error: float) -> float:
    return math.inf if error == 0 else 10.0 * math.log10(PEAK * PEAK / error)


def psnr(reference: ImageLike, test: ImageLike) -> float:
    """Peak signal-to-noise ratio in dB (peak 255); ``inf`` when the images are identical."""
    return psnr_from_mse(mse(reference, test))


def _structural_similarity():  # type: ignore[no-untyped-def]
    try:
        from skimage.metrics import structural_similarity
    except ImportError:
        msg = "SSIM needs scikit-image: pip install 'kmzcodec[metrics]'"
        raise ImportError(msg) from None
    return structural_similarity


def ssim_available() -> bool:
    try:
        _structural_similarity()
    except ImportError:
        return False
    return True


def ssim(reference: ImageLike, test: ImageLike) -> float:
    """Structural similarity (scikit-image), mean over channels; 1.0 for identical images.

    Raises ImportError with an install hint when scikit-image is missing.
    """
    structural_similarity = _structural_similarity()
    aligned = _aligned(reference, test)
    first, second = _samples(aligned[0]), _samples(aligned[1])
    window = min(SSIM_WINDOW, *first.shape[:2])
    window -= 1 - window % 2  # the window must be odd
    if window < 3:
        return math.nan
    if first.shape[2] == 1:
        return float(structural_similarity(first[:, :, 0], second[:, :, 0], data_range=PEAK, win_size=window))
    return float(structural_similarity(first, second, data_range=PEAK, channel_axis=2, win_size=window))


#: Side of the centre crop SSIMULACRA2 is scored on in the ``kmz`` tables, explore and auto-K's
#: check: the metric costs about 3 s per megapixel, 768 x 768 about 2 s (as the benchmarks use).
SSIMULACRA2_CROP = 768
#: Backgrounds (0..1) an image with alpha is blended on for SSIMULACRA2; the worse score counts.
SSIMULACRA2_BACKGROUNDS = (0.1, 0.9)


def _compute_ssimulacra2():  # type: ignore[no-untyped-def]
    try:
        from ssimulacra2 import compute_ssimulacra2
    except ImportError:
        msg = "SSIMULACRA2 needs the ssimulacra2 package: pip install 'kmzcodec[metrics]'"
        raise ImportError(msg) from None
    return compute_ssimulacra2


def ssimulacra2_available() -> bool:
    try:
        _compute_ssimulacra2()
    except ImportError:
        return False
    return True


def _centre(values: np.ndarray, crop: int | None) -> np.ndarray:
    if crop is None:
        return values
    if isinstance(crop, bool) or not isinstance(crop, (int, np.integer)) or crop < 8:
        msg = f"crop must be an integer of at least 8 pixels, not {crop!r}"
        raise ValueError(msg)
    height, width = values.shape[:2]
    top, left = max(0, (height - crop) // 2), max(0, (width - crop) // 2)
    return values[top : top + crop, left : left + crop]


def _blended(values: np.ndarray, background: float) -> np.ndarray:
    """uint8 RGB: grey widened; alpha blended on a grey ``background`` (0..1)."""
    rgb = _widen(values, 3)[:, :, :3]
    if values.shape[2] != 4:
        return np.ascontiguousarray(rgb)
    alpha = values[:, :, 3:].astype(np.float64) / 255.0
    blended = rgb * alpha + (1.0 - alpha) * background * 255.0
    return np.clip(np.round(blended), 0, 255).astype(np.uint8)


def _as_file(values: np.ndarray) -> io.BytesIO:
    # The package reads files; PPM is written and read without compression.
    buffer = io.BytesIO()
    Image.fromarray(values, "RGB").save(buffer, format="PPM")
    buffer.seek(0)
    return buffer


def ssimulacra2(reference: ImageLike, test: ImageLike, *, crop: int | None = None) -> float:
    """SSIMULACRA2 score of ``test`` against ``reference`` (100 = identical, higher is better).

    ``crop`` scores only the centre ``crop`` x ``crop`` pixels (the metric costs
    about 3 s per megapixel). Images under 8 pixels on a side give ``nan``.
    Raises ImportError with an install hint when the ssimulacra2 package is missing.
    """
    compute = _compute_ssimulacra2()
    first, second = (_centre(values, crop) for values in _aligned(reference, test))
    if min(first.shape[:2]) < 8:
        return math.nan
    backgrounds = SSIMULACRA2_BACKGROUNDS if first.shape[2] == 4 else (0.0,)
    return min(
        float(compute(_as_file(_blended(first, bg)), _as_file(_blended(second, bg)))) for bg in backgrounds
    )


def raw_bytes(width: int, height: int, channels: int) -> int:
    """Size of the uncompressed image at one byte per sample."""
    return width * height * channels


def compression_ratio(raw: int, compressed: int) -> float:
    """raw / compressed (how many times smaller); ``inf`` for an empty compressed size."""
    return math.inf if compressed <= 0 else raw / compressed


def bits_per_pixel(compressed: int, width: int, height: int) -> float:
    return 8.0 * compressed / (width * height)


@dataclass(frozen=True)
class Comparison:
    """How a decoded image measures against its original, and what it cost."""

    width: int
    height: int
    channels: int  # of the original
    bytes: int  # compressed size
    raw_bytes: int
    ratio: float  # raw_bytes / bytes
    bits_per_pixel: float
    psnr: float  # dB; inf when identical
    ssim: float | None  # None when not measured (scikit-image missing or not asked for)
    # On the centre SSIMULACRA2_CROP pixels (or ssimulacra2_crop); None when not measured.
    ssimulacra2: float | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: non-finite floats (identical images, tiny images) become None."""
        return {key: _finite(value) for key, value in asdict(self).items()}


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def compare(
    original: ImageLike,
    decoded: ImageLike,
    compressed_bytes: int,
    *,
    with_ssim: bool = True,
    with_ssimulacra2: bool = False,
    ssimulacra2_crop: int | None = SSIMULACRA2_CROP,
) -> Comparison:
    """Measure ``decoded`` against ``original`` and relate ``compressed_bytes`` to the raw size.

    ``with_ssim=False`` skips SSIM (the slow part, and the one needing scikit-image).
    ``with_ssimulacra2=True`` also scores SSIMULACRA2 (the ssimulacra2 package) on the
    centre ``ssimulacra2_crop`` pixels (None: the whole image, slow on large ones).
    """
    first = to_pixels(original)
    height, width, channels = first.shape
    raw = raw_bytes(width, height, channels)
    return Comparison(
        width=width,
        height=height,
        channels=channels,
        bytes=compressed_bytes,
        raw_bytes=raw,
        ratio=compression_ratio(raw, compressed_bytes),
        bits_per_pixel=bits_per_pixel(compressed_bytes, width, height),
        psnr=psnr(first, decoded),
        ssim=ssim(first, decoded) if with_ssim else None,
        ssimulacra2=ssimulacra2(first, decoded, crop=ssimulacra2_crop) if with_ssimulacra2 else None,
    )


def elbow(ks: Sequence[int], values: Sequence[float]) -> int:
    """The K at the elbow of a quality curve: where more colours stop paying off.

    The curve is (log2 K, value), both axes scaled to 0..1; the elbow is the point
    farthest from the straight line (the chord) joining the first and last points,
    on the side a diminishing-returns curve bends to: above the chord for a rising
    curve (PSNR, SSIM), below it for a falling one (error, distortion). This is the
    "kneedle" rule. Rules for the edge cases, so callers can rely on them:

    - points are sorted by K first; ``ks`` must be distinct positive integers;
    - ``nan`` values are ignored;
    - ``+inf`` (lossless: the PSNR of an exact palette) counts as one average step
      of the finite part above the best finite value (``-inf`` likewise below the
      worst), so a curve that climbs steadily and then turns lossless has its elbow
      at the first lossless K, and a lossless tail is a plateau; if every value is
      infinite the smallest K is returned;
    - with fewer than three usable points, or no bend on the diminishing-returns
      side (a straight or accelerating curve), the largest K is returned.
    """
    if len(ks) != len(values):
        msg = f"elbow: {len(ks)} values of K but {len(values)} measurements"
        raise ValueError(msg)
    if not ks:
        raise ValueError("elbow: no points")
    if len(set(ks)) != len(ks) or any(int(k) != k or k < 1 for k in ks):
        raise ValueError("elbow: K values must be distinct positive integers")
    pairs = sorted((int(k), float(v)) for k, v in zip(ks, values, strict=True) if not math.isnan(float(v)))
    if not pairs:
        return int(max(ks))
    finite = [v for _, v in pairs if math.isfinite(v)]
    if not finite:
        return pairs[0][0]
    margin = (max(finite) - min(finite)) / (len(finite) - 1) if len(finite) > 1 else 0.0
    margin = margin or 1.0
    kept = [(k, max(finite) + margin if v == math.inf else min(finite) - margin if v == -math.inf else v)
            for k, v in pairs]  # fmt: skip
    if len(kept) < 3:
        return kept[-1][0]
    x = np.log2([k for k, _ in kept])
    y = np.array([v for _, v in kept])
    y = y / np.max(np.abs(y)) if np.any(y) else y  # within +-1: differences cannot overflow
    if y[-1] == y[0]:
        return kept[-1][0]
    x = (x - x[0]) / (x[-1] - x[0])
    with np.errstate(over="ignore"):  # ends a hair apart and a point far off: its height is +-inf
        y = (y - y[0]) / (y[-1] - y[0])  # rising or falling, now runs from 0 up to 1
    # Height above the chord y = x (proportional to the distance from it).
    height = y - x
    best = int(np.argmax(height))
    if height[best] <= 1e-9:
        return kept[-1][0]
    return kept[best][0]
