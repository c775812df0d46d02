"""The GUI's work: encode one side's settings, measure it, and sweep K for the chart.

Everything here runs on a lane thread (kmzcodec.gui.lanes) and calls ``check()``
between stages, so stale work stops as soon as it can. Encoding goes through
:func:`kmzcodec.encoder.encode_details`, so the full-size bytes are exactly what
``kmzcodec.encode`` (and ``kmz encode``) write for the same options; numbers come
from :mod:`kmzcodec.metrics`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import autok, container, metrics
from ..encoder import Encoded, encode_details
from ..errors import KmzError
from ..format import MAX_COLORS, ColorSpace, Method
from ..options import COLORSPACES, COMPRESSIONS, DEFAULT_QUALITY, METHODS, check_dither, check_quality
from .lanes import Check
from .loading import Loaded

#: The K slider's range: up to 256 an index fits one byte and dithering works.
SLIDER_MAX_COLORS = 256
#: Quality / size targets of automatic K, by the name the page uses.
TARGETS = {"psnr": "min_psnr", "ssim": "min_ssim", "ssimulacra2": "min_ssimulacra2", "bytes": "max_bytes"}
#: Palette entries listed in a result (the most used first); K can be larger with "auto".
LISTED_ENTRIES = 256
STAGES = ("preview", "full")


def _choice(value: object, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise KmzError(f"unknown {what} {value!r} (choose from {', '.join(allowed)})", "bad-option")
    return str(value)


@dataclass(frozen=True)
class Settings:
    """One side's encoder options, as the page sends them."""

    colors: int | str
    method: str = "kmeans"
    colorspace: str = "rgb"
    dither: float = 0.0  # error diffusion strength 0..1; 0: none
    compression: str = "zlib"
    target: tuple[str, float] | None = None  # with colors == "auto"
    quality: int = DEFAULT_QUALITY  # below 100: kmzcodec.ratedistortion trades error for bytes

    @classmethod
    def from_json(cls, data: object, *, need_colors: bool = True) -> Settings:
        if not isinstance(data, dict):
            raise KmzError("settings must be a JSON object", "bad-option")
        colors = data.get("k", 16) if need_colors else 16
        if colors != "auto" and (isinstance(colors, bool) or not isinstance(colors, int)):
            raise KmzError(f"K must be an integer or 'auto', not {colors!r}", "bad-option")
        if isinstance(colors, int) and not 1 <= colors <= MAX_COLORS:
            raise KmzError(f"K must lie in 1..{MAX_COLORS}, not {colors}", "bad-option")
        target = None
        if colors == "auto" and data.get("target") is not None:
            kind = _choice(data.get("target"), tuple(TARGETS), "target")
            value = data.get("target_value")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise KmzError(f"the {kind} target needs a number, not {value!r}", "bad-option")
            target = (kind, float(value))
        # The encoder's own checks: a strength 0..1 (true/false as in the API), quality 0..100.
        dither = check_dither(data.get("dither", 0.0))
        quality = check_quality(data.get("quality", DEFAULT_QUALITY))
        return cls(
            colors=colors,
            method=_choice(data.get("method", "kmeans"), METHODS, "method"),
            colorspace=_choice(data.get("colorspace", "rgb"), COLORSPACES, "colour space"),
            dither=dither,
            compression=_choice(data.get("compression", "zlib"), COMPRESSIONS, "compression"),
            target=target,
            quality=quality,
        )

    def options(self) -> dict[str, Any]:
        """Keyword arguments of encode_details (everything but K)."""
        options: dict[str, Any] = {
            "method": self.method,
            "colorspace": self.colorspace,
            "dither": self.dither,
            "compression": self.compression,
            "quality": self.quality,
        }
        if self.target is not None:
            kind, value = self.target
            options[TARGETS[kind]] = int(value) if kind == "bytes" else value
        return options


@dataclass
class Result:
    """One encoding of one side: the file, its numbers, and what SSIM needs later."""

    data: bytes
    numbers: dict[str, object]
    encoded: Encoded
    pixels: np.ndarray  # the pixels it was measured against


def _hex(entry: np.ndarray) -> str:
    values = [int(entry[0])] * 3 if len(entry) == 1 else [int(v) for v in entry]
    return "#" + "".join(f"{v:02x}" for v in values)


def palette_shares(encoded: Encoded) -> list[list[object]]:
    """[colour, share of pixels] for the most used entries, most used first."""
    palette, indices = encoded.quantized.palette, encoded.quantized.indices
    counts = np.bincount(indices.ravel(), minlength=len(palette))
    order = np.argsort(-counts, kind="stable")[:LISTED_ENTRIES]
    return [[_hex(palette[i]), round(float(counts[i]) / indices.size, 5)] for i in order]


def _rendered(encoded: Encoded) -> np.ndarray:
    """The decoded pixels, without decoding: the palette looked up by index."""
    return encoded.quantized.palette[encoded.quantized.indices]


def _preview(loaded: Loaded, settings: Settings, colors: int) -> Encoded:
    """A fixed-K preview, as fast as it can be made: it is looked at, never saved or sized.

    The preview copy's colour histogram is kept between changes (a Quantizer per
    method and colour space), and the indices are written the fastest way (zlib
    level 1, whole bytes); the palette and indices are the encoder's own.
    """
    quantizer = loaded.preview_quantizer(settings.method, settings.colorspace)
    quantized = quantizer.quantize(colors, dither=settings.dither)
    data = container.write(
        quantized.palette,
        quantized.indices,
        compression="zlib",
        level=1,
        bits_per_index=8 if colors <= 256 else 16,
        method=Method[quantized.method.upper()],
        colorspace=ColorSpace[quantized.colorspace.upper()],
        dithered=quantized.dithered,
    )
    return Encoded(data, quantized)


def encode(loaded: Loaded, settings: Settings, stage: str, check: Check) -> Result:
    """Encode the full image, or its preview copy, with one side's settings."""
    use_preview = stage == "preview" and loaded.preview_image is not None
    image = loaded.preview_image if use_preview else loaded.image
    pixels = loaded.preview_pixels if use_preview else loaded.pixels
    assert image is not None and pixels is not None
    check()
    started = time.perf_counter()
    # The fast preview has no quality knob (the encoder's step after quantizing): below 100 the
    # preview copy is encoded as the file will be.
    if use_preview and settings.colors != "auto" and settings.quality == DEFAULT_QUALITY:
        encoded = _preview(loaded, settings, int(settings.colors))
    else:
        encoded = encode_details(image, settings.colors, **settings.options())
    seconds = time.perf_counter() - started
    check()
    comparison = metrics.compare(pixels, _rendered(encoded), len(encoded.data), with_ssim=False)
    numbers = comparison.as_dict()
    numbers.update(
        stage="preview" if use_preview else "full",
        colors=encoded.colors,
        method=encoded.quantized.method,
        encode_seconds=round(seconds, 4),
        file_bytes=loaded.file_bytes,
        vs_file_percent=round(100.0 * (len(encoded.data) - loaded.file_bytes) / loaded.file_bytes, 2),
        palette=palette_shares(encoded),
    )
    return Result(encoded.data, numbers, encoded, pixels)


def ssim(result: Result) -> float | None:
    """SSIM of a result against its original; None without scikit-image (or for tiny images)."""
    if not metrics.ssim_available():
        return None
    value = metrics.ssim(result.pixels, _rendered(result.encoded))
    return value if math.isfinite(value) else None


@dataclass
class Sweep:
    """The effect-of-K chart's data, filled in by :func:`sweep` while the page polls it."""

    ks: tuple[int, ...]
    width: int
    height: int
    points: list[dict[str, object]] = field(default_factory=list)
    done: bool = False
    elbow: int | None = None
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> dict[str, object]:
        with self.lock:
            return {
                "ks": list(self.ks),
                "width": self.width,
                "height": self.height,
                "points": list(self.points),
                "done": self.done,
                "elbow": self.elbow,
                "error": self.error,
            }


def new_sweep(loaded: Loaded) -> Sweep:
    pixels = loaded.pixels if loaded.preview_pixels is None else loaded.preview_pixels
    return Sweep(autok.ELBOW_KS, int(pixels.shape[1]), int(pixels.shape[0]))


def sweep(loaded: Loaded, settings: Settings, state: Sweep, check: Check, wait: Callable[[], None]) -> None:
    """PSNR, SSIM and bytes for every K of the chart, on the preview copy (the whole image if small).

    ``wait()`` runs before each slow step, so the sweep gives way to interactive encodes.
    The elbow is taken on SSIM when it is measured, else on PSNR (as automatic K does).
    """
    image = loaded.image if loaded.preview_image is None else loaded.preview_image
    pixels = loaded.pixels if loaded.preview_pixels is None else loaded.preview_pixels
    with_ssim = metrics.ssim_available()
    measured: list[float] = []  # what the elbow is found on; inf (lossless PSNR) included
    try:
        for k in state.ks:
            wait()
            check()
            encoded = encode_details(image, k, **settings.options())
            wait()  # SSIM is the other slow step
            check()
            rendered = _rendered(encoded)
            quality = metrics.psnr(pixels, rendered)
            similarity = metrics.ssim(pixels, rendered) if with_ssim else math.nan
            measured.append(similarity if with_ssim else quality)
            point: dict[str, object] = {
                "k": k,
                "colors": encoded.colors,
                "bytes": len(encoded.data),
                "psnr": _finite(quality),
                "ssim": _finite(similarity),
            }
            with state.lock:
                state.points.append(point)
        with state.lock:
            state.elbow = metrics.elbow(state.ks, measured)
            state.done = True
    except KmzError as exc:
        with state.lock:
            state.error, state.done = str(exc), True


def _finite(value: float) -> float | None:
    """JSON has no inf or nan: None stands for both (the page says "lossless" or "n/a")."""
    return round(value, 5) if math.isfinite(value) else None
