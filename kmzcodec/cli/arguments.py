"""Argument types and the option groups several commands share.

Choices come from :mod:`kmzcodec.options` and defaults from the encoder's own
signature, so the command cannot drift from the library.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from typing import Any

from .. import container
from ..encoder import DEFAULT_COLORS
from ..errors import KmzError
from ..format import MAX_COLORS, MAX_DIMENSION
from ..metrics import SSIMULACRA2_CROP
from ..options import (
    COLORSPACES,
    COMPRESSIONS,
    DEFAULT_DITHER_STRENGTH,
    DEFAULT_QUALITY,
    METHODS,
    check_quality,
)
from ..request import ENCODER_DEFAULTS
from .figures import DEFAULT_DPI, PANEL_INCHES

COMPARE_KS = (4, 16, 64)
SWEEP_KS = (2, 4, 8, 16, 32, 64, 128, 256)


# --------------------------------------------------------------------------- types


def _k(text: str, also: str = "") -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_COLORS:
        msg = f"K must be an integer from 1 to {MAX_COLORS}{also}, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def colors(text: str) -> int | str:
    """-k value: an integer K in 1..65536, or "auto"."""
    return "auto" if text.strip().lower() == "auto" else _k(text, " or 'auto'")


def color_list(text: str) -> list[int]:
    """-k list: comma-separated K values, e.g. 4,16,64 (duplicates dropped, order kept)."""
    return list(dict.fromkeys(_k(item) for item in text.split(",")))


def size(text: str) -> tuple[int | None, int | None]:
    """--resize WxH; one side may be left out (Wx, xH) to keep the aspect ratio."""
    parts = text.lower().split("x")
    msg = f"size must be WIDTHxHEIGHT, WIDTHx or xHEIGHT in pixels, not {text!r}"
    if len(parts) != 2 or not any(parts):
        raise argparse.ArgumentTypeError(msg)
    try:
        width, height = (int(part) if part else None for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(msg) from None
    if any(side is not None and not 1 <= side <= MAX_DIMENSION for side in (width, height)):
        raise argparse.ArgumentTypeError(msg)
    return width, height


def value_range(text: str) -> tuple[float, float]:
    """--value-range LOW,HIGH: the sample values that become black and white."""
    msg = f"value range must be LOW,HIGH with LOW < HIGH (e.g. 0,4095), not {text!r}"
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(msg)
    try:
        low, high = (float(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(msg) from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise argparse.ArgumentTypeError(msg)
    return low, high


def positive(kind: type, upper: float | None = None) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if (
            value is None
            or not value > 0
            or (upper is not None and value > upper)
            or not math.isfinite(value)
        ):
            bound = f" up to {upper}" if upper is not None else ""
            msg = f"expected a positive {kind.__name__}{bound}, not {text!r}"
            raise argparse.ArgumentTypeError(msg)
        return value

    parse.__name__ = kind.__name__
    return parse


def at_most(upper: float) -> Callable[[str], float]:
    """A finite number up to ``upper``, of either sign (SSIMULACRA2 scores go below zero)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value > upper:
            raise argparse.ArgumentTypeError(f"expected a number up to {upper:g}, not {text!r}")
        return value

    parse.__name__ = "float"
    return parse


def dither_strength(text: str) -> float:
    """--dither S: an error diffusion strength from 0 (off) to 1."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        msg = f"dither strength must be a number from 0 to 1, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def level(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 9:
        msg = f"compression level must be 0..9, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"the number of worker processes must be 1 or more, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def quality(text: str) -> int:
    try:
        return check_quality(int(text))
    except (ValueError, KmzError):
        msg = f"quality must be an integer from 0 to {DEFAULT_QUALITY}, not {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def k_list(values: Sequence[int]) -> str:
    return ",".join(str(k) for k in values)


# --------------------------------------------------------------------------- shared groups


def encoding_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("encoding")
    group.add_argument(
        "--method",
        choices=METHODS,
        default=ENCODER_DEFAULTS["method"],
        help="how the palette is chosen: k-means or a Gaussian mixture (default: %(default)s)",
    )
    group.add_argument(
        "--colorspace",
        choices=COLORSPACES,
        default=ENCODER_DEFAULTS["colorspace"],
        help="colour space the clustering runs in (default: %(default)s)",
    )
    group.add_argument(
        "--dither",
        nargs="?",
        const=DEFAULT_DITHER_STRENGTH,
        default=0.0,
        type=dither_strength,
        metavar="S",
        help=f"adaptive error diffusion of strength S, 0 (off) to 1, K <= 256; a bare --dither "
        f"is {DEFAULT_DITHER_STRENGTH} (put it after the file names, or give S) (default: %(default)s)",
    )
    group.add_argument(
        "--quality",
        type=quality,
        default=DEFAULT_QUALITY,
        metavar="Q",
        help="0-100: below 100, runs of pixels may take a neighbour's entry whose squared error is at "
        "most (1 + 16 (100 - Q) / 100) x the nearest's, for smaller files; with --dither, small "
        "errors are not diffused and a pixel may take its neighbour's entry (default: %(default)s)",
    )
    group.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        default=ENCODER_DEFAULTS["compression"],
        help="how the index data is compressed; smallest tries none, zlib and lzma at several "
        "settings and widths and keeps the smallest file, slower (default: %(default)s)",
    )
    group.add_argument(
        "--level",
        type=level,
        default=None,
        metavar="0-9",
        help=f"zlib compression level (default: libdeflate {container.FAST_LIBDEFLATE_LEVEL}, "
        f"libdeflate {container.STRONG_LIBDEFLATE_LEVEL} or zlib {container.THOROUGH_ZLIB_LEVEL}, "
        f"as a trial on a sample shows each pays; preset {container.DEFAULT_LZMA_PRESET} for lzma; "
        "not with smallest)",
    )
    group.add_argument(
        "--seed",
        type=int,
        default=ENCODER_DEFAULTS["seed"],
        help="random seed of the clustering (default: %(default)s)",
    )
    group.add_argument(
        "--resize",
        type=size,
        default=None,
        metavar="WxH",
        help="resize first (Lanczos); Wx or xH keeps the aspect ratio (default: keep the size)",
    )
    group.add_argument(
        "--mat-key",
        default=None,
        metavar="NAME",
        help="variable to read from a MATLAB .mat input (default: the largest image-shaped array)",
    )


def value_range_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--value-range",
        type=value_range,
        default=None,
        metavar="LOW,HIGH",
        help="sample values that mean black and white, e.g. 0,4095 for 12-bit data in a 16-bit file "
        "(default: the input's type decides)",
    )


def palette_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--palette",
        default=None,
        metavar="FILE",
        help="map onto this palette instead of clustering one: a .kmz, an image (a palette image's "
        "palette, or the colours of an image of at most 65,536), a GIMP .gpl, or #rrggbb lines "
        "(default: none)",
    )


def colors_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-k",
        "--colors",
        type=colors,
        default=None,
        metavar="K",
        help=f"palette size 1..{MAX_COLORS}, or 'auto' (default: {DEFAULT_COLORS}; "
        "auto when a target below is given)",
    )


def auto_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("automatic K (-k auto)")
    group.add_argument(
        "--min-psnr",
        type=positive(float),
        default=None,
        metavar="DB",
        help="smallest K whose PSNR reaches DB decibels (default: no target)",
    )
    group.add_argument(
        "--min-ssim",
        type=positive(float, 1.0),
        default=None,
        metavar="S",
        help="smallest K whose SSIM reaches S, 0 < S <= 1 (default: no target)",
    )
    group.add_argument(
        "--min-ssimulacra2",
        type=at_most(100.0),
        default=None,
        metavar="S",
        help=f"smallest K whose SSIMULACRA2 on the centre {SSIMULACRA2_CROP}x{SSIMULACRA2_CROP} pixels "
        "reaches S, up to 100; 90 is visually lossless, 70 high quality; needs the metrics extra "
        "(default: no target)",
    )
    group.add_argument(
        "--max-bytes",
        type=positive(int),
        default=None,
        metavar="N",
        help="largest K whose file fits in N bytes (default: no limit; "
        "with no target at all, -k auto takes the elbow of the quality curve)",
    )


def color_list_argument(parser: argparse.ArgumentParser, default: Sequence[int], what: str) -> None:
    parser.add_argument(
        "-k",
        "--colors",
        type=color_list,
        default=list(default),
        metavar="K,K,...",
        help=f"{what} (default: {k_list(default)})",
    )


def force_argument(parser: argparse.ArgumentParser, what: str = "outputs") -> None:
    parser.add_argument(
        "--force", action="store_true", help=f"overwrite existing {what} (default: off, never overwrite)"
    )


def dpi_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dpi",
        type=positive(int, 600),
        default=DEFAULT_DPI,
        help=f"figure resolution; a panel is {PANEL_INCHES} inches wide (default: %(default)s)",
    )


def json_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--json", action="store_true", help=f"print {what} as JSON on stdout (default: off, a table)"
    )
