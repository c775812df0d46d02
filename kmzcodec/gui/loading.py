"""Uploaded bytes -> the image the GUI works on, with every limit checked before decoding.

The GUI reads images by content only: the bytes of an upload, or of the one path
given on the command line. What they hold is decided by their first bytes (the
.kmz magic, a MATLAB v5 header) and otherwise by Pillow; the file name is used
only to recognise a MATLAB v4 file and to name downloads. The pixel limit is
checked from the header, before anything image-sized is allocated.
"""

from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .. import reading
from ..errors import KmzError
from ..format import MAGIC
from ..image import decode
from ..pixels import from_array, to_pixels
from ..quantize import Quantizer

#: The preview copy has at most this many pixels (the issue's "about 1 MP").
PREVIEW_PIXELS = 1 << 20


@dataclass
class Loaded:
    """One opened image: the pixels the codec sees, a preview copy, and where they came from."""

    name: str
    file_bytes: int  # size of the file as uploaded: the "original" of the ± % figures
    kind: str  # "kmz", "mat" or the Pillow format name
    image: Image.Image  # what kmzcodec.encode is given (a "P" image keeps its palette)
    pixels: np.ndarray  # (H, W, 1|3|4) uint8, what the numbers are measured against
    preview_image: Image.Image | None  # None when the image is already small
    preview_pixels: np.ndarray | None
    cache: dict[str, bytes] = field(default_factory=dict)
    quantizers: dict[tuple[str, str], Quantizer] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def preview_quantizer(self, method: str, colorspace: str) -> Quantizer:
        """The preview copy's histogram for a method and colour space, built once (both sides share it)."""
        pixels = self.pixels if self.preview_pixels is None else self.preview_pixels
        with self.lock:
            key = (method, colorspace)
            if key not in self.quantizers:
                self.quantizers[key] = Quantizer(pixels, method=method, colorspace=colorspace)
            return self.quantizers[key]

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    def describe(self) -> dict[str, object]:
        preview = None
        if self.preview_pixels is not None:
            preview = {
                "width": int(self.preview_pixels.shape[1]),
                "height": int(self.preview_pixels.shape[0]),
            }
        return {
            "name": self.name,
            "kind": self.kind,
            "width": self.width,
            "height": self.height,
            "channels": int(self.pixels.shape[2]),
            "file_bytes": self.file_bytes,
            "preview": preview,
        }


def _from_kmz(data: bytes, max_pixels: int) -> Image.Image:
    try:
        return decode(data, max_pixels=max_pixels)
    except KmzError as exc:
        if exc.reason == "too-many-pixels":
            raise KmzError(f"image too large: {exc}", "too-large") from None
        raise KmzError(f"not a valid .kmz file: {exc} [{exc.reason}]", exc.reason) from None


def _from_mat(data: bytes, max_pixels: int) -> Image.Image:
    pixels = from_array(reading.mat_array(data, max_pixels=max_pixels))
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[pixels.shape[2]]
    return Image.fromarray(pixels[:, :, 0] if mode == "L" else pixels, mode)


def preview_of(pixels: np.ndarray, limit: int = PREVIEW_PIXELS) -> Image.Image | None:
    """A box-filtered copy of at most ``limit`` pixels, or None when the image is that small already."""
    height, width = pixels.shape[:2]
    if width * height <= limit:
        return None
    scale = math.sqrt(limit / (width * height))
    size = (max(1, math.floor(width * scale)), max(1, math.floor(height * scale)))
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[pixels.shape[2]]
    source = Image.fromarray(pixels[:, :, 0] if mode == "L" else pixels, mode)
    return source.resize(size, Image.Resampling.BOX)


def load(data: bytes, name: str, max_pixels: int) -> Loaded:
    """Open uploaded bytes (anything ``kmz`` reads); KmzError with a clear message otherwise."""
    if not data:
        raise KmzError("the file is empty", "not-image")
    if data.startswith(MAGIC):
        image, kind = _from_kmz(data, max_pixels), "kmz"
    elif reading.is_mat(data, name):
        image, kind = _from_mat(data, max_pixels), "mat"
    else:
        image, kind = reading.pillow_image(data, max_pixels)
    pixels = to_pixels(image)
    preview = preview_of(pixels)
    return Loaded(
        name=name or "image",
        file_bytes=len(data),
        kind=kind,
        image=image,
        pixels=pixels,
        preview_image=preview,
        preview_pixels=None if preview is None else to_pixels(preview),
    )


def png_bytes(pixels: np.ndarray) -> bytes:
    """The pixels as a fast PNG (no colour profile), for showing the original in the page.

    The page shows what the codec measures against, so the browser must not apply
    the file's own colour profile or orientation: hence a plain PNG of the pixels
    rather than the uploaded bytes.
    """
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[pixels.shape[2]]
    buffer = io.BytesIO()
    Image.fromarray(pixels[:, :, 0] if mode == "L" else pixels, mode).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()
