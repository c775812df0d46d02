"""The encoder's option names and limits, and their checks, defined once.

The library validates against these, and the ``kmz`` command and the Pillow
plugin read their choices from here. Every public option is checked by one
``check_<name>`` function below, before any work is done; a wrong type or a
wrong value raises ``KmzError(..., "bad-option")`` (never TypeError, never an
error from NumPy or scikit-learn). :func:`check_encode` checks the whole set
that :func:`kmzcodec.encode` takes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

import numpy as np

from .colorspace import SPACES
from .errors import KmzError
from .format import MAX_BITS, MAX_COLORS, ColorSpace, Compression

if TYPE_CHECKING:
    from .palettes import Palette

#: Clustering methods (``encode(method=...)``).
METHODS: tuple[str, ...] = ("kmeans", "gmm")
#: Colour spaces the clustering may run in (``encode(colorspace=...)``).
COLORSPACES: tuple[str, ...] = SPACES
#: ``compression="smallest"``: a writer policy, not a stored code. The writer tries the
#: stored compressions and settings of kmzcodec.smallest and the header records the winner.
SMALLEST: Literal["smallest"] = "smallest"
Smallest = Literal["smallest"]
#: Ways of storing the index rows (``encode(compression=...)``), the default first: every
#: stored compression (format.Compression), then the policy that picks among them.
COMPRESSIONS: tuple[str, ...] = ("zlib", "lzma", "none", SMALLEST)
#: A Gaussian mixture of more components than this is not worth fitting.
GMM_MAX_COLORS = 256
#: Floyd-Steinberg dithering goes through Pillow's remapper, which takes 256 entries at most.
DITHER_MAX_COLORS = 256
#: The strength ``dither=True`` asks for (what the quality benchmark judges).
DEFAULT_DITHER_STRENGTH = 1.0
#: Compression effort (zlib levels, lzma presets).
LEVELS = range(10)
#: ``encode(quality=...)``: 100 keeps every pixel's nearest entry; lower trades error for bytes
#: (kmzcodec.ratedistortion).
DEFAULT_QUALITY = 100
QUALITIES = range(DEFAULT_QUALITY + 1)
#: Seeds the quantizer's random generators take.
SEED_LIMIT = 2**32

assert set(COMPRESSIONS) == {c.label for c in Compression} | {SMALLEST}
#: Every colour space has a header code (spec 4.10), for the encoder to record.
assert set(COLORSPACES) <= {c.label for c in ColorSpace}

_REASON = "bad-option"


def _fail(message: str) -> KmzError:
    return KmzError(message, _REASON)


def _is_int(value: object) -> TypeGuard[int | np.integer[Any]]:
    """An integer, Python's or NumPy's; bool is not one (True is not a count)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: object) -> TypeGuard[int | float | np.integer[Any] | np.floating[Any]]:
    return _is_int(value) or isinstance(value, (float, np.floating))


def _choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise _fail(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return str(value)


def check_method(value: object) -> str:
    return _choice(value, "method", METHODS)


def check_colorspace(value: object) -> str:
    return _choice(value, "colorspace", COLORSPACES)


def check_compression(value: object) -> Compression | Smallest:
    """A name from COMPRESSIONS or a :class:`~kmzcodec.format.Compression` member (not a bare code)."""
    if isinstance(value, Compression):
        return value
    if value == SMALLEST:
        return SMALLEST
    if isinstance(value, str) and value in COMPRESSIONS:
        return Compression[value.upper()]
    raise _fail(f"compression must be one of {', '.join(COMPRESSIONS)}, not {value!r}")


def check_level(value: object) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or int(value) not in LEVELS:
        raise _fail(f"level must be an integer from 0 to 9 or None, not {value!r}")
    return int(value)


def check_level_applies(compression: Compression | Smallest, level: int | None) -> None:
    """``level`` sets one compression's effort: "smallest" tries its own (kmzcodec.smallest),
    and "none" has none."""
    if compression == SMALLEST and level is not None:
        raise _fail(f"level={level} does not apply to compression='smallest', which tries its own levels")
    if compression is Compression.NONE and level is not None:
        raise _fail(f"level={level} does not apply to compression='none', which stores the rows as they are")


def check_bits_per_index(value: object, colors: int | None = None) -> int | None:
    """None (the writer chooses) or a width of 1..16 bits, able to address ``colors`` entries if given."""
    if value is None:
        return None
    if not _is_int(value) or not 1 <= int(value) <= MAX_BITS:
        raise _fail(f"bits_per_index must be an integer from 1 to {MAX_BITS} or None, not {value!r}")
    bits = int(value)
    if colors is not None and 1 << bits < colors:
        raise _fail(f"bits_per_index={bits} cannot address K = {colors} colours")
    return bits


def check_seed(value: object) -> int:
    if not _is_int(value) or not 0 <= int(value) < SEED_LIMIT:
        raise _fail(f"seed must be an integer from 0 to 2**32 - 1, not {value!r}")
    return int(value)


def check_dither(value: object) -> float:
    """The error diffusion strength, 0..1: True is DEFAULT_DITHER_STRENGTH, False (or 0) no dithering."""
    if isinstance(value, (bool, np.bool_)):
        return DEFAULT_DITHER_STRENGTH if value else 0.0
    if _is_real(value) and 0.0 <= float(value) <= 1.0:
        return float(value)
    raise _fail(f"dither must be True, False or a strength from 0 to 1, not {value!r}")


def check_quality(value: object) -> int:
    """0..100: 100 keeps each pixel's nearest entry; lower allows kmzcodec.ratedistortion's error bound."""
    if not _is_int(value) or int(value) not in QUALITIES:
        raise _fail(f"quality must be an integer from 0 to {DEFAULT_QUALITY}, not {value!r}")
    return int(value)


def check_colors(
    value: object, *, method: str = "kmeans", dither: float = 0.0, auto: bool = True
) -> int | Literal["auto"]:
    """K (1..65,536) or, if ``auto``, "auto"; at most GMM_MAX_COLORS for GMM, DITHER_MAX_COLORS dithered."""
    if auto and isinstance(value, str) and value == "auto":
        return "auto"
    if not _is_int(value) or not 1 <= int(value) <= MAX_COLORS:
        also = " or 'auto'" if auto else ""
        raise _fail(f"colors must be an integer from 1 to {MAX_COLORS}{also}, not {value!r}")
    colors = int(value)
    if method == "gmm" and colors > GMM_MAX_COLORS:
        raise _fail(
            f"method='gmm' fits at most {GMM_MAX_COLORS} colours, not {colors}: use method='kmeans' for more"
        )
    if dither and colors > DITHER_MAX_COLORS:
        raise _fail(f"dithering works with at most {DITHER_MAX_COLORS} colours, not {colors}")
    return colors


def check_min_psnr(value: object) -> float | None:
    """None or a finite target in dB."""
    if value is None:
        return None
    if not _is_real(value) or not math.isfinite(float(value)):
        raise _fail(f"min_psnr must be a finite number (dB) or None, not {value!r}")
    return float(value)


def check_min_ssim(value: object) -> float | None:
    """None or a target in (0, 1]: SSIM 1 is identical, and a target <= 0 is no target."""
    if value is None:
        return None
    if not _is_real(value) or not 0.0 < float(value) <= 1.0:
        raise _fail(f"min_ssim must be a number in (0, 1] or None, not {value!r}")
    return float(value)


def check_min_ssimulacra2(value: object) -> float | None:
    """None or a finite target of at most 100 (identical); needs the ssimulacra2 package."""
    if value is None:
        return None
    if not _is_real(value) or not math.isfinite(float(value)) or float(value) > 100.0:
        raise _fail(f"min_ssimulacra2 must be a finite number up to 100 or None, not {value!r}")
    from .metrics import ssimulacra2_available  # metrics imports pixels, which imports this module

    if not ssimulacra2_available():
        msg = "min_ssimulacra2 needs the ssimulacra2 package: pip install 'kmzcodec[metrics]'"
        raise KmzError(msg, "missing-extra")
    return float(value)


def _positive_or_none(value: object, name: str) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or int(value) < 1:
        raise _fail(f"{name} must be a positive integer or None, not {value!r}")
    return int(value)


def check_max_bytes(value: object) -> int | None:
    """The auto-K size target: None or a positive number of bytes."""
    return _positive_or_none(value, "max_bytes")


def check_value_range(value: object) -> tuple[float, float] | None:
    """None (scale by the input's type) or (low, high): finite numbers, low < high.

    Used by :mod:`kmzcodec.pixels`, which maps low..high linearly onto 0..255.
    """
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        value = tuple(value.tolist()) if value.ndim == 1 else value
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(_is_real(end) for end in value):
        raise _fail(f"value_range must be a pair of numbers (low, high) or None, not {value!r}")
    low, high = float(value[0]), float(value[1])
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise _fail(f"value_range must be finite with low < high, not {value!r}")
    return low, high


def check_max_pixels(value: object) -> int | None:
    """The decoder's limit on width x height: None (the format's own limits) or a positive integer."""
    return _positive_or_none(value, "max_pixels")


def check_path(value: object) -> str | os.PathLike[str]:
    if not isinstance(value, (str, os.PathLike)):
        raise _fail(f"path must be a str or os.PathLike, not {type(value).__name__}")
    return value


def check_overwrite(value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise _fail(f"overwrite must be True or False, not {value!r}")
    return bool(value)


def check_quantizer(method: object, colorspace: object, seed: object) -> None:
    """The options :class:`kmzcodec.quantize.Quantizer` takes."""
    check_method(method)
    check_colorspace(colorspace)
    check_seed(seed)


#: The targets of colors="auto" (kmzcodec.autok), at most one given.
AUTO_TARGETS = ("min_psnr", "min_ssim", "min_ssimulacra2", "max_bytes")


@dataclass(frozen=True)
class Checked:
    """The options of :func:`kmzcodec.encode`, checked and normalised (numpy ints -> int)."""

    colors: int | Literal["auto"]
    method: str
    colorspace: str
    dither: float  # strength 0..1; 0: none
    seed: int
    compression: Compression | Smallest
    level: int | None
    bits_per_index: int | None
    min_psnr: float | None
    min_ssim: float | None
    max_bytes: int | None
    value_range: tuple[float, float] | None
    palette: Palette | None = None
    quality: int = DEFAULT_QUALITY
    min_ssimulacra2: float | None = None


def check_palette(value: object) -> Palette | None:
    """A palette to map onto instead of clustering: a Palette, a path, an image or an array."""
    from .palettes import as_palette

    if value is None:
        return None
    try:
        return as_palette(value)
    except KmzError as error:  # a file that cannot be read or parsed is a bad value of this option
        raise KmzError(f"palette: {error}", "bad-option") from None


def check_encode(
    colors: object,
    *,
    method: object,
    colorspace: object,
    dither: object,
    seed: object,
    compression: object,
    level: object,
    bits_per_index: object,
    min_psnr: object,
    min_ssim: object,
    max_bytes: object,
    value_range: object,
    palette: object = None,
    quality: object = DEFAULT_QUALITY,
    min_ssimulacra2: object = None,
) -> Checked:
    """Check every option of :func:`kmzcodec.encode` before any work is done (defaults live there)."""
    checked_method, checked_dither = check_method(method), check_dither(dither)
    checked = Checked(
        colors=check_colors(colors, method=checked_method, dither=checked_dither),
        method=checked_method,
        colorspace=check_colorspace(colorspace),
        dither=checked_dither,
        seed=check_seed(seed),
        compression=check_compression(compression),
        level=check_level(level),
        bits_per_index=check_bits_per_index(bits_per_index),
        min_psnr=check_min_psnr(min_psnr),
        min_ssim=check_min_ssim(min_ssim),
        max_bytes=check_max_bytes(max_bytes),
        value_range=check_value_range(value_range),
        palette=check_palette(palette),
        quality=check_quality(quality),
        min_ssimulacra2=check_min_ssimulacra2(min_ssimulacra2),
    )
    check_level_applies(checked.compression, checked.level)
    if checked.palette is not None:
        if checked.colors == "auto" or checked.method != "kmeans":
            raise _fail("a given palette is used as it is: colors='auto' and method='gmm' do not apply")
        if checked.dither and len(checked.palette) > DITHER_MAX_COLORS:
            raise _fail(f"dithering works with at most {DITHER_MAX_COLORS} colours, the palette has more")
    targets = [name for name in AUTO_TARGETS if getattr(checked, name) is not None]
    if targets and checked.colors != "auto":
        raise _fail(f"{' and '.join(targets)} go with colors='auto', not colors={checked.colors}")
    if len(targets) > 1:
        raise _fail(f"give at most one target for colors='auto', not {' and '.join(targets)}")
    return checked
