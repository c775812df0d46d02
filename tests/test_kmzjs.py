"""kmzcodec/web/kmz.js in a real headless Chromium, against the conformance suite and kmzcodec.

The browser is the system's Chromium (Debian's `chromium` package; .ci/run installs it),
driven by Playwright; files are served from a local http.server, since ES modules do not
load from file:// URLs. Each batch of files is decoded in one `page.evaluate`.
"""

from __future__ import annotations

import base64
import dataclasses
import lzma
import os
import random
import shutil
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import kmzcodec
from kmzcodec import container, smallest, xzscan
from kmzcodec.format import HEADER_SIZE, Compression, Method, PaletteKind
from kmzcodec.gui import headless

REPO = Path(__file__).resolve().parents[1]
CONFORMANCE = REPO / "spec" / "conformance"

#: Runs in the page: decode each file (fetched by URL, or given as base64) and report
#: its size and RGBA bytes, or the error's name and reason.
DECODE_BATCH = """
async ([items, options]) => {
  const { decode } = await import("/kmzcodec/web/kmz.js");
  const b64 = (bytes) => {
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(text);
  };
  const results = [];
  for (const item of items) {
    const bytes = item.url
      ? new Uint8Array(await (await fetch(item.url)).arrayBuffer())
      : Uint8Array.from(atob(item.data), (c) => c.charCodeAt(0));
    try {
      const image = await decode(bytes, options);
      results.push({ width: image.width, height: image.height, rgba: b64(image.data) });
    } catch (error) {
      results.push({ name: error.name, reason: error.reason ?? null, message: String(error.message) });
    }
  }
  return results;
}
"""


class _Quiet(headless.StaticFiles):
    #: Files made by a test, served at their path before the repository's own.
    in_memory: ClassVar[dict[str, bytes]] = {"/blank": b"<!doctype html><title>kmz.js tests</title>"}


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    """http://127.0.0.1:PORT serving the repository (read-only GETs)."""
    with headless.serving(REPO, _Quiet) as url:
        yield url


def chromium_path() -> str | None:
    return headless.executable()


@pytest.fixture(scope="module")
def page(origin: str) -> Iterator[Any]:
    required = bool(os.environ.get("KMZ_REQUIRE_BROWSER"))  # set by .ci/run: CI must not skip these
    try:
        from playwright import sync_api
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    executable = chromium_path()
    if executable is None:
        if required:
            pytest.fail("no chromium found, and KMZ_REQUIRE_BROWSER is set")
        pytest.skip("no chromium on this machine (.ci/run installs Debian's chromium)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=headless.ARGS)
        try:
            tab = browser.new_page()
            tab.goto(f"{origin}/blank")
            yield tab
        finally:
            browser.close()


def decode_in_browser(page: Any, items: list[dict[str, str]], **options: Any) -> list[dict[str, Any]]:
    return page.evaluate(DECODE_BATCH, [items, options])


def as_item(data: bytes) -> dict[str, str]:
    return {"data": base64.b64encode(data).decode("ascii")}


def rgba(data: bytes, **options: Any) -> bytes:
    return kmzcodec.decode(data, **options).convert("RGBA").tobytes()


def passes_rules_1_to_9(data: bytes) -> bool:
    """Whether kmzcodec's checks before decompression (spec 9.1 to 9.9) accept the file."""
    try:
        header = container.parse_header(data[:HEADER_SIZE])
        container.check_length(header, len(data))
        end = header.file_length - 4
        container.check_crc(
            data[HEADER_SIZE : header.data_offset], data[header.data_offset : end], data[end:]
        )
    except kmzcodec.KmzError:
        return False
    return True


def expected_js_reason(case: dict[str, Any]) -> str | None:
    """The reason kmz.js must give: the listed one (it decodes lzma, so never unsupported-compression)."""
    return None if case["valid"] else case["reason"]


def test_kmz_js_on_every_conformance_vector(page: Any, conformance_table: list[dict[str, Any]]) -> None:
    cases = conformance_table
    results = decode_in_browser(page, [{"url": f"/spec/conformance/{case['file']}"} for case in cases])
    assert len(results) == len(cases)
    checked = {"pixels": 0, "reasons": 0, "lzma": 0}
    for case, result in zip(cases, results, strict=True):
        data = (CONFORMANCE / case["file"]).read_bytes()
        reason = expected_js_reason(case)
        checked["lzma"] += passes_rules_1_to_9(data) and data[11] == Compression.LZMA
        if reason is None:
            assert "rgba" in result, (case["file"], result)
            header = case["header"]
            assert (result["width"], result["height"]) == (header["width"], header["height"]), case["file"]
            assert base64.b64decode(result["rgba"]) == rgba(data), case["file"]
            checked["pixels"] += 1
        else:
            assert result.get("name") == "KmzError", (case["file"], result)
            assert result["reason"] == reason, (case["file"], result["message"])
            checked["reasons"] += 1
    # lzma: the vectors that reach decompression (the xz rule vectors, valid and invalid).
    assert checked["pixels"] >= 50 and checked["reasons"] >= 100 and checked["lzma"] >= 20, checked


def _file(width: int, height: int, colors: int, kind: PaletteKind, bits: int, seed: int) -> bytes:
    """Random indices and palette, packed at ``bits``, zlib: large enough for many inflate chunks."""
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (colors, int(kind)), dtype=np.uint8)
    indices = rng.integers(0, colors, (height, width)).astype(np.uint16 if colors > 256 else np.uint8)
    indices[: height // 2, : width // 3] = colors - 1  # long runs too, so the stream is not all literals
    return container.write(palette, indices, compression="zlib", level=1, bits_per_index=bits)


LARGER = [
    (513, 300, 2, PaletteKind.GREY, 1),
    (401, 301, 3, PaletteKind.RGBA, 2),
    (640, 480, 16, PaletteKind.RGB, 4),
    (333, 257, 20, PaletteKind.RGB, 5),
    (640, 480, 256, PaletteKind.RGBA, 8),
    (299, 211, 100, PaletteKind.RGB, 8),
    (257, 203, 700, PaletteKind.RGB, 10),
    (200, 150, 5000, PaletteKind.RGBA, 13),
    (300, 200, 65536, PaletteKind.RGB, 16),
    (123, 77, 3, PaletteKind.GREY, 16),
]


def test_kmz_js_matches_kmzcodec_on_larger_images(page: Any) -> None:
    files = [_file(*shape, seed=i) for i, shape in enumerate(LARGER)]
    results = decode_in_browser(page, [as_item(data) for data in files])
    for shape, data, result in zip(LARGER, files, results, strict=True):
        assert "rgba" in result, (shape, result)
        assert base64.b64decode(result["rgba"]) == rgba(data), shape


def _bomb(declared: tuple[int, int], gibibytes: int) -> bytes:
    """A file of ``declared`` size at 8 bits whose zlib stream inflates to ``gibibytes`` GiB of zeros.

    After a full flush deflate starts afresh, so every further 16 MiB of zeros compresses to
    the same bytes: the stream is one piece repeated (its end is never reached).
    """
    engine = zlib.compressobj(9)
    first = engine.compress(bytes(16 << 20)) + engine.flush(zlib.Z_FULL_FLUSH)
    again = engine.compress(bytes(16 << 20)) + engine.flush(zlib.Z_FULL_FLUSH)
    stream = first + again * (gibibytes * 64 - 1)
    palette = bytes(3 * 2)
    header = container.Header(*declared, PaletteKind.RGB, 2, 8, Compression.ZLIB, len(stream))
    return header.pack() + palette + stream + container.data_crc(palette, stream).to_bytes(4, "little")


def test_kmz_js_stops_a_decompression_bomb(page: Any) -> None:
    """8 GiB of zeros in an 8 MB stream, declared as 16 x 16: wrong-size, as kmzcodec says.

    kmz.js feeds DecompressionStream 16 KiB at a time and stops past raw_length + 1 bytes.
    (Handed the stream in one piece, Chromium inflates all 8 GiB, about a minute here,
    before the decoder can stop it; this test checks the reason, not the time.)
    """
    bomb = _bomb((16, 16), 8)
    assert len(bomb) < 10_000_000
    with pytest.raises(kmzcodec.KmzError) as caught:
        kmzcodec.decode(bomb)
    assert caught.value.reason == "wrong-size"
    _Quiet.in_memory["/bomb.kmz"] = bomb
    (result,) = decode_in_browser(page, [{"url": "/bomb.kmz"}])
    assert result.get("reason") == "wrong-size", result


def test_kmz_js_max_pixels(page: Any) -> None:
    data = _file(6, 4, 3, PaletteKind.RGB, 2, seed=7)
    over, at, unlimited = (
        decode_in_browser(page, [as_item(data)], maxPixels=limit)[0] for limit in (23, 24, None)
    )
    assert over.get("reason") == "too-many-pixels"
    assert base64.b64decode(at["rgba"]) == base64.b64decode(unlimited["rgba"]) == rgba(data)
    # Over the default 2^28: refused by default, and with no limit its header and length pass
    # (decoding it would make a 1 GiB ImageData).
    big = {"url": "/spec/conformance/invalid/pixels-over-limit.kmz"}
    (default,) = decode_in_browser(page, [big])
    assert default.get("reason") == "too-many-pixels"
    header = page.evaluate(
        """async (url) => {
          const { readHeader } = await import("/kmzcodec/web/kmz.js");
          const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
          const header = readHeader(bytes, { maxPixels: null });
          return [header.width, header.height, header.compression];
        }""",
        big["url"],
    )
    assert header == [16385, 16384, "lzma"]


def test_kmz_js_takes_array_buffers_and_views_and_refuses_other_input(page: Any) -> None:
    data = _file(9, 5, 5, PaletteKind.RGBA, 3, seed=3)
    outcome = page.evaluate(
        """async (b64) => {
          const { decode } = await import("/kmzcodec/web/kmz.js");
          const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
          const padded = new Uint8Array(bytes.length + 7);
          padded.set(bytes, 3);
          const fromBuffer = await decode(bytes.slice().buffer);
          const fromView = await decode(padded.subarray(3, 3 + bytes.length));
          let refused = null;
          try { await decode("not bytes"); } catch (error) { refused = error.name; }
          return [Array.from(fromBuffer.data), Array.from(fromView.data), refused];
        }""",
        base64.b64encode(data).decode("ascii"),
    )
    expected = list(rgba(data))
    assert outcome[0] == expected and outcome[1] == expected
    assert outcome[2] == "TypeError"


def _structured(width: int, height: int, colors: int, seed: int) -> np.ndarray:
    """Indices with matches for lzma to find (diagonal bands, a flat block) and some noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    bands = (x * 7 + y * 3) // 5 + (x * y) // 97
    noise = rng.integers(0, colors, (height, width)) * (rng.random((height, width)) < 0.1)
    indices = (bands + noise) % colors
    indices[: height // 3, : width // 4] = colors - 1
    return indices.astype(np.uint16 if colors > 256 else np.uint8)


def _written(shape: tuple[int, int, int, PaletteKind, int], seed: int, compression: str) -> bytes:
    width, height, colors, kind, bits = shape
    palette = np.random.default_rng(seed).integers(0, 256, (colors, int(kind)), dtype=np.uint8)
    indices = _structured(width, height, colors, seed)
    return container.write(palette, indices, compression=compression, bits_per_index=bits)


#: K from 2 to 65536 at every kind of packing, bits 1..16; two images of 300 K+ pixels.
LZMA_SHAPES = [*LARGER, (700, 500, 256, PaletteKind.GREY, 8), (97, 61, 16, PaletteKind.RGBA, 16)]
SMALLEST_SHAPES = [LZMA_SHAPES[i] for i in (0, 2, 4, 6, 8, 10)]


def _same_as_kmzcodec(page: Any, files: list[bytes], max_pixels: int | None = None) -> list[dict[str, Any]]:
    """Decode ``files`` in the browser; each gives kmzcodec's pixels, or kmzcodec's reason.

    ``max_pixels``: the pixel limit of both decoders (None: their defaults, both 2^28).
    """
    limit = {} if max_pixels is None else {"max_pixels": max_pixels}
    options = {} if max_pixels is None else {"maxPixels": max_pixels}
    results = decode_in_browser(page, [as_item(data) for data in files], **options)
    for number, (data, result) in enumerate(zip(files, results, strict=True)):
        try:
            expected = rgba(data, **limit)
        except kmzcodec.KmzError as error:
            assert result.get("reason") == error.reason, (number, error, result)
        else:
            assert "rgba" in result, (number, result)
            assert base64.b64decode(result["rgba"]) == expected, number
    return results


def test_kmz_js_decodes_lzma_and_smallest_files(page: Any) -> None:
    lzma_files = [_written(shape, i, "lzma") for i, shape in enumerate(LZMA_SHAPES)]
    smallest_files = [_written(shape, i, "smallest") for i, shape in enumerate(SMALLEST_SHAPES)]
    assert all(data[11] == Compression.LZMA for data in lzma_files)
    # "smallest" nearly always picks lzma, with the lc/lp/pb variants of kmzcodec/smallest.py.
    assert sum(data[11] == Compression.LZMA for data in smallest_files) >= len(smallest_files) - 1
    results = _same_as_kmzcodec(page, lzma_files + smallest_files)
    assert all("rgba" in result for result in results)


def test_kmz_js_decodes_smallest_files_of_several_blocks(page: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """smallest's multi-block streams (block size made small so that test images reach it),
    unfiltered and sub-filtered: kmz.js gives kmzcodec's pixels."""
    monkeypatch.setattr(smallest, "BLOCKED_BYTES", 2048)
    monkeypatch.setattr(smallest, "MAX_CUT_COST", 1.0)
    files = []
    for seed, (width, height, colors, kind) in enumerate(
        [(420, 400, 256, PaletteKind.RGB), (500, 300, 16, PaletteKind.RGBA)]
    ):
        palette = np.random.default_rng(seed).integers(0, 256, (colors, int(kind)), dtype=np.uint8)
        indices = _structured(width, height, colors, seed)
        files.append(container.write(palette, indices, compression="smallest", method=Method.KMEANS))
    noise = np.random.default_rng(7).integers(0, 6, (400, 420))
    ramp = ((np.add.outer(np.arange(400), np.arange(420)) // 3 + noise) % 256).astype(np.uint8)
    files.append(container.write(np.arange(256, dtype=np.uint8)[:, None], ramp, compression="smallest"))
    assert container.parse_header(files[-1][:HEADER_SIZE]).filter
    for data in files:
        header = container.parse_header(data[:HEADER_SIZE])
        stored = data[header.data_offset : header.file_length - 4]
        assert header.compression is Compression.LZMA and len(xzscan.check(stored)) == smallest.MAX_BLOCKS
    results = _same_as_kmzcodec(page, files)
    assert all("rgba" in result for result in results)


def _restored(
    data: bytes, stored: bytes, compression: Compression = Compression.LZMA, **changes: int
) -> bytes:
    """``data`` (a valid file) with other stored data (and header ``changes``): CRCs made right."""
    header = container.parse_header(data[:HEADER_SIZE])
    palette = data[HEADER_SIZE : header.data_offset]
    header = dataclasses.replace(header, compression=compression, data_length=len(stored), **changes)
    return header.pack() + palette + stored + container.data_crc(palette, stored).to_bytes(4, "little")


def _rows(data: bytes) -> bytes:
    return bytes(container.read(data).rows)


def _streams(rows: bytes, conformance_generator: Any) -> dict[str, bytes]:
    """.xz streams of ``rows`` made other ways than kmzcodec makes them."""
    streams = {}
    for check in ("CRC32", "CRC64", "SHA256", "NONE"):
        streams[check] = lzma.compress(rows, check=getattr(lzma, f"CHECK_{check}"))
    for lc, lp, pb in [(3, 0, 2), (4, 0, 0), (0, 1, 1), (0, 4, 4), (1, 3, 0), (2, 2, 3)]:
        chain = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "lc": lc, "lp": lp, "pb": pb}]
        streams[f"lc{lc}lp{lp}pb{pb}"] = lzma.compress(rows, check=lzma.CHECK_NONE, filters=chain)
    small = [{"id": lzma.FILTER_LZMA2, "preset": 6, "dict_size": 4096}]  # distances up to 4 KiB only
    streams["dict-4KiB"] = lzma.compress(rows, check=lzma.CHECK_CRC32, filters=small)
    thirds = [rows[: len(rows) // 3], rows[len(rows) // 3 : len(rows) // 2], rows[len(rows) // 2 :]]
    parts = [lzma.compress(part, check=lzma.CHECK_CRC64) for part in thirds]
    streams["three-blocks"] = conformance_generator.xz_join(parts)
    if shutil.which("xz"):  # multi-threaded xz: blocks whose headers hold both sizes
        command = ["xz", "-T2", "--block-size=20000", "--check=crc32", "-c", "-6"]
        streams["xz-T2"] = subprocess.run(command, input=rows, capture_output=True, check=True).stdout
    return streams


def test_kmz_js_decodes_every_kind_of_stream(page: Any, conformance_generator: Any) -> None:
    """Checks None/CRC32/CRC64/SHA-256, lc/lp/pb variants, a small dictionary, uncompressed
    LZMA2 chunks (random rows), several blocks; and wrong-size for rows one byte off."""
    files = []
    for seed, shape in enumerate([(640, 480, 256, PaletteKind.RGB, 8), (333, 257, 20, PaletteKind.RGBA, 5)]):
        base = _written(shape, seed, "none")
        for stream in _streams(_rows(base), conformance_generator).values():
            files.append(_restored(base, stream))
    noise = np.random.default_rng(9).integers(0, 256, (300, 400), dtype=np.uint8)
    random_rows = container.write(np.zeros((256, 3), np.uint8), noise, compression="lzma")
    assert random_rows[11] == Compression.LZMA
    files.append(random_rows)
    base = _written((97, 61, 16, PaletteKind.RGB, 4), 5, "none")
    rows = _rows(base)
    for wrong in (rows[:-1], rows + b"\0", rows * 2, b""):
        files.append(_restored(base, lzma.compress(wrong, check=lzma.CHECK_CRC32)))
    # Rule 9.11 and 9.12 after lzma: K = 5 at 4 bits, 97 wide (4 padding bits per row).
    base = _written((97, 61, 5, PaletteKind.RGB, 4), 6, "none")
    rows = bytearray(_rows(base))
    rows[48] |= 0x01
    files.append(_restored(base, lzma.compress(bytes(rows), check=lzma.CHECK_CRC64)))
    rows[48] &= 0xF0
    rows[100] = 0x57
    files.append(_restored(base, lzma.compress(bytes(rows), check=lzma.CHECK_CRC64)))
    # Matches 5000 bytes back: fine in an 8 KiB dictionary, corrupt-stream in a declared 4 KiB one.
    noise = np.random.default_rng(10).integers(0, 256, (50, 100), dtype=np.uint8)
    base = container.write(np.zeros((256, 3), np.uint8), np.tile(noise, (4, 1)), compression="none")
    far = lzma.compress(_rows(base), check=lzma.CHECK_CRC32)
    for byte in (2, 0):
        files.append(_restored(base, conformance_generator.xz_dictionary(far, byte)))
    # A check field with one bit flipped: every check that kmz.js verifies (SHA-256 too, through
    # crypto.subtle: the test page is a secure context) makes it corrupt-stream.
    for check, size in ((lzma.CHECK_CRC32, 4), (lzma.CHECK_CRC64, 8), (lzma.CHECK_SHA256, 32)):
        stream = bytearray(lzma.compress(_rows(base), check=check))
        check_end = len(stream) - 12 - conformance_generator.index_length(stream)
        stream[check_end - size] ^= 0x10
        files.append(_restored(base, bytes(stream)))
    results = _same_as_kmzcodec(page, files)
    reasons = [result.get("reason") for result in results[-11:]]
    expected = ["wrong-size"] * 4 + ["nonzero-padding", "index-out-of-range", None] + ["corrupt-stream"] * 4
    assert reasons == expected, reasons
    assert all("rgba" in result for result in results[:-11])


def _mutated(data: bytes, rng: random.Random) -> bytes:
    """``data`` with a few stored bytes changed, or cut, and its CRCs made right again; a
    third of them declare a random height too, so that output stops at other places."""
    header = container.parse_header(data[:HEADER_SIZE])
    stored = bytearray(data[header.data_offset : -4])
    for _ in range(rng.choice([1, 1, 1, 2, 3, 8])):
        at = rng.randrange(len(stored))
        if rng.random() < 0.5:
            stored[at] ^= 1 << rng.randrange(8)
        else:
            stored[at] = rng.randrange(256)
    if rng.random() < 0.1:
        stored = stored[: rng.randrange(len(stored))]
    height = rng.randrange(1, header.height + 2) if rng.random() < 1 / 3 else header.height
    return _restored(data, bytes(stored), height=height)


def test_kmz_js_damaged_lzma_streams_give_kmzcodecs_reason(page: Any, conformance_generator: Any) -> None:
    """About 200 damaged streams (bytes changed at random places, CRCs fixed so that the xz
    decoder meets them): kmz.js gives kmzcodec's reason (or its pixels), in bounded time."""
    rng = random.Random(20261202)
    sources = [
        _written((97, 61, 16, PaletteKind.RGB, 4), 1, "lzma"),
        _written((300, 200, 256, PaletteKind.RGBA, 8), 2, "smallest"),
        _written((64, 64, 2, PaletteKind.GREY, 1), 3, "lzma"),
        _written((50, 40, 3000, PaletteKind.RGB, 12), 4, "lzma"),
    ]
    rows = _rows(sources[0])
    sources.append(
        _restored(
            sources[0],
            conformance_generator.xz_join(
                [lzma.compress(part, check=lzma.CHECK_CRC32) for part in (rows[:900], rows[900:])]
            ),
        )
    )
    sources.append(_restored(sources[0], lzma.compress(rows, check=lzma.CHECK_SHA256)))
    assert all(data[11] == Compression.LZMA for data in sources)
    files = [_mutated(sources[i % len(sources)], rng) for i in range(204)]
    files += [_resized_chunk(sources[0], change) for change in (-300, -2, -1, 1, 2, 3, 300)]
    # The header declares fewer or more rows than the stream holds: wrong-size (7.4 steps 2, 5).
    for data in sources:
        header = container.parse_header(data[:HEADER_SIZE])
        for rows in (1, header.height - 1, header.height + 1):
            files.append(dataclasses.replace(header, height=rows).pack() + data[HEADER_SIZE:])
    start = time.monotonic()
    results = _same_as_kmzcodec(page, files)
    assert time.monotonic() - start < 120
    reasons = {result.get("reason") for result in results}
    assert {"corrupt-stream", "wrong-size"} <= reasons, reasons


def _resized_chunk(data: bytes, change: int) -> bytes:
    """``data`` (one block, one LZMA2 chunk) with the chunk's uncompressed size changed."""
    header = container.parse_header(data[:HEADER_SIZE])
    stored = bytearray(data[header.data_offset : -4])
    at = 12 + (stored[12] + 1) * 4  # the first chunk's control byte, after the block header
    assert stored[at] >= 0xE0
    size = ((stored[at] & 0x1F) << 16 | stored[at + 1] << 8 | stored[at + 2]) + change
    stored[at] = stored[at] & 0xE0 | size >> 16
    stored[at + 1 : at + 3] = (size & 0xFFFF).to_bytes(2, "big")
    return _restored(data, bytes(stored))


def test_kmz_js_replays_the_fuzz_decode_inputs(page: Any) -> None:
    """The fuzz decode target's seeds (conformance and encoder files) and kept inputs, at
    its pixel limit: kmzcodec's pixels or reason. The kept input
    xz-bad-match-just-past-the-declared-length pins liblzma's stopping point: with no room
    left it decodes one more LZMA symbol, and that one's invalid distance is corrupt-stream."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))  # "fuzz" is a folder of the repository, not a package
    from fuzz import harnesses, seeds

    inputs = seeds.seed_inputs("decode")
    for kind in ("corpus", "regressions"):
        folder = REPO / "fuzz" / kind / "decode"
        if folder.is_dir():
            inputs |= {f"{kind}/{path.name}": path.read_bytes() for path in sorted(folder.iterdir())}
    kept = "regressions/xz-bad-match-just-past-the-declared-length"
    assert kept in inputs
    names = list(inputs)
    results = _same_as_kmzcodec(page, list(inputs.values()), max_pixels=harnesses.LIMIT)
    assert results[names.index(kept)].get("reason") == "corrupt-stream"
    assert sum(inputs[name][11:12] == bytes([Compression.LZMA]) for name in names) >= 30
