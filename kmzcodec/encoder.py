"""kmzcodec.encode: any image -> .kmz bytes (quantizer + container)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from . import autok, container, fileio
from .errors import KmzError
from .format import MAX_COLORS, ColorSpace, Method
from .pixels import to_pixels
from .quantize import Quantized, Quantizer, check_options

DEFAULT_COLORS = 256


@dataclass(frozen=True)
class Encoded:
    """The bytes of a .kmz file and what was chosen to make them."""

    data: bytes
    quantized: Quantized

    @property
    def colors(self) -> int:
        return len(self.quantized.palette)


def _palette_image(image: Image.Image, colors: int) -> Quantized | None:
    """A "P" image whose palette fits K is stored as it is: no re-quantizing.

    Entries the pixels never use are dropped when that is what makes it fit.
    Transparency (``info["transparency"]`` or an RGBA palette) becomes RGBA
    entries; an all-grey opaque palette becomes a grey one.
    """
    if image.mode != "P" or image.palette is None:
        return None
    mode = image.palette.mode
    if mode not in ("RGB", "RGBA") or mode == "RGBA" and "transparency" in image.info:
        return None
    entries = np.frombuffer(image.palette.tobytes(), dtype=np.uint8).reshape(-1, len(mode))
    indices = np.asarray(image)
    used = np.flatnonzero(np.bincount(indices.ravel(), minlength=256))
    if used.size and used[-1] >= len(entries):  # indices past the palette: let Pillow expand
        return None
    palette = entries.copy()
    if mode == "RGB":
        alpha = np.full(len(palette), 255, dtype=np.uint8)
        transparency = image.info.get("transparency")
        if isinstance(transparency, int) and transparency < len(palette):
            alpha[transparency] = 0
        elif isinstance(transparency, bytes):
            alpha[: len(transparency)] = np.frombuffer(transparency, dtype=np.uint8)[: len(palette)]
        if (alpha < 255).any():
            palette = np.hstack([palette, alpha[:, None]])
    if len(palette) > colors:
        if len(used) > colors:
            return None
        remap = np.zeros(256, dtype=np.uint8)
        remap[used] = np.arange(len(used), dtype=np.uint8)
        palette, indices = palette[used], remap[indices]
    if palette.shape[1] == 3 and (palette == palette[:, :1]).all():
        palette = palette[:, :1]
    return Quantized(np.ascontiguousarray(palette), np.ascontiguousarray(indices), "given", "rgb", False)


def encode_details(
    image: Image.Image | np.ndarray,
    colors: int | str = DEFAULT_COLORS,
    *,
    method: str = "kmeans",
    colorspace: str = "rgb",
    dither: bool | float = False,
    seed: int = 0,
    compression: str = "zlib",
    level: int | None = None,
    bits_per_index: int | None = None,
    min_psnr: float | None = None,
    min_ssim: float | None = None,
    max_bytes: int | None = None,
) -> Encoded:
    """:func:`encode`, also returning the palette and indices it chose (and so K)."""
    codec = container.parse_compression(compression)
    check_options(method, colorspace, seed)
    auto = isinstance(colors, str) and colors == "auto"
    if not auto and (
        isinstance(colors, bool) or not isinstance(colors, (int, np.integer)) or not 1 <= colors <= MAX_COLORS
    ):
        raise KmzError(
            f"colors must be an integer from 1 to {MAX_COLORS} or 'auto', not {colors!r}", "bad-option"
        )
    if not auto and (min_psnr, min_ssim, max_bytes) != (None, None, None):
        raise KmzError("min_psnr, min_ssim and max_bytes go with colors='auto'", "bad-option")

    def write(quantized: Quantized) -> bytes:
        return container.write(
            quantized.palette,
            quantized.indices,
            compression=codec,
            level=level,
            bits_per_index=bits_per_index,
            method=Method[quantized.method.upper()],
            colorspace=ColorSpace.UNSPECIFIED
            if quantized.method == "given"
            else ColorSpace[quantized.colorspace.upper()],
            dithered=quantized.dithered,
        )

    given = _palette_image(image, int(colors)) if isinstance(image, Image.Image) and not auto else None
    if given is not None:
        return Encoded(write(given), given)
    quantizer = Quantizer(to_pixels(image), method=method, colorspace=colorspace, seed=seed)
    if auto:
        choice = autok.choose(
            quantizer, dither=dither, write=write, min_psnr=min_psnr, min_ssim=min_ssim, max_bytes=max_bytes
        )
        quantized, data = choice.quantized, choice.data
        del quantizer, choice  # the pixels, the histogram and the other palettes tried
        return Encoded(write(quantized) if data is None else data, quantized)
    quantized = quantizer.quantize(int(colors), dither=dither)
    del quantizer  # the pixels and the histogram: not needed while compressing
    return Encoded(write(quantized), quantized)


def encode(
    image: Image.Image | np.ndarray,
    colors: int | str = DEFAULT_COLORS,
    *,
    method: str = "kmeans",
    colorspace: str = "rgb",
    dither: bool | float = False,
    seed: int = 0,
    compression: str = "zlib",
    level: int | None = None,
    bits_per_index: int | None = None,
    min_psnr: float | None = None,
    min_ssim: float | None = None,
    max_bytes: int | None = None,
) -> bytes:
    """Encode an image (PIL image in any mode, or a numpy array) as ``.kmz`` bytes.

    ``colors`` is K, 1..65,536, or "auto": the fewest colours meeting ``min_psnr``
    (dB) or ``min_ssim``, the most fitting in ``max_bytes``, or with no target the
    elbow of the quality curve (kmzcodec.autok); the K chosen is in the file's
    header (``decode(data).info["colors"]``). ``method`` is "kmeans" or "gmm";
    ``colorspace`` "rgb", "oklab" or "lab" is where colours are clustered;
    ``dither`` is the strength, 0..1, of adaptive error diffusion (K <= 256;
    True: kmzcodec.diffusion.DEFAULT_STRENGTH; False or 0: none). ``compression``
    is "zlib" (default), "lzma" or "none", ``level`` its effort (0-9);
    ``bits_per_index`` forces a packing width (default: the one that compresses
    best). An image with at most K colours is stored exactly; a "P" image whose
    palette fits is stored as is. Same input and options give the same bytes.
    """
    return encode_details(
        image,
        colors,
        method=method,
        colorspace=colorspace,
        dither=dither,
        seed=seed,
        compression=compression,
        level=level,
        bits_per_index=bits_per_index,
        min_psnr=min_psnr,
        min_ssim=min_ssim,
        max_bytes=max_bytes,
    ).data


def save(
    image: Image.Image | np.ndarray,
    path: str | os.PathLike[str],
    colors: int | str = DEFAULT_COLORS,
    *,
    overwrite: bool = True,
    **options: Any,
) -> Encoded:
    """Encode ``image`` (options as for :func:`encode`) and write it to ``path`` atomically.

    The file is encoded completely in memory, written to a temporary file in the
    same folder and renamed over ``path``: a failure at any point leaves a
    previous file at ``path`` untouched and no partial file behind (unlike
    ``img.save(path)``, where Pillow truncates an existing file before the codec
    runs). The image's own source file is never overwritten; with
    ``overwrite=False`` no existing file is.
    """
    encoded = encode_details(image, colors, **options)
    source = getattr(image, "filename", None)
    fileio.write_bytes(path, encoded.data, inputs=[source] if source else [], force=overwrite)
    return encoded
