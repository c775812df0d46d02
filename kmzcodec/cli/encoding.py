"""The encoder options a command was given, checked together (kmzcodec.request runs them)."""

from __future__ import annotations

import argparse

from .. import palettes
from ..encoder import DEFAULT_COLORS
from ..request import ENCODER_DEFAULTS, EncodeOptions
from .status import UsageError


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
    if getattr(args, "palette", None):  # used as it is: nothing to choose (the API says so too)
        if chosen == "auto":
            asked = ", ".join(named) if named else "-k auto"
            raise UsageError(f"{asked} does not apply to --palette, which is used as it is")
        if args.method != ENCODER_DEFAULTS["method"]:
            raise UsageError(f"--method {args.method} does not apply to --palette, which is used as it is")
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
