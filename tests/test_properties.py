"""Properties that hold for every image and every byte string (hypothesis).

- decode(encode(x)) keeps the size and stays within K colours (exactly x when x has
  at most K colours); encoding is deterministic, also across processes;
- any byte string decodes or raises KmzError, also when it starts with a valid
  header (so the palette, CRC, stream and index checks are reached);
- changing any single byte of a valid file gets it rejected. Why every change, not
  just most: each byte is covered by exactly one CRC-32 (bytes 0-35 by the header
  CRC, 40 to n-5 by the trailer) or is part of a CRC field, and CRC-32 detects every
  error burst of up to 32 bits; one changed byte is a burst of at most 8. The magic
  and version are checked before the CRC, so they give their own reasons. Only
  changes the CRCs are repaired for (or 2**-32 luck with several bytes) reach the
  later checks, and then the file is rejected or decodes at its declared size.
"""

from __future__ import annotations

import io
import lzma
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import kmzcodec
from kmzcodec import bitpack
from kmzcodec.container import Header
from kmzcodec.format import MAGIC, ColorSpace, Compression, Method, PaletteKind, min_bits

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fuzz import reference  # noqa: E402  (the spec's plain reading, also the fuzzers' oracle)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENCODE = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def rgba(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 1|3|4) -> (H, W, 4) with all fully transparent pixels as (0, 0, 0, 0)."""
    height, width, channels = pixels.shape
    out = np.full((height, width, 4), 255, dtype=np.uint8)
    out[:, :, :3] = pixels[:, :, :3] if channels >= 3 else pixels
    if channels == 4:
        out[:, :, 3] = pixels[:, :, 3]
        out[out[:, :, 3] == 0] = 0  # the encoder keeps one entry for every invisible colour
    return out


@st.composite
def images(draw: st.DrawFn) -> np.ndarray:
    """Small images: from a few colours (often stored exactly) to noise."""
    height, width = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    channels = draw(st.sampled_from([1, 3, 4]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    colours = draw(st.integers(1, height * width))
    palette = rng.integers(0, 256, (colours, channels), dtype=np.uint8)
    return palette[rng.integers(0, colours, (height, width))]


encoder_options = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["kmeans", "kmeans", "kmeans", "gmm"]),
        "colorspace": st.sampled_from(["rgb", "oklab", "lab", "hsv"]),
        "compression": st.sampled_from(["zlib", "lzma", "none"]),
        "dither": st.booleans(),
        "seed": st.integers(0, 2**32 - 1),
    }
)


def _colours(image: Image.Image) -> int:
    return len(np.unique(np.asarray(image.convert("RGBA")).reshape(-1, 4), axis=0))


@ENCODE
@given(pixels=images(), colors=st.integers(1, 40), options=encoder_options)
def test_round_trip_keeps_size_and_k(pixels: np.ndarray, colors: int, options: dict[str, object]) -> None:
    if options["method"] == "gmm":
        colors = min(colors, 8)  # GMM fits are slow; a few components show the property
    data = kmzcodec.encode(pixels, colors, **options)  # type: ignore[arg-type]
    decoded = kmzcodec.decode(data)
    height, width = pixels.shape[:2]
    assert decoded.size == (width, height)
    assert decoded.info["colors"] <= colors
    assert _colours(decoded) <= decoded.info["colors"]
    original = rgba(pixels)
    if len(np.unique(original.reshape(-1, 4), axis=0)) <= colors:
        np.testing.assert_array_equal(rgba(np.asarray(decoded.convert("RGBA"))), original)


@ENCODE
@given(pixels=images(), colors=st.integers(1, 300), options=encoder_options)
def test_encoding_is_deterministic(pixels: np.ndarray, colors: int, options: dict[str, object]) -> None:
    if options["method"] == "gmm":
        colors = min(colors, 8)
    options = {**options, "dither": bool(options["dither"]) and colors <= 256}
    first = kmzcodec.encode(pixels, colors, **options)  # type: ignore[arg-type]
    assert kmzcodec.encode(pixels.copy(), colors, **options) == first  # type: ignore[arg-type]


def test_encoding_is_deterministic_across_processes(tmp_path: Path) -> None:
    """Same bytes from a fresh interpreter with another hash seed (set and dict order)
    and one BLAS/OpenMP thread (summation order) as from this process."""
    rng = np.random.default_rng(3)
    source = tmp_path / "noise.npy"
    pixels = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    np.save(source, pixels)
    script = (
        "import sys, numpy, kmzcodec; pixels = numpy.load(sys.argv[1]); sys.stdout.buffer.write("
        "kmzcodec.encode(pixels, 12) + kmzcodec.encode(pixels, 6, method='gmm', dither=True))"
    )
    environment = {**os.environ, "PYTHONHASHSEED": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(source)], capture_output=True, env=environment, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()
    here = kmzcodec.encode(pixels, 12) + kmzcodec.encode(pixels, 6, method="gmm", dither=True)
    assert done.stdout == here


# --------------------------------------------------------------------------- any bytes


def decodes_or_rejects(data: bytes) -> Image.Image | None:
    """decode(data), or None for a KmzError; any other exception fails the test."""
    try:
        image = kmzcodec.decode(data)
    except kmzcodec.KmzError as exc:
        assert exc.reason in reference.REASONS, exc.reason
        return None
    width, height = int.from_bytes(data[12:16], "little"), int.from_bytes(data[16:20], "little")
    assert image.size == (width, height)
    image.load()
    return image


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_kmzerror(data: bytes) -> None:
    decodes_or_rejects(data)


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_after_the_magic_decode_or_raise_kmzerror(tail: bytes) -> None:
    decodes_or_rejects(MAGIC + tail)


@st.composite
def headers(draw: st.DrawFn) -> Header:
    """Valid headers of small images, every kind, compression and packing width."""
    colors = draw(st.one_of(st.integers(1, 20), st.integers(250, 300), st.just(65536)))
    return Header(
        width=draw(st.integers(1, 9)),
        height=draw(st.integers(1, 6)),
        palette_kind=draw(st.sampled_from(list(PaletteKind))),
        colors=colors,
        bits_per_index=draw(st.integers(min_bits(colors), 16)),
        compression=draw(st.sampled_from(list(Compression))),
        data_length=draw(st.integers(0, 64)),
        method=draw(st.sampled_from(list(Method))),
        colorspace=draw(st.sampled_from(list(ColorSpace))),
        dithered=draw(st.booleans()),
    )


def with_trailer(header: Header, body: bytes) -> bytes:
    """Header (data_length fitted to ``body``) + body + the right CRC: past rules 9.1-9.9."""
    stored = body[header.palette_length :]
    data_length = header.raw_length if header.compression is Compression.NONE else len(stored)
    fitted = Header(**{**header.__dict__, "data_length": data_length})
    return fitted.pack() + body + zlib.crc32(body).to_bytes(4, "little")


@FAST
@given(header=headers(), tail=st.binary(max_size=200))
def test_a_valid_header_and_any_tail_decode_or_raise_kmzerror(header: Header, tail: bytes) -> None:
    decodes_or_rejects(header.pack() + tail)
    decodes_or_rejects(with_trailer(header, tail))  # lengths and CRC right: the stream checks decide


@FAST
@given(header=headers(), data=st.data())
def test_deep_paths_agree_with_the_spec(header: Header, data: st.DataObject) -> None:
    """Files with correct CRCs and lengths reach decompression, padding and index checks;
    kmzcodec gives the reason (or the pixels) the spec's plain reading gives."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    palette = rng.integers(0, 256, header.palette_length, dtype=np.uint8).tobytes()
    indices = rng.integers(0, header.colors, (header.height, header.width))
    raw = bytearray(bitpack.pack(indices, header.bits_per_index))
    damage = data.draw(st.sampled_from(["none", "last-bit", "byte"]))
    if damage == "last-bit":  # a padding bit when the row has padding, else part of an index
        raw[-1] |= 1
    elif damage == "byte":
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    if header.compression is Compression.ZLIB:
        streams = [
            zlib.compress(raw),
            zlib.compress(raw, 0),
            zlib.compress(raw)[:-1],
            zlib.compress(raw + b"x"),
        ]
        stored = data.draw(st.sampled_from(streams))
    elif header.compression is Compression.LZMA:
        stored = data.draw(
            st.sampled_from([lzma.compress(raw, check=lzma.CHECK_NONE), lzma.compress(raw)[:-2]])
        )
    else:
        stored = bytes(raw)
    file = with_trailer(header, palette + stored)
    spec = reference.read(file, kmzcodec.DEFAULT_MAX_PIXELS)
    try:
        image = kmzcodec.decode(file)
    except kmzcodec.KmzError as exc:
        assert exc.reason in spec.reasons, (exc.reason, spec.reasons)
        return
    assert spec.valid and spec.pixels is not None
    shown = np.asarray(image.convert(MODES[spec.entry_size])).reshape(spec.pixels.shape)
    np.testing.assert_array_equal(shown, spec.pixels)


# --------------------------------------------------------------------------- single-byte changes


def small_files() -> dict[str, bytes]:
    rng = np.random.default_rng(11)
    pixels = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    files = {c: kmzcodec.encode(pixels, 6, compression=c) for c in ("none", "zlib", "lzma")}
    files["grey-k300"] = kmzcodec.encode((np.arange(300, dtype=np.uint16) * 211).reshape(12, 25), 300)
    return files


SMALL_FILES = small_files()
#: XOR masks applied to each byte: all 255 (every other value) for the small files; for the
#: larger K > 256 file, three bit patterns at every offset keep the test quick.
EVERY_VALUE = tuple(range(1, 256))
CHANGES = {"none": EVERY_VALUE, "zlib": EVERY_VALUE, "lzma": EVERY_VALUE, "grey-k300": (0x01, 0x80, 0xFF)}


def expected_reason(offset: int) -> str:
    """Where a one-byte change lands decides the reason (see the module docstring)."""
    if offset < 8:
        return "bad-magic"
    if offset == 8:
        return "unsupported-version"
    if offset < 40:
        return "header-crc"
    return "data-crc"


@pytest.mark.parametrize("name", SMALL_FILES)
def test_every_single_byte_change_is_rejected(name: str) -> None:
    """Every other value at every offset: 100 % rejected, each for the predicted reason."""
    data = SMALL_FILES[name]
    changed = rejected = 0
    wrong: list[tuple[int, int, str]] = []
    for offset in range(len(data)):
        reason = expected_reason(offset)
        values = [data[offset] ^ mask for mask in CHANGES[name]]
        for value in values:
            changed += 1
            try:
                kmzcodec.decode(data[:offset] + bytes([value]) + data[offset + 1 :])
            except kmzcodec.KmzError as exc:
                rejected += 1
                if exc.reason != reason:
                    wrong.append((offset, value, exc.reason))
    assert changed == len(data) * len(CHANGES[name])
    assert rejected == changed, f"{changed - rejected} of {changed} changed files decoded"
    assert not wrong, wrong[:10]


@pytest.mark.parametrize("name", SMALL_FILES)
def test_every_deleted_or_inserted_byte_is_rejected(name: str) -> None:
    data = SMALL_FILES[name]
    for offset in range(len(data) + 1):
        for edited, reason in (
            (data[:offset] + data[offset + 1 :], "truncated-data"),
            (data[:offset] + b"\x5a" + data[offset:], "trailing-bytes"),
        ):
            if edited == data:
                continue
            with pytest.raises(kmzcodec.KmzError) as caught:
                kmzcodec.decode(edited)
            if offset >= 40:  # the header is intact: only the length is wrong
                assert caught.value.reason == reason, (offset, caught.value.reason)
            else:
                assert caught.value.reason in ("bad-magic", "unsupported-version", "header-crc")


@FAST
@given(name=st.sampled_from(sorted(SMALL_FILES)), data=st.data())
def test_a_changed_byte_is_rejected_also_through_pillow(name: str, data: st.DataObject) -> None:
    original = SMALL_FILES[name]
    offset = data.draw(st.integers(0, len(original) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != original[offset]))
    changed = original[:offset] + bytes([value]) + original[offset + 1 :]
    try:
        opened = Image.open(io.BytesIO(changed), formats=["KMZ"])
    except Image.UnidentifiedImageError:
        assert offset < 40  # header problems are found at open, data problems at load
        return
    with opened:
        assert offset >= 40
        with pytest.raises(OSError):
            opened.load()


@FAST
@given(name=st.sampled_from(sorted(SMALL_FILES)), data=st.data())
def test_changes_behind_a_repaired_crc_decode_at_the_declared_size_or_are_rejected(
    name: str, data: st.DataObject
) -> None:
    """With the trailer recomputed, the CRC no longer protects palette and data: then the
    other rules decide, and a file they let through has exactly the declared size."""
    original = bytearray(SMALL_FILES[name])
    header = kmzcodec.container.parse_header(bytes(original[:40]))
    for _ in range(data.draw(st.integers(1, 4))):
        offset = data.draw(st.integers(40, len(original) - 5))
        original[offset] = data.draw(st.integers(0, 255))
    original[-4:] = zlib.crc32(original[40:-4]).to_bytes(4, "little")
    image = decodes_or_rejects(bytes(original))
    assert image is None or image.size == (header.width, header.height)


def test_palette_changes_behind_a_repaired_crc_do_decode() -> None:
    """The contrast: without the CRC a changed palette byte goes unnoticed (a different
    colour), which is why the CRC, not the other rules, makes rejection the rule."""
    data = bytearray(SMALL_FILES["none"])
    data[40] ^= 0x55
    data[-4:] = zlib.crc32(data[40:-4]).to_bytes(4, "little")
    image = kmzcodec.decode(bytes(data))
    assert image.getpalette()[0] == SMALL_FILES["none"][40] ^ 0x55  # type: ignore[index]
