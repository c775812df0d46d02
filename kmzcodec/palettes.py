"""Palettes given by the user: read from a file, or built from colours.

``encode(..., palette=...)`` maps an image onto a palette the user chose instead
of clustering one; this module turns what users have into a :class:`Palette`:

- a ``.kmz`` file: its palette (the whole file must be valid);
- an image: a "P" image's palette (entries with transparency become RGBA), or
  the distinct colours of any other image of at most :data:`MAX_IMAGE_COLORS`
  colours, in sorted order;
- a GIMP palette (``.gpl``: "GIMP Palette", optional ``Name:``/``Columns:``
  lines, ``#`` comments, then ``R G B [name]`` lines);
- a text file of ``#rrggbb`` (or ``#rrggbbaa``) lines; blank lines and lines
  starting with ``;`` or ``//`` are ignored.

A malformed file raises :class:`~kmzcodec.errors.KmzError` (reason
``bad-palette``) naming the file and the line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from . import histogram
from .errors import KmzError
from .format import MAGIC, MAX_COLORS
from .histogram import ColorCounts
from .settings import DEFAULT_SETTINGS

#: The most colours an image may have to be taken as a palette (the format's K limit).
MAX_IMAGE_COLORS = MAX_COLORS
#: Palette files larger than this are refused before they are read (a GIMP palette of
#: 65,536 named entries is about 2 MB).
MAX_FILE_BYTES = 16 << 20

_HEX = re.compile(r"#([0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
REASON = "bad-palette"


@dataclass(frozen=True, eq=False)
class Palette:
    """K entries of 1 (grey), 3 (RGB) or 4 (RGBA) uint8 samples, read-only."""

    entries: np.ndarray

    def __post_init__(self) -> None:
        entries = np.asarray(self.entries)
        if entries.ndim == 1:
            entries = entries[:, None]
        if entries.ndim != 2 or entries.shape[1] not in (1, 3, 4) or entries.dtype.kind not in "ui":
            raise KmzError(
                "a palette is a (K, 1|3|4) array of integers 0..255 (grey, RGB or RGBA entries)", REASON
            )
        if not 1 <= len(entries) <= MAX_COLORS:
            raise KmzError(f"a palette has 1 to {MAX_COLORS} entries, not {len(entries)}", REASON)
        if entries.size and (int(entries.min()) < 0 or int(entries.max()) > 255):
            raise KmzError("palette samples must lie in 0..255", REASON)
        entries = np.array(entries, dtype=np.uint8)  # a copy of our own
        entries.flags.writeable = False
        object.__setattr__(self, "entries", entries)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def channels(self) -> int:
        return int(self.entries.shape[1])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Palette) and np.array_equal(self.entries, other.entries)

    def __hash__(self) -> int:
        return hash((self.entries.shape, self.entries.tobytes()))

    def __repr__(self) -> str:
        kind = {1: "grey", 3: "RGB", 4: "RGBA"}[self.channels]
        return f"Palette({len(self)} {kind} entries)"


def from_image(image: Image.Image, name: str = "image") -> Palette:
    """A "P" image's palette, or the distinct colours of a small image."""
    image.load()  # a palette Pillow keeps raw until the image is loaded cannot be read before
    if image.mode == "P" and image.palette is not None:
        mode = image.palette.mode
        channels = len(mode) if mode in ("RGB", "RGBA") else 3
        raw = np.frombuffer(image.palette.tobytes(), dtype=np.uint8)
        entries = raw[: len(raw) // channels * channels].reshape(-1, channels)
        transparency = image.info.get("transparency")
        if channels == 3 and transparency is not None:
            alpha = np.full(len(entries), 255, dtype=np.uint8)
            if isinstance(transparency, int) and transparency < len(entries):
                alpha[transparency] = 0
            elif isinstance(transparency, bytes):
                given = np.frombuffer(transparency, dtype=np.uint8)[: len(entries)]
                alpha[: len(given)] = given
            entries = np.hstack([entries, alpha[:, None]])
        if len(entries) == 0:
            raise KmzError(f"{name}: the palette image has an empty palette", REASON)
        return Palette(entries)
    from .pixels import to_pixels  # the same reading of modes as encode's

    pixels = to_pixels(image)
    flat = pixels.reshape(-1, pixels.shape[2])
    colours = np.unique(flat, axis=0)
    if len(colours) > MAX_IMAGE_COLORS:
        raise KmzError(
            f"{name}: an image used as a palette may have at most {MAX_IMAGE_COLORS} colours, "
            f"this one has {len(colours)}",
            REASON,
        )
    return Palette(colours)


def _line_error(name: str, number: int, message: str) -> KmzError:
    return KmzError(f"{name} line {number}: {message}", REASON)


def parse_gpl(text: str, name: str = "palette") -> Palette:
    """A GIMP palette's colours (names are ignored)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "GIMP Palette":
        raise _line_error(name, 1, 'a GIMP palette starts with the line "GIMP Palette"')
    entries: list[tuple[int, int, int]] = []
    for number, line in enumerate(lines[1:], start=2):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or re.match(r"(Name|Columns)\s*:", stripped):
            continue
        fields = stripped.split(None, 3)
        try:
            values = tuple(int(field) for field in fields[:3])
        except ValueError:
            values = ()
        if len(values) != 3 or not all(0 <= value <= 255 for value in values):
            raise _line_error(name, number, f"expected three numbers 0..255 (R G B), got {stripped!r}")
        entries.append(values)  # type: ignore[arg-type]
    if not entries:
        raise KmzError(f"{name}: the GIMP palette has no colours", REASON)
    return Palette(np.array(entries, dtype=np.int64))


def parse_hex(text: str, name: str = "palette") -> Palette:
    """``#rrggbb`` / ``#rrggbbaa`` lines (all of one kind)."""
    entries: list[bytes] = []
    width = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith((";", "//")):
            continue
        match = _HEX.fullmatch(stripped)
        if match is None:
            raise _line_error(name, number, f"expected a colour as #rrggbb or #rrggbbaa, got {stripped!r}")
        value = bytes.fromhex(match.group(1))
        if width and len(value) != width:
            raise _line_error(name, number, "mixes #rrggbb and #rrggbbaa colours")
        width = len(value)
        entries.append(value)
    if not entries:
        raise KmzError(f"{name}: no #rrggbb colours in the file", REASON)
    return Palette(np.frombuffer(b"".join(entries), dtype=np.uint8).reshape(-1, width))


def _from_kmz(data: bytes, name: str) -> Palette:
    from . import container
    from .format import PaletteKind

    try:
        payload = container.read(data, max_pixels=None)
    except KmzError as error:
        raise KmzError(f"{name}: {error}", REASON) from None
    channels = int(PaletteKind(payload.header.palette_kind))
    return Palette(np.frombuffer(payload.palette, dtype=np.uint8).reshape(-1, channels))


def _text(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise KmzError(
            f"{name}: not an image, a .kmz or a UTF-8 palette file ({error.reason})", REASON
        ) from None


def load(path: str | os.PathLike[str]) -> Palette:
    """Read a palette from a ``.kmz`` file, an image, a ``.gpl`` or a ``#rrggbb`` text file.

    The kind is recognised from the content, not the extension.
    """
    location = Path(path)
    name = str(location)
    try:
        size = location.stat().st_size
        if size > MAX_FILE_BYTES:
            raise KmzError(f"{name}: {size} bytes is too large for a palette file", REASON)
        data = location.read_bytes()
    except OSError as error:
        raise KmzError(f"cannot read palette {name}: {error.strerror or error}", "bad-input") from None
    return parse(data, name)


def parse(data: bytes, name: str = "palette") -> Palette:
    """:func:`load` for bytes already read."""
    if data.startswith(MAGIC):
        return _from_kmz(data, name)
    stripped = data.lstrip()
    if stripped.startswith(b"GIMP Palette"):
        return parse_gpl(_text(data, name), name)
    if stripped.startswith((b"#", b";", b"//")):
        return parse_hex(_text(data, name), name)
    import io

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return from_image(image, name)
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        pass
    if not data.strip():
        raise KmzError(f"{name}: the file is empty", REASON)
    raise KmzError(f"{name}: not a .kmz, an image, a GIMP palette (.gpl) or #rrggbb lines", REASON)


def as_palette(value: object) -> Palette:
    """``encode(palette=...)``: a Palette, a path, or an array of entries."""
    if isinstance(value, Palette):
        return value
    if isinstance(value, (str, os.PathLike)):
        return load(value)
    if isinstance(value, Image.Image):
        return from_image(value)
    if isinstance(value, (np.ndarray, list, tuple)):
        try:
            return Palette(np.asarray(value))
        except (TypeError, ValueError) as error:
            if isinstance(error, KmzError):
                raise
            raise KmzError(f"not a palette: {error}", REASON) from None
    raise KmzError(
        f"palette must be a Palette, a path, an image or an array of entries, not {type(value).__name__}",
        "bad-option",
    )


def _pixels(image: object, value_range: tuple[float, float] | None = None) -> np.ndarray:
    from .pixels import to_pixels

    if isinstance(image, (str, os.PathLike)):
        try:
            with Image.open(image) as opened:
                return to_pixels(opened, value_range)
        except (OSError, SyntaxError, UnidentifiedImageError) as error:
            raise KmzError(f"cannot read image {image}: {error}", "bad-input") from None
    return to_pixels(image, value_range)  # type: ignore[arg-type]


def color_counts(image: object, *, value_range: tuple[float, float] | None = None) -> ColorCounts:
    """The colour counts of one image (a PIL image, an array or a path), for :func:`fit`.

    Small (one row per distinct colour) and mergeable with
    :meth:`ColorCounts.merge`: the map step of a shared palette.
    """
    return histogram.color_counts(_pixels(image, value_range), DEFAULT_SETTINGS.histogram_band)


def fit(
    counts: ColorCounts,
    colors: int = 256,
    *,
    method: str = "kmeans",
    colorspace: str = "rgb",
    seed: int = 0,
) -> Palette:
    """One palette of at most ``colors`` entries for the merged counts of many images.

    The reduce step of a shared palette: the same clustering
    :func:`kmzcodec.encode` runs on one image's histogram, run once on the
    merged one. Grey when every image was grey, RGBA when any has alpha.
    """
    from . import options
    from .quantize import cluster

    options.check_quantizer(method, colorspace, seed)
    colors = int(options.check_colors(colors, method=method, dither=False, auto=False))  # type: ignore[arg-type]
    if not isinstance(counts, ColorCounts):
        raise KmzError(f"fit takes ColorCounts, not {type(counts).__name__}", "bad-option")
    distinct = counts.colors
    if len(distinct) <= colors:
        return Palette(distinct)
    palette, _ = cluster(distinct, counts.counts, colors, method, colorspace, int(seed))
    return Palette(palette)


def _one_image_array(value: object) -> bool:
    """Whether ``value`` is an array ``encode`` reads as one image: (H, W) or (H, W, 1..4)."""
    if not isinstance(value, np.ndarray):
        return False
    return value.ndim == 2 or (value.ndim == 3 and value.shape[2] in (1, 2, 3, 4))


def fit_palette(
    images: Iterable[object],
    colors: int = 256,
    *,
    method: str = "kmeans",
    colorspace: str = "rgb",
    seed: int = 0,
) -> Palette:
    """One palette for many images or animation frames (PIL images, arrays or paths).

    Each image's colours are counted on its own, the counts merged, and the
    palette clustered once (:func:`color_counts`, :meth:`ColorCounts.merge`,
    :func:`fit`); ``encode(image, palette=...)`` then maps each image onto it. One
    image or path given alone is one image (not the characters of its path); so is one
    array ``encode`` reads as an image, (H, W) or (H, W, 1 to 4 channels); other arrays
    are stacks of frames ((N, H, W, C), or (N, H, W) grey).
    """
    if isinstance(images, (str, os.PathLike, Image.Image)) or _one_image_array(images):
        images = [images]
    merged: ColorCounts | None = None
    for image in images:
        counts = color_counts(image)
        merged = counts if merged is None else ColorCounts.merge([merged, counts])
    if merged is None:
        raise KmzError("fit_palette needs at least one image", "bad-option")
    return fit(merged, colors, method=method, colorspace=colorspace, seed=seed)
