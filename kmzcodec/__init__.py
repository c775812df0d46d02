"""kmzcodec: a palette image codec with its own format, .kmz, and a Pillow plugin.

``import kmzcodec`` registers the plugin, so ``Image.open("x.kmz")`` and
``img.save("x.kmz")`` work from then on. ``encode``/``decode`` work on bytes;
``save`` writes a file atomically.
"""

from __future__ import annotations

from .container import Header
from .encoder import encode, save
from .errors import KmzError
from .format import DEFAULT_MAX_PIXELS, MAX_COLORS
from .image import decode
from .palettes import Palette, fit_palette
from .palettes import load as load_palette
from .plugin import register

__version__ = "0.1.0"

register()

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_COLORS",
    "Header",
    "KmzError",
    "Palette",
    "__version__",
    "decode",
    "encode",
    "fit_palette",
    "load_palette",
    "register",
    "save",
]
