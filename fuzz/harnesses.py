"""The three fuzz targets as plain functions: bytes in, ``Finding`` (or any other exception) out.

A target returns normally when kmzcodec behaved as documented. Anything else it
raises is a finding: a :class:`Finding` when an oracle disagrees, or the
unexpected exception itself (IndexError, zlib.error, MemoryError, ...). The atheris
entry points (fuzz_*.py) and tests/test_fuzz_replay.py both call these; nothing
here imports atheris.

- ``decode``: :func:`kmzcodec.decode` against :mod:`fuzz.reference`, an independent
  reading of the spec: the same reason token, or the same pixels.
- ``pillow``: ``Image.open(...).load()`` and ``verify()`` through the plugin against
  :func:`kmzcodec.decode`: same pixels, and the Pillow convention for errors
  (header problems end in UnidentifiedImageError at open, data problems in OSError
  at load), also with ``ImageFile.LOAD_TRUNCATED_IMAGES``.
- ``roundtrip``: a small image and encoder options derived from the bytes;
  encode, decode, check size, colour count, exactness and determinism.

Most mutations break a CRC, which would stop every input at the first check, so
the decoding targets also run a repaired copy (lengths and CRCs made consistent).
"""

from __future__ import annotations

import contextlib
import io
import lzma
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageFile

import kmzcodec
from kmzcodec import KmzError, container
from kmzcodec.format import HEADER_SIZE, MAX_COLORS, Compression, min_bits
from kmzcodec.pixels import to_pixels

from . import reference

#: Pixel limit of the decoding targets (kmzcodec's default is 2**28): keeps each run
#: fast while leaving room for zlib and xz streams that expand 1000-fold and more.
LIMIT = 1 << 20
FORMAT = "KMZ"

#: Reasons found while reading the header and palette: Pillow's open() must refuse.
OPEN_REASONS = frozenset(
    {
        "empty", "bad-magic", "truncated-header", "unsupported-version", "header-crc",
        "bad-palette-kind", "bad-compression", "bad-dimensions", "bad-colors", "bad-bits",
        "bad-method", "bad-colorspace", "reserved-nonzero", "bad-filter", "truncated-palette",
    }
)  # fmt: skip
MODES_BY_ENTRY = {1: "L", 3: "RGB", 4: "RGBA"}


class Finding(AssertionError):
    """kmzcodec did something its documentation or the spec rules out."""


# --------------------------------------------------------------------------- shared


def repair(data: bytes) -> bytes:
    """``data`` with data_length, header CRC and trailer made to fit the file.

    Only for inputs that start with the magic and hold a header; the palette kind
    and K must be in range for the data length to be fixed.
    """
    if len(data) < 40 or not data.startswith(reference.MAGIC):
        return data
    fixed = bytearray(data)
    kind, colors = fixed[9], int.from_bytes(fixed[20:24], "little")
    data_offset = 40 + kind * colors
    if kind in (1, 3, 4) and 1 <= colors <= MAX_COLORS and len(fixed) >= data_offset + 4:
        fixed[24:32] = (len(fixed) - data_offset - 4).to_bytes(8, "little")
    fixed[36:40] = zlib.crc32(fixed[:36]).to_bytes(4, "little")
    if len(fixed) >= 44:
        fixed[-4:] = zlib.crc32(fixed[40:-4]).to_bytes(4, "little")
    return bytes(fixed)


def variants(data: bytes) -> list[bytes]:
    """The input as given, and repaired when that changes it."""
    repaired = repair(data)
    return [data] if repaired == data else [data, repaired]


def expanded(image: Image.Image, entry_size: int) -> np.ndarray:
    """A decoded image as (height, width, entry_size) palette colours."""
    width, height = image.size
    if image.mode == "P" and entry_size == 1:
        rgb = np.asarray(image.convert("RGB"))
        if not (rgb == rgb[:, :, :1]).all():
            raise Finding("a grey palette decoded to colours that are not grey")
        return rgb[:, :, :1]
    return np.asarray(image.convert(MODES_BY_ENTRY[entry_size])).reshape(height, width, entry_size)


def _describe(outcome: reference.Outcome) -> str:
    return "valid" if outcome.valid else " or ".join(sorted(outcome.reasons))


# --------------------------------------------------------------------------- 1: decode


def decode_target(data: bytes) -> None:
    for candidate in variants(data):
        check_decode(candidate)


def check_decode(data: bytes) -> None:
    """kmzcodec.decode(data) must do what the spec says: the same reason, or the same pixels."""
    spec = reference.read(data, LIMIT)
    try:
        image = kmzcodec.decode(data, max_pixels=LIMIT)
    except KmzError as exc:
        if exc.reason not in spec.reasons:
            message = f"decode rejected with {exc.reason!r} ({exc}); the spec says {_describe(spec)}"
            raise Finding(message) from exc
        return
    if not spec.valid:
        raise Finding(f"decode accepted a file the spec rejects with {_describe(spec)}")
    if image.size != (spec.width, spec.height):
        raise Finding(f"decoded size {image.size}, header says {(spec.width, spec.height)}")
    mode = "P" if spec.colors <= 256 else MODES_BY_ENTRY[spec.entry_size]
    if image.mode != mode or image.info.get("colors") != spec.colors:
        raise Finding(f"decoded mode {image.mode} with {image.info.get('colors')} colours; expected {mode}")
    assert spec.pixels is not None
    if not np.array_equal(expanded(image, spec.entry_size), spec.pixels):
        raise Finding("decoded pixels differ from palette[index] read by the spec")


# --------------------------------------------------------------------------- 2: Pillow


@contextlib.contextmanager
def pillow_settings(*, truncated: bool) -> Iterator[None]:
    """Pillow's bomb limit at LIMIT pixels (it raises above 2 x MAX_IMAGE_PIXELS), and
    LOAD_TRUNCATED_IMAGES as asked; both restored afterwards."""
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = LIMIT // 2, truncated
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


@dataclass
class Loaded:
    """What Image.open + load did: the image, or the stage that refused and why."""

    image: Image.Image | None = None
    stage: str = ""  # "open" or "load" when refused
    error: BaseException | None = None


def pillow_load(data: bytes, *, truncated: bool = False) -> Loaded:
    """Image.open(BytesIO(data)).load() through the plugin only.

    Errors outside Pillow's convention are not caught: open() may raise only
    UnidentifiedImageError (our SyntaxError) or DecompressionBombError, load()
    only OSError.
    """
    with pillow_settings(truncated=truncated):
        try:
            opened = Image.open(io.BytesIO(data), formats=[FORMAT])
        except (Image.UnidentifiedImageError, Image.DecompressionBombError) as exc:
            return Loaded(stage="open", error=exc)
        with opened:
            if opened.format != FORMAT:
                raise Finding(f"opened as {opened.format}, not {FORMAT}")
            try:
                opened.load()
            except OSError as exc:
                return Loaded(stage="load", error=exc)
            return Loaded(image=opened.copy())


def pillow_verify(data: bytes) -> bool | None:
    """Whether ``verify()`` passes (None: the file does not open)."""
    with pillow_settings(truncated=False):
        try:
            opened = Image.open(io.BytesIO(data), formats=[FORMAT])
        except (Image.UnidentifiedImageError, Image.DecompressionBombError):
            return None
        try:
            opened.verify()
        except (SyntaxError, OSError):
            return False
        finally:
            opened.close()
        return True


def pillow_target(data: bytes) -> None:
    for candidate in variants(data):
        check_pillow(candidate, truncated=False)
    repaired = repair(data)
    check_pillow(repaired, truncated=True)
    check_recovery(repaired)


def _expected_stage(reason: str, data: bytes) -> set[str]:
    if reason == "too-many-pixels":  # Pillow's bomb check; or a header error it meets first
        return {"open"}
    if reason == "wrong-size" and data[11] == 0:  # rule 9.6j, in the header
        return {"open"}
    return {"open"} if reason in OPEN_REASONS else {"load"}


def check_pillow(data: bytes, *, truncated: bool) -> None:
    """Pillow through the plugin agrees with kmzcodec.decode, file by file."""
    try:
        expected: Image.Image | None = kmzcodec.decode(data, max_pixels=LIMIT)
        reason = ""
    except KmzError as exc:
        expected, reason = None, exc.reason
    got = pillow_load(data, truncated=truncated)
    if expected is not None:
        if got.image is None:
            raise Finding(f"Pillow refused at {got.stage} ({got.error!r}) a file decode() accepts")
        _same_image(got.image, expected)
    elif got.image is not None:
        if not (truncated and reason == "truncated-data"):
            raise Finding(f"Pillow loaded a file decode() rejects with {reason!r}")
        if got.image.size != _declared_size(data):
            raise Finding(f"truncated file loaded at {got.image.size}, header says {_declared_size(data)}")
    elif got.stage not in _expected_stage(reason, data):
        raise Finding(f"decode() says {reason!r} but Pillow refused at {got.stage}: {got.error!r}")
    if not truncated:
        _check_verify(data)


def _check_verify(data: bytes) -> None:
    verified = pillow_verify(data)
    if verified is None:
        return
    structure = reference.read(data, None, structure_only=True)
    if verified != structure.valid:
        outcome = "passed" if verified else "failed"
        raise Finding(f"verify() {outcome}; rules 9.1-9.9 say {_describe(structure)}")


def _recovery_out_of_range(data: bytes, cut: int) -> bool:
    """Whether spec D7 itself makes ``data[:cut]`` (``data`` a valid file) fail rule 9.12:
    the rows that came through (decompressed as far as the stream goes), the missing bytes
    taken as 0 and the filter undone by the reference reader give an index >= K. Only a
    gradient filter can: its prediction left + up - up-left of valid indices need not be one,
    so a row cut in its middle continues, with zero residuals, out of the palette."""
    header = container.parse_header(data[:HEADER_SIZE], None)
    stored = data[header.data_offset : cut]
    raw_length = header.raw_length
    try:
        if header.compression is Compression.NONE:
            rows = bytes(stored[:raw_length])
        elif header.compression is Compression.ZLIB:
            rows = zlib.decompressobj().decompress(stored, raw_length)
        else:
            rows = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(stored, raw_length)
    except (zlib.error, lzma.LZMAError):
        rows = b""
    rows += bytes(raw_length - len(rows))
    reasons, _ = reference._unpack(
        rows, header.width, header.height, header.bits_per_index, header.colors, int(header.filter)
    )
    return "index-out-of-range" in reasons


def check_recovery(data: bytes) -> None:
    """A valid file cut anywhere after its palette loads with LOAD_TRUNCATED_IMAGES (spec D7)."""
    spec = reference.read(data, LIMIT)
    if not spec.valid:
        return
    cut = spec.data_offset + zlib.crc32(data) % (len(data) - spec.data_offset)
    got = pillow_load(data[:cut], truncated=True)
    if got.image is None:
        if "index is >=" in str(got.error) and _recovery_out_of_range(data, cut):
            return  # D7 keeps rule 9.12: the file cannot be shown, and the decoder said why
        raise Finding(f"a valid file cut at {cut} of {len(data)} bytes did not load: {got.error!r}")
    if got.image.size != (spec.width, spec.height):
        raise Finding(f"a truncated file loaded at {got.image.size}")


def _declared_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[12:16], "little"), int.from_bytes(data[16:20], "little")


def _same_image(got: Image.Image, expected: Image.Image) -> None:
    if (got.mode, got.size) != (expected.mode, expected.size):
        raise Finding(f"Pillow gave {got.mode} {got.size}, decode() {expected.mode} {expected.size}")
    if got.convert("RGBA").tobytes() != expected.convert("RGBA").tobytes():
        raise Finding("Pillow and decode() give different pixels")
    keys = ("colors", "bits_per_index", "compression", "palette_kind", "method", "colorspace", "dither")
    if any(got.info.get(key) != expected.info.get(key) for key in keys):
        raise Finding(f"Pillow info {got.info} differs from decode() info {expected.info}")


# --------------------------------------------------------------------------- 3: round trip


class _Bytes:
    """Reads choices off the front of the fuzz input; zeros once it runs out."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def byte(self) -> int:
        value = self.data[self.at] if self.at < len(self.data) else 0
        self.at += 1
        return value

    def u16(self) -> int:
        return self.byte() | self.byte() << 8

    def pick(self, options: tuple[Any, ...]) -> Any:
        return options[self.byte() % len(options)]

    def rest(self) -> bytes:
        return self.data[self.at :]


#: Inputs the encoder takes: Pillow modes, and numpy layouts (name, dtype, channels).
PIL_MODES = ("RGB", "RGBA", "L", "P", "1", "LA", "PA", "La", "RGBa", "RGBX", "CMYK", "YCbCr",
             "HSV", "LAB", "I", "F", "I;16", "I;16B", "I;16L", "I;16N")  # fmt: skip
ARRAYS = (("u8", np.uint8, 0), ("u8", np.uint8, 2), ("u8", np.uint8, 3), ("u8", np.uint8, 4),
          ("u16", np.uint16, 3), ("f32", np.float32, 3), ("f64", np.float64, 0),
          ("bool", np.bool_, 0))  # fmt: skip
SOURCES = PIL_MODES + ARRAYS
#: Palette sizes in the range that matters for tiny images; any K up to 65536 is valid.
SMALL_K = (1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 64, 255, 256, 257)
AUTO = ("elbow", "min_psnr", "min_ssim", "max_bytes")
#: GMM fits are slow with many components; they are fuzzed with few.
GMM_MAX_K = 24


@dataclass(frozen=True)
class Case:
    """One round trip: an image and the options of kmzcodec.encode."""

    image: Image.Image | np.ndarray
    colors: int | str
    options: dict[str, Any]

    @property
    def size(self) -> tuple[int, int]:
        if isinstance(self.image, Image.Image):
            return self.image.size
        return self.image.shape[1], self.image.shape[0]


def _fill(raw: bytes, length: int) -> bytes:
    """Exactly ``length`` bytes: ``raw`` repeated (zeros when empty)."""
    if not raw:
        return bytes(length)
    return (raw * (length // len(raw) + 1))[:length]


@dataclass(frozen=True)
class PaletteChoice:
    """For "P" and "PA" sources: palette entries (0..256), RGBA or RGB, transparency index."""

    entries: int
    rgba: bool
    transparency: int | None


def _image(
    source: Any, width: int, height: int, raw: bytes, palette: PaletteChoice
) -> Image.Image | np.ndarray:
    if isinstance(source, str):
        length = len(Image.new(source, (width, height)).tobytes())
        image = Image.frombytes(source, (width, height), _fill(raw, length))
        if source in ("P", "PA"):
            rawmode = "RGBA" if palette.rgba else "RGB"
            image.putpalette(_fill(raw[::-1], palette.entries * len(rawmode)), rawmode)
            if source == "P" and palette.transparency is not None:
                image.info["transparency"] = palette.transparency
        return image
    _, dtype, channels = source
    shape = (height, width) if channels == 0 else (height, width, channels)
    count = int(np.prod(shape))
    if dtype is np.bool_:
        return np.frombuffer(_fill(raw, count), dtype=np.uint8).reshape(shape) & 1 == 1
    values = np.frombuffer(_fill(raw, count * np.dtype(dtype).itemsize), dtype=dtype).reshape(shape)
    if dtype is np.float32:
        return values / np.float32(255.0)  # mostly [0, 1], sometimes NaN, inf or huge
    return values.copy()


def parse_case(data: bytes) -> Case:
    """Fuzz bytes -> a case. Layout (:func:`case_bytes` writes it): width - 1, height - 1,
    source, option flags, K (a byte, then a u16), seed, extras flags, [level], [bits],
    [quality], [auto target, amount], three palette bytes for "P" sources, then pixel bytes."""
    reader = _Bytes(data)
    width, height = 1 + reader.byte() % 32, 1 + reader.byte() % 32
    source = reader.pick(SOURCES)
    flags = reader.byte()
    method = "gmm" if flags & 1 else "kmeans"
    colorspace = ("rgb", "oklab", "lab", "hsv")[flags >> 1 & 3]
    compression = ("zlib", "lzma", "none", "smallest")[flags >> 3 & 3]
    k_byte, k_wide = reader.byte(), reader.u16()
    colors: int | str = SMALL_K[k_byte % len(SMALL_K)] if k_byte & 0x80 == 0 else 1 + k_wide % MAX_COLORS
    if method == "gmm" and isinstance(colors, int):
        colors = 1 + (colors - 1) % GMM_MAX_K
    options: dict[str, Any] = {
        "method": method,
        "colorspace": colorspace,
        "dither": bool(flags & 0x20),
        "compression": compression,
        "seed": reader.byte(),
    }
    extra = reader.byte()
    if extra & 1:
        options["level"] = reader.byte() % 10
    if extra & 2:
        options["bits_per_index"] = 1 + reader.byte() % 16
    if extra & 4:  # the size/quality knob, plain or dithered
        options["quality"] = reader.byte() % 101
    # colors="auto" searches over K (about ten encodes): kept rare, and on small images.
    if extra & 0xF0 == 0xF0 and width * height <= 256 and method == "kmeans":
        colors = "auto"
        target, amount = reader.pick(AUTO), reader.byte()
        if target == "min_psnr":
            options["min_psnr"] = 10.0 + amount / 4
        elif target == "min_ssim":
            options["min_ssim"] = (amount + 1) / 256  # SSIM targets lie in (0, 1]
        elif target == "max_bytes":
            options["max_bytes"] = 60 + amount * 8
    entries, palette_flags, transparency = reader.byte(), reader.byte(), reader.byte()
    transparency_index = transparency if palette_flags & 2 else None
    palette = PaletteChoice(entries % 257, bool(palette_flags & 1), transparency_index)
    return Case(_image(source, width, height, reader.rest(), palette), colors, options)


def case_bytes(
    width: int,
    height: int,
    source: Any,
    colors: int,
    pixels: bytes,
    *,
    flags: int = 0,
    seed: int = 0,
    palette: tuple[int, int, int] = (0, 0, 0),
) -> bytes:
    """Fuzz bytes that :func:`parse_case` reads back as this case (K given exactly)."""
    head = bytes([width - 1, height - 1, SOURCES.index(source), flags, 0x80])
    return head + (colors - 1).to_bytes(2, "little") + bytes([seed, 0, *palette]) + pixels


def _allowed_refusals(case: Case) -> set[str]:
    """KmzError reasons encode() may give for these options (all documented limits)."""
    allowed = set()
    bits = case.options.get("bits_per_index")
    if bits is not None and (case.colors == "auto" or bits < min_bits(int(case.colors))):
        allowed.add("bad-option")  # fewer bits than the palette it ends up with needs
    if case.options["dither"] and (case.colors == "auto" or int(case.colors) > 256):
        allowed.add("bad-option")  # dithering works with at most 256 colours
    if "max_bytes" in case.options or (case.options["dither"] and case.colors == "auto"):
        allowed.add("unreachable-target")  # even K = 1 does not fit; dithering's 256-colour cap
    if case.options["compression"] in ("smallest", "none") and "level" in case.options:
        allowed.add("bad-option")  # "smallest" tries its own levels; "none" has none
    return allowed


def roundtrip_target(data: bytes) -> None:
    case = parse_case(data)
    check_roundtrip(case)


def check_roundtrip(case: Case) -> None:
    try:
        encoded = kmzcodec.encode(case.image, case.colors, **case.options)
    except KmzError as exc:
        if exc.reason not in _allowed_refusals(case):
            message = f"encode refused ({exc.reason}: {exc}) options it documents: {case.options}"
            raise Finding(message) from exc
        return
    decoded = kmzcodec.decode(encoded)
    if decoded.size != case.size:
        raise Finding(f"decoded size {decoded.size}, encoded {case.size}")
    colors = decoded.info["colors"]
    if case.colors != "auto" and colors > int(case.colors):
        raise Finding(f"K = {case.colors} asked, {colors} stored")
    if "max_bytes" in case.options and len(encoded) > case.options["max_bytes"]:
        raise Finding(f"max_bytes = {case.options['max_bytes']}, file is {len(encoded)} bytes")
    used = len(np.unique(np.asarray(decoded.convert("RGBA")).reshape(-1, 4), axis=0))
    if used > colors:
        raise Finding(f"{used} distinct colours decoded from a palette of {colors}")
    if case.colors != "auto":
        original = canonical_rgba(to_pixels(case.image))
        distinct = len(np.unique(original.reshape(-1, 4), axis=0))
        if distinct <= int(case.colors):
            shown = canonical_rgba(np.asarray(decoded.convert("RGBA")))
            if not np.array_equal(shown, original):
                raise Finding(f"{distinct} colours fit in K = {case.colors} but were not stored exactly")
    again = kmzcodec.encode(case.image, case.colors, **case.options)
    if again != encoded:
        raise Finding("encoding the same image with the same options gave different bytes")


def canonical_rgba(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 1|3|4) -> (H, W, 4), every fully transparent pixel as (0, 0, 0, 0):
    the encoder keeps one entry for all invisible colours (kmzcodec.quantize)."""
    height, width, channels = pixels.shape
    rgba = np.full((height, width, 4), 255, dtype=np.uint8)
    rgba[:, :, :3] = pixels[:, :, :3] if channels >= 3 else pixels[:, :, :1]
    if channels == 4:
        rgba[:, :, 3] = pixels[:, :, 3]
        rgba[rgba[:, :, 3] == 0] = 0
    return rgba


TARGETS: dict[str, Callable[[bytes], None]] = {
    "decode": decode_target,
    "pillow": pillow_target,
    "roundtrip": roundtrip_target,
}
