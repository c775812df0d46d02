"""kmzcodec.encode: any image -> .kmz bytes (quantizer + container)."""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
from PIL import Image

from . import autok, container, fileio
from .errors import KmzError
from .format import ColorSpace, Compression, Method
from .options import DEFAULT_QUALITY, check_encode, check_overwrite, check_path
from .palettes import Palette
from .pixels import to_pixels
from .quantize import Quantized, Quantizer, _common_channels, _widen

DEFAULT_COLORS = 256


@dataclass(frozen=True)
class Encoded:
    """The bytes of a .kmz file and what was chosen to make them."""

    data: bytes
    quantized: Quantized

    @property
    def colors(self) -> int:
        return len(self.quantized.palette)

    def __repr__(self) -> str:
        # Not the file's bytes: kmzcodec.save's result, echoed in a REPL or a notebook cell,
        # printed all of them (hundreds of kB for a photograph).
        q = self.quantized
        return (
            f"Encoded(data=<{len(self.data):,} bytes>, colors={self.colors}, method={q.method!r}, "
            f"colorspace={q.colorspace!r}, dithered={q.dithered})"
        )


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


def _trade(quantizer: Quantizer, quantized: Quantized, quality: int) -> Quantized:
    """``quality`` below 100: indices re-chosen to compress better within a bounded error.

    An encoder-level step on (pixels, palette, indices), after the quantizer
    (kmzcodec.ratedistortion has the bound). Dithered indices are left alone: the
    quantizer's diffusion took ``quality`` into account (kmzcodec.diffusion.knob).
    """
    if quality == DEFAULT_QUALITY or quantized.dithered or quantized.method == "exact":
        return quantized
    from . import ratedistortion  # here: numba takes a noticeable time to import, only this needs it

    # A given palette may differ from the image in channels: compared as Quantizer.remap compares.
    channels = _common_channels(quantizer.pixels.shape[2], quantized.palette.shape[1])
    pixels, palette = _widen(quantizer.pixels, channels), _widen(quantized.palette, channels)
    indices = ratedistortion.trade(pixels, palette, quantized.indices, quality)
    return replace(quantized, indices=indices)


def _made(quantizer: Quantizer, dither: bool | float, quality: int, colors: int) -> Quantized:
    """The palette and indices at K = ``colors``, the knob applied: what is written."""
    return _trade(quantizer, quantizer.quantize(colors, dither=dither, quality=quality), quality)


def encode_details(
    image: Image.Image | np.ndarray,
    colors: int | str = DEFAULT_COLORS,
    *,
    method: str = "kmeans",
    colorspace: str = "rgb",
    dither: bool | float = False,
    seed: int = 0,
    compression: str | Compression = "zlib",
    level: int | None = None,
    bits_per_index: int | None = None,
    min_psnr: float | None = None,
    min_ssim: float | None = None,
    min_ssimulacra2: float | None = None,
    max_bytes: int | None = None,
    value_range: tuple[float, float] | None = None,
    palette: Palette | str | os.PathLike[str] | np.ndarray | None = None,
    quality: int = DEFAULT_QUALITY,
) -> Encoded:
    """:func:`encode`, also returning the palette and indices it chose (and so K)."""
    checked = check_encode(
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
        min_ssimulacra2=min_ssimulacra2,
        max_bytes=max_bytes,
        value_range=value_range,
        palette=palette,
        quality=quality,
    )
    if checked.palette is not None and checked.colors not in (DEFAULT_COLORS, len(checked.palette)):
        raise KmzError(
            f"colors={checked.colors} disagrees with the {len(checked.palette)}-entry palette given",
            "bad-option",
        )
    if isinstance(image, Image.Image):
        # Pixels (and a palette Pillow keeps raw until then, as a lazily opened RGBA-palette
        # .kmz's) are read on load(), as Image.convert and np.asarray would read them.
        image.load()

    def write(quantized: Quantized) -> bytes:
        return container.write(
            quantized.palette,
            quantized.indices,
            compression=checked.compression,
            level=checked.level,
            bits_per_index=checked.bits_per_index,
            method=Method[quantized.method.upper()],
            colorspace=ColorSpace.UNSPECIFIED
            if quantized.method == "given"
            else ColorSpace[quantized.colorspace.upper()],
            dithered=quantized.dithered,
        )

    # A range given for an 8-bit palette image is refused by to_pixels, not ignored here.
    if checked.palette is not None:
        onto = Quantizer(to_pixels(image, checked.value_range), colorspace=checked.colorspace)
        remapped = onto.remap(checked.palette.entries, dither=checked.dither, quality=checked.quality)
        quantized = _trade(onto, remapped, checked.quality)
        del onto
        return Encoded(write(quantized), quantized)
    given = None
    if isinstance(image, Image.Image) and isinstance(checked.colors, int) and checked.value_range is None:
        given = _palette_image(image, checked.colors)
    if given is not None:
        return Encoded(write(given), given)
    quantizer = Quantizer(
        to_pixels(image, checked.value_range),
        method=checked.method,
        colorspace=checked.colorspace,
        seed=checked.seed,
    )
    if checked.colors == "auto":
        # Each K tried is judged as it would be written (with the knob), so the target holds
        # for the file returned (a max_bytes met before the knob could be broken after it).
        choice = autok.choose(
            quantizer,
            dither=checked.dither,
            make=partial(_made, quantizer, checked.dither, checked.quality),
            write=write,
            min_psnr=checked.min_psnr,
            min_ssim=checked.min_ssim,
            min_ssimulacra2=checked.min_ssimulacra2,
            max_bytes=checked.max_bytes,
        )
        quantized, data = choice.quantized, choice.data
        del quantizer, choice  # the pixels, the histogram and the other palettes tried
        return Encoded(write(quantized) if data is None else data, quantized)
    quantized = _made(quantizer, checked.dither, checked.quality, checked.colors)
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
    compression: str | Compression = "zlib",
    level: int | None = None,
    bits_per_index: int | None = None,
    min_psnr: float | None = None,
    min_ssim: float | None = None,
    min_ssimulacra2: float | None = None,
    max_bytes: int | None = None,
    value_range: tuple[float, float] | None = None,
    palette: Palette | str | os.PathLike[str] | np.ndarray | None = None,
    quality: int = DEFAULT_QUALITY,
) -> bytes:
    """Encode an image (PIL image in any mode, or a numpy array) as ``.kmz`` bytes.

    ``colors`` is K, 1..65,536, or "auto": the fewest colours meeting ``min_psnr``
    (dB), ``min_ssim`` or ``min_ssimulacra2`` (scored on the centre
    ``metrics.SSIMULACRA2_CROP`` pixels; needs the ``metrics`` extra), the most fitting in ``max_bytes``, or
    with no target the elbow of the quality curve (kmzcodec.autok); the K chosen is in the file's
    header (``decode(data).info["colors"]``). ``method`` is "kmeans" or "gmm";
    ``colorspace`` "rgb", "oklab", "lab" or "hsv" (the HSV cone) is where colours are clustered;
    ``dither`` is the strength, 0..1, of adaptive error diffusion (K <= 256;
    True: options.DEFAULT_DITHER_STRENGTH; False or 0: none). ``compression``
    is "zlib" (default), "lzma", "none" or "smallest" (every way tried, the smallest
    file kept: :mod:`kmzcodec.smallest`), ``level`` its effort (0-9; not with "smallest");
    ``bits_per_index`` forces a packing width (default: the one that compresses
    best). An image with at most K colours is stored exactly; a "P" image whose
    palette fits is stored as is. Same input and options give the same bytes.

    Samples are scaled to 0..255 by their type (uint16: full 16-bit range;
    float: 0..1, clipped; see :mod:`kmzcodec.pixels`); ``value_range=(low,
    high)`` says otherwise for deep samples, mapping low..high onto 0..255
    (refused for 8-bit input, which is on that scale already).

    ``palette`` maps the image onto a palette given instead of clustering one:
    a :class:`kmzcodec.Palette` (e.g. from :func:`kmzcodec.fit_palette`, one
    palette for many images or frames), a path to a ``.kmz``, image, GIMP
    ``.gpl`` or ``#rrggbb`` file (:func:`kmzcodec.load_palette`), or an array
    of K grey, RGB or RGBA entries. The file keeps the palette exactly, every
    entry in its order; ``dither`` and ``colorspace`` (where distances are
    measured) apply.

    ``quality`` (0..100, default 100) trades a bounded error for smaller files:
    below 100 stretches of pixels repeat the index to their left or copy the
    row above where that entry is almost as good, each pixel's squared error
    at most (1 + 16 (100 - quality) / 100) times its nearest entry's (exact
    pixels never change; RGBA keeps each pixel's alpha class), and only where
    the bytes saved are worth the error added (:mod:`kmzcodec.ratedistortion`).
    Dithered, it works inside the error diffusion: errors too small to see are
    not diffused, and a pixel takes the index beside or above it where that is
    almost as good, the extra error diffused on (:func:`kmzcodec.diffusion.knob`).
    Every option is checked before any work is done: a wrong type or value
    raises :class:`KmzError` with reason "bad-option" (:mod:`kmzcodec.options`).
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
        min_ssimulacra2=min_ssimulacra2,
        max_bytes=max_bytes,
        value_range=value_range,
        palette=palette,
        quality=quality,
    ).data


#: The keyword options of :func:`encode`, which :func:`save` passes on.
_ENCODE_OPTIONS = tuple(
    name for name, given in inspect.signature(encode).parameters.items() if given.kind is given.KEYWORD_ONLY
)


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
    check_path(path)
    check_overwrite(overwrite)
    unknown = sorted(set(options) - set(_ENCODE_OPTIONS))
    if unknown:
        raise KmzError(f"unknown option {unknown[0]!r} (options: {', '.join(_ENCODE_OPTIONS)})", "bad-option")
    encoded = encode_details(image, colors, **options)
    source = getattr(image, "filename", None)
    fileio.write_bytes(path, encoded.data, inputs=[source] if source else [], force=overwrite)
    return encoded
