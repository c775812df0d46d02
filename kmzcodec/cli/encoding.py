"""The encoder options a command was given, checked together, and the call to the encoder."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from .. import palettes
from ..encoder import DEFAULT_COLORS, Encoded, encode_details
from ..options import AUTO_TARGETS
from .arguments import ENCODER_DEFAULTS
from .status import UsageError

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


def encode_options(args: argparse.Namespace, colors: int | str | None = None) -> EncodeOptions:
    targets = {
        "min_psnr": getattr(args, "min_psnr", None),
        "min_ssim": getattr(args, "min_ssim", None),
        "min_ssimulacra2": getattr(args, "min_ssimulacra2", None),
        "max_bytes": getattr(args, "max_bytes", None),
    }
    chosen = colors if colors is not None else getattr(args, "colors", None)
    named = [f"--{name.replace('_', '-')}" for name, value in targets.items() if value is not None]
    if chosen is None:
        chosen = "auto" if named else DEFAULT_COLORS
    if named and chosen != "auto":
        raise UsageError(f"{', '.join(named)} needs -k auto (K was given as {chosen})")
    if args.dither and isinstance(chosen, int) and chosen > 256:
        raise UsageError(f"--dither works with K up to 256, not {chosen}")
    return EncodeOptions(
        colors=chosen,
        method=args.method,
        colorspace=args.colorspace,
        dither=args.dither,
        compression=args.compression,
        level=args.level,
        seed=args.seed,
        value_range=getattr(args, "value_range", None),
        quality=getattr(args, "quality", ENCODER_DEFAULTS["quality"]),
        palette=palettes.load(args.palette) if getattr(args, "palette", None) else None,
        resize=getattr(args, "resize", None),
        mat_key=getattr(args, "mat_key", None),
        **targets,
    )


def encode(image: Source, options: EncodeOptions) -> Encoded:
    extra: dict[str, Any] = {}
    if options.colors == "auto":
        extra = {name: getattr(options, name) for name in AUTO_TARGETS}
    return encode_details(image, options.colors, **options.encoder_kwargs(), **extra)
