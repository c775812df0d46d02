"""An encode request as the batch engines and the command line pass it around.

:class:`EncodeOptions` holds everything that shapes the encoded bytes, small and
picklable (it travels to worker processes and Dask workers with each task); :func:`encode`
runs it through :func:`kmzcodec.encoder.encode_details`, and :func:`prepare` reads the
input file it applies to (an image Pillow reads, a .kmz, a MATLAB .mat array) and resizes
it. The command line builds one from its arguments (``kmzcodec.cli.encoding.encode_options``);
``kmzcodec.batch.convert`` from keyword arguments.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import palettes, reading
from .encoder import DEFAULT_COLORS, Encoded, encode_details
from .errors import KmzError
from .format import DEFAULT_MAX_PIXELS, MAGIC, MAX_DIMENSION
from .image import decode
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


def load(path: Path, mat_key: str | None = None) -> Source:
    """An input file as the encoder takes it: a Pillow image (from a .kmz or what Pillow reads,
    turned upright by its EXIF orientation) or, for a .mat file, its image array.
    Raises KmzError for the file's content, OSError where it cannot be read."""
    with path.open("rb") as handle:
        prefix = handle.read(len(MAGIC))
    if prefix == MAGIC:
        return decode(path.read_bytes())
    if reading.is_mat(prefix, path.name):
        return reading.mat_array(path, mat_key)
    return reading.pillow_image(path)[0]


def _target(width: int, height: int, size: tuple[int | None, int | None]) -> tuple[int, int]:
    new_width, new_height = size
    if new_width is None:
        assert new_height is not None
        new_width = max(1, round(width * new_height / height))
    if new_height is None:
        new_height = max(1, round(height * new_width / width))
    return new_width, new_height


def _resized_array(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Lanczos on each channel in float32 ("F" images), back in the array's own type and units,
    so that the encoder still scales the samples by their type (or by --value-range)."""
    if values.dtype == bool:
        values = values.astype(np.uint8) * np.uint8(255)
    planes = values if values.ndim == 3 else values[:, :, None]
    resized = np.stack(
        [
            np.asarray(
                Image.fromarray(np.ascontiguousarray(planes[:, :, c], dtype=np.float32)).resize(
                    size, Image.Resampling.LANCZOS
                )
            )
            for c in range(planes.shape[2])
        ],
        axis=2,
    )
    if values.dtype.kind in "ui":
        limits = np.iinfo(values.dtype)
        resized = np.clip(np.rint(resized), limits.min, limits.max)
    resized = resized.astype(values.dtype)
    return resized if values.ndim == 3 else resized[:, :, 0]


def _checked_target(width: int, height: int, size: tuple[int | None, int | None]) -> tuple[int, int]:
    """The size to resize to, refused (before anything is allocated) beyond what
    ``kmzcodec.decode`` opens by default: a mistyped --resize must be an error, not gigabytes."""
    new_width, new_height = _target(width, height, size)
    if max(new_width, new_height) > MAX_DIMENSION or new_width * new_height > DEFAULT_MAX_PIXELS:
        raise KmzError(
            f"resizing {width}x{height} to {new_width}x{new_height} ({new_width * new_height:,} pixels) "
            f"exceeds the limit of {DEFAULT_MAX_PIXELS:,} pixels (at most {MAX_DIMENSION:,} a side)",
            "bad-option",
        )
    return new_width, new_height


def resized(image: Source, size: tuple[int | None, int | None] | None) -> Source:
    if size is None:
        return image
    if isinstance(image, np.ndarray):
        height, width = image.shape[:2]
        return _resized_array(image, _checked_target(width, height, size))
    target = _checked_target(image.width, image.height, size)
    if image.mode == "P":  # resampling a palette image would fall back to nearest neighbour
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    return image.resize(target, Image.Resampling.LANCZOS)


def prepare(path: Path, options: EncodeOptions) -> Source:
    """The input at ``path`` read (:func:`load`) and resized as ``options`` ask."""
    return resized(load(path, options.mat_key), options.resize)
