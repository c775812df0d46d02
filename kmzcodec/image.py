"""Checked index rows -> what Pillow needs to build the image, and kmzcodec.decode.

Shared by :func:`decode` (bytes in memory) and the Pillow plugin (files), so both
apply the same checks and produce the same pixels. Packed 1/2/4/8-bit rows go to
Pillow's C unpackers untouched; other widths, K > 256 and filtered rows (spec 6.5) are
unpacked in numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from . import bitpack, container
from .container import Header
from .errors import KmzError
from .format import DEFAULT_MAX_PIXELS, Filter, PaletteKind
from .options import check_max_pixels

#: Pillow "raw" unpackers for packed palette rows.
_PACKED_RAWMODES = {1: "P;1", 2: "P;2", 4: "P;4", 8: "P"}
#: Image mode for K > 256, where a "P" image cannot hold the palette.
_DIRECT_MODES = {PaletteKind.GREY: "L", PaletteKind.RGB: "RGB", PaletteKind.RGBA: "RGBA"}


def image_mode(header: Header) -> str:
    """Mode of the decoded image: "P" up to 256 colours, else L / RGB / RGBA."""
    return "P" if header.colors <= 256 else _DIRECT_MODES[header.palette_kind]


def pillow_palette(header: Header, palette: bytes) -> tuple[str, bytes]:
    """(rawmode, bytes) for ``putpalette``; grey entries are widened to RGB."""
    if header.palette_kind is PaletteKind.GREY:
        return "RGB", np.repeat(np.frombuffer(palette, dtype=np.uint8), 3).tobytes()
    return header.palette_kind.name, palette


@dataclass(frozen=True)
class Pixels:
    """Arguments for Pillow's "raw" decoder: rawmode, stride and the buffer."""

    rawmode: str
    stride: int
    data: bytes | memoryview


def pixels(header: Header, palette: bytes, rows: bytes | memoryview) -> Pixels:
    """Validate decompressed rows (padding, index < K) and lay them out for Pillow."""
    bits = header.bits_per_index
    if header.colors <= 256 and bits in _PACKED_RAWMODES and header.filter is Filter.NONE:
        bitpack.check_padding(rows, header.width, header.height, bits)
        bitpack.check_packed_range(rows, bits, header.colors)
        return Pixels(_PACKED_RAWMODES[bits], header.row_bytes, rows)
    values = container.indices(header, rows)
    if header.colors <= 256:  # the indices' own buffer: no copy when they are a new array
        return Pixels("P", header.width, memoryview(np.ascontiguousarray(values).data).cast("B"))
    entries = np.frombuffer(palette, dtype=np.uint8).reshape(header.colors, int(header.palette_kind))
    expanded = np.take(entries, values, axis=0)
    mode = image_mode(header)
    return Pixels(mode, header.width * len(mode), expanded.tobytes())


def decode(
    data: bytes | bytearray | memoryview, *, max_pixels: int | None = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """Decode a whole ``.kmz`` file held in memory.

    Returns a "P" image with the file's palette when K <= 256 (an RGBA palette
    converts exactly with ``convert("RGBA")``), otherwise an "L", "RGB" or "RGBA"
    image. ``info`` describes the header. Raises :class:`kmzcodec.KmzError` for
    any malformed input; ``max_pixels`` (None: the format's own limits only)
    bounds width x height before anything is allocated.
    """
    try:
        view = memoryview(data).cast("B")
    except TypeError:  # a str, a path, a file object, a strided array: not the bytes of a file
        raise KmzError(
            f"decode takes bytes (any contiguous buffer), not {type(data).__name__}", "bad-input"
        ) from None
    payload = container.read(view, check_max_pixels(max_pixels))
    header = payload.header
    image = pillow_image(header, payload.palette, pixels(header, payload.palette, payload.rows))
    image.info.update(header.info())
    return image


def pillow_image(header: Header, palette: bytes, plan: Pixels) -> Image.Image:
    """The Pillow image of ``plan`` (:func:`pixels`), with the file's palette in "P" mode."""
    mode = image_mode(header)
    image = Image.frombytes(
        mode, (header.width, header.height), plan.data, "raw", plan.rawmode, plan.stride, 1
    )
    if mode == "P":
        rawmode, entries = pillow_palette(header, palette)
        image.putpalette(entries, rawmode)
    return image
