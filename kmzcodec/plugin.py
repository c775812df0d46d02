"""Pillow plugin: ``Image.open("x.kmz")`` and ``img.save("x.kmz")`` like a built-in format.

A thin adapter over the codec core (container.py, image.py), in the order of
Pillow's own plugins: ``_accept``, the ImageFile subclass, the decoder,
``_save``, then registration. ``import kmzcodec`` calls :func:`register`.

Pillow conventions followed here: ``_open`` reads the header and the palette
only and raises SyntaxError for anything that is not a valid header (so other
plugins get their turn and ``Image.open`` ends in UnidentifiedImageError);
pixel data is read on ``load()``, where bad or truncated data raises OSError
unless ``ImageFile.LOAD_TRUNCATED_IMAGES`` is set and the file is only short.
"""

from __future__ import annotations

import inspect
import os
import zlib
from typing import IO, Any

from PIL import Image, ImageFile, ImagePalette

from . import container, image
from .container import Header
from .encoder import DEFAULT_COLORS, encode
from .errors import KmzError
from .format import HEADER_SIZE, MAGIC, TRAILER_SIZE, PaletteKind

FORMAT = "KMZ"
DECODER = "kmz"
EXTENSION = ".kmz"
MIME = "image/x-kmz"

#: Save options taken from ``im.encoderinfo``: exactly the keyword parameters of
#: kmzcodec.encode, so a new encoder option reaches ``img.save`` without a change
#: here, and keys meant for other formats (optimize=, progressive=, ...) are ignored.
SAVE_OPTIONS = tuple(name for name in inspect.signature(encode).parameters if name != "image")

#: Block size for the streaming CRC of verify().
_VERIFY_BLOCK = 1 << 20


def _tile(extents: tuple[int, int, int, int], offset: int, args: tuple[Any, ...]) -> Any:
    """One tile for the "kmz" decoder: an ImageFile._Tile where Pillow has that NamedTuple,
    else the plain 4-tuple it names (Pillow 10.1, the oldest pyproject.toml allows)."""
    fields = (DECODER, extents, offset, args)
    tile_type = getattr(ImageFile, "_Tile", None)
    return tile_type(*fields) if tile_type is not None else fields


def _accept(prefix: bytes) -> bool:
    return prefix.startswith(MAGIC)


def _available(fp: IO[bytes]) -> int:
    """Bytes from the current position to the end of the file (the position is kept)."""
    here = fp.tell()
    end = fp.seek(0, os.SEEK_END)
    fp.seek(here)
    return max(0, end - here)


def _check_data_length(header: Header, available: int, *, allow_truncated: bool) -> None:
    """OSError unless the bytes after the palette are exactly data + trailer.

    Done before Pillow allocates the image and before the data is read, so a
    header promising far more than the file holds costs nothing.
    """
    expected = header.data_length + TRAILER_SIZE
    if available < expected and not allow_truncated:
        msg = f"image file is truncated: {available} of {expected} bytes of KMZ data and trailer"
        raise OSError(msg)
    if available > expected:
        msg = f"broken KMZ file: {available - expected} trailing bytes after the end of the file"
        raise OSError(msg)


class KmzImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "KMZ palette image"

    _header: Header
    _load_error: str | None = None

    def _open(self) -> None:
        assert self.fp is not None
        prefix = self.fp.read(HEADER_SIZE)
        if not _accept(prefix):
            msg = "not a KMZ file"
            raise SyntaxError(msg)
        try:
            # No pixel limit of our own: Pillow's MAX_IMAGE_PIXELS check runs on
            # self.size right after _open, before anything is allocated.
            header = container.parse_header(prefix, max_pixels=None)
        except KmzError as exc:
            msg = f"broken KMZ header: {exc}"
            raise SyntaxError(msg) from exc
        # At most 65,536 x 4 bytes: the header has been validated against the format's limits.
        palette = self.fp.read(header.palette_length)
        if len(palette) < header.palette_length:
            msg = f"broken KMZ file: truncated palette ({len(palette)} of {header.palette_length} bytes)"
            raise SyntaxError(msg)

        self._header = header
        self._size = (header.width, header.height)
        self._mode = image.image_mode(header)
        if self._mode == "P":
            rawmode, entries = image.pillow_palette(header, palette)
            self.palette = ImagePalette.raw(rawmode, entries)
            if header.palette_kind is PaletteKind.RGBA:
                self.palette.mode = "RGBA"
        self.info.update(header.info())
        self.tile = [_tile((0, 0, *self._size), header.data_offset, (header, palette))]

    def load(self) -> Any:
        if self.tile and self._load_error is not None:
            # A failed load closed the file; report the same failure, not a seek error.
            raise OSError(self._load_error)
        try:
            if self.tile and self.fp is not None:
                self.fp.seek(self._header.data_offset)
                _check_data_length(
                    self._header, _available(self.fp), allow_truncated=ImageFile.LOAD_TRUNCATED_IMAGES
                )
            return super().load()
        except Exception as exc:
            self._load_error = str(exc)
            # Pillow closes a file it opened only after a successful load; do it on failure too.
            if self._exclusive_fp and self.fp is not None:
                self.fp.close()
            raise

    def load_seek(self, pos: int) -> None:
        """A plain seek. Defined so that ``ImageFile.Parser`` (fed bytes piece by piece, as
        Django's get_image_dimensions does) waits for the whole file and opens it then,
        instead of feeding our decoder, which reads the file itself (``_pulls_fd``) and
        failed there with an AssertionError."""
        assert self.fp is not None
        self.fp.seek(pos)

    def verify(self) -> None:
        """Check the header and data CRC-32s, reading the file once and decoding nothing.

        A truncated file raises OSError, a CRC mismatch or trailing bytes
        SyntaxError (as PNG's verify does). The file is closed afterwards.
        """
        if self.fp is None:
            msg = "verify must be called directly after open"
            raise RuntimeError(msg)
        try:
            self._verify_stream(self.fp)
        finally:
            super().verify()

    def _verify_stream(self, fp: IO[bytes]) -> None:
        fp.seek(0)
        try:
            header = container.parse_header(fp.read(HEADER_SIZE), max_pixels=None)
        except KmzError as exc:
            msg = f"broken KMZ header: {exc}"
            raise SyntaxError(msg) from exc
        crc = 0
        remaining = header.palette_length + header.data_length
        while remaining:
            block = fp.read(min(remaining, _VERIFY_BLOCK))
            if not block:
                msg = f"truncated KMZ file: {remaining} bytes of palette and data missing"
                raise OSError(msg)
            crc = zlib.crc32(block, crc)
            remaining -= len(block)
        trailer = fp.read(TRAILER_SIZE)
        if len(trailer) < TRAILER_SIZE:
            msg = "truncated KMZ file: the CRC-32 trailer is missing"
            raise OSError(msg)
        if crc != int.from_bytes(trailer, "little"):
            msg = "broken KMZ file: data CRC-32 mismatch"
            raise SyntaxError(msg)
        if fp.read(1):
            msg = "broken KMZ file: trailing bytes after the end of the file"
            raise SyntaxError(msg)


class KmzDecoder(ImageFile.PyDecoder):
    """Reads the stored data, checks it, and hands the rows to Pillow's "raw" unpackers."""

    _pulls_fd = True

    def init(self, args: tuple[Any, ...]) -> None:
        self.header, self.palette = args

    def decode(self, buffer: Any) -> tuple[int, int]:
        assert self.fd is not None
        header = self.header
        truncated_ok = ImageFile.LOAD_TRUNCATED_IMAGES
        expected = header.data_length + TRAILER_SIZE
        available = _available(self.fd)
        _check_data_length(header, available, allow_truncated=truncated_ok)
        # One read of exactly what is there: never more than the file holds,
        # whatever data_length claims.
        body = memoryview(self.fd.read(min(expected, available)))
        truncated = len(body) < expected
        if truncated and not truncated_ok:  # the file shrank since load() measured it
            msg = f"image file is truncated: {len(body)} of {expected} bytes of KMZ data and trailer"
            raise OSError(msg)
        stored = body[: header.data_length]
        try:
            if not truncated:
                container.check_crc(self.palette, stored, body[header.data_length :])
            # Bounded by header.raw_length; a short stream is zero-filled (index 0) when truncated.
            rows = container.decompress(header, stored, partial=truncated)
            plan = image.pixels(header, self.palette, rows)
        except KmzError as exc:
            msg = f"broken KMZ data: {exc}"
            raise OSError(msg) from exc
        # Rows are packed at the natural stride (ceil(width * bits / 8)), which is the raw
        # decoder's default; so no (stride, ystep) arguments, which Pillow 10.1's set_as_raw lacks.
        self.set_as_raw(plan.data, plan.rawmode)  # type: ignore[arg-type]
        return -1, 0


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    options = {name: im.encoderinfo[name] for name in SAVE_OPTIONS if name in im.encoderinfo}
    colors = options.pop("colors", DEFAULT_COLORS)
    try:
        # Encoded completely before the first byte is written: a failure leaves
        # nothing behind (Pillow deletes a file it created when we raise).
        data = encode(im, colors, **options)
    except KmzError as exc:
        msg = f"cannot save as KMZ: {exc}"
        raise KmzError(msg, exc.reason) from exc
    fp.write(data)


def register() -> None:
    """Register the KMZ format with Pillow (``import kmzcodec`` does this; calling again is harmless)."""
    Image.register_open(FORMAT, KmzImageFile, _accept)
    Image.register_decoder(DECODER, KmzDecoder)
    Image.register_save(FORMAT, _save)
    Image.register_extension(FORMAT, EXTENSION)
    Image.register_mime(FORMAT, MIME)
