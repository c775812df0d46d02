"""An encode request as the batch engines and the command line pass it around.

:class:`EncodeOptions` holds everything that shapes the encoded bytes, small and
picklable (it travels to worker processes and Dask workers with each task); :func:`encode`
runs it through :func:`kmzcodec.encoder.encode_details`. The command line builds one from
its arguments (``kmzcodec.cli.encoding.encode_options``); ``kmzcodec.batch.convert`` from
keyword arguments.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from . import palettes
from .encoder import DEFAULT_COLORS, Encoded, encode_details
from .options import AUTO_TARGETS

#: The encoder's defaults (method, colorspace, compression, seed, ...), read from its signature.
ENCODER_DEFAULTS: dict[str, Any] = {
    name: parameter.default
    for name, parameter in inspect.signature(encode_details).parameters.items()
    if parameter.default is not inspect.Parameter.empty
}

Source = Image.Image | np.ndarray


@dataclass(frozen=True)
class EncodeOptions:
    """Everything that shapes the encoded bytes (picklable: sent to convert's workers)."""

    colors: int | str = DEFAULT_COLORS
    method: str = ENCODER_DEFAULTS["method"]
    colorspace: str = ENCODER_DEFAULTS["colorspace"]
    dither: bool | float = False  # a strength 0..1; True: the default one
    compression: str = ENCODER_DEFAULTS["compression"]
    level: int | None = None
    seed: int = ENCODER_DEFAULTS["seed"]
    min_psnr: float | None = None
    min_ssim: float | None = None
    min_ssimulacra2: float | None = None
    max_bytes: int | None = None
    value_range: tuple[float, float] | None = None
    quality: int = ENCODER_DEFAULTS["quality"]
    palette: palettes.Palette | None = None
    resize: tuple[int | None, int | None] | None = None
    mat_key: str | None = None

    def describe(self) -> str:
        text = f"{self.method}, {self.colorspace}, {self.compression}"
        if self.palette is not None:
            text = f"given {len(self.palette)}-colour palette, {self.colorspace}, {self.compression}"
        if self.quality != ENCODER_DEFAULTS["quality"]:
            text += f", quality {self.quality}"
        return text + (", dithered" if self.dither else "")

    def encoder_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of kmzcodec.encode other than K and the auto-K targets."""
        kwargs: dict[str, Any] = {
            "method": self.method,
            "colorspace": self.colorspace,
            "dither": self.dither,
            "seed": self.seed,
            "compression": self.compression,
            "level": self.level,
        }
        if self.value_range is not None:  # only when given: the encoder's own default otherwise
            kwargs["value_range"] = self.value_range
        if self.quality != ENCODER_DEFAULTS["quality"]:
            kwargs["quality"] = self.quality
        if self.palette is not None:
            kwargs["palette"] = self.palette
            del kwargs["method"]  # the palette is given, not clustered
        return kwargs


def encode(image: Source, options: EncodeOptions) -> Encoded:
    extra: dict[str, Any] = {}
    if options.colors == "auto":
        extra = {name: getattr(options, name) for name in AUTO_TARGETS}
    return encode_details(image, options.colors, **options.encoder_kwargs(), **extra)
