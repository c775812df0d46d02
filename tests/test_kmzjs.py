"""kmzcodec/web/kmz.js in a real headless Chromium, against the conformance suite and kmzcodec.

The browser is the system's Chromium (Debian's `chromium` package; .ci/run installs it),
driven by Playwright; files are served from a local http.server, since ES modules do not
load from file:// URLs. Each batch of files is decoded in one `page.evaluate`.
"""

from __future__ import annotations

import base64
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import kmzcodec
from kmzcodec import container
from kmzcodec.format import HEADER_SIZE, Compression, PaletteKind
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


def expected_js_reason(case: dict[str, Any], data: bytes) -> str | None:
    """The reason kmz.js must give: the listed one, or for lzma files that pass 9.1-9.9 the 7.5 one."""
    if passes_rules_1_to_9(data) and data[11] == Compression.LZMA:
        return "unsupported-compression"
    return None if case["valid"] else case["reason"]


def test_kmz_js_on_every_conformance_vector(page: Any, conformance_table: list[dict[str, Any]]) -> None:
    cases = conformance_table
    results = decode_in_browser(page, [{"url": f"/spec/conformance/{case['file']}"} for case in cases])
    assert len(results) == len(cases)
    checked = {"pixels": 0, "reasons": 0, "unsupported": 0}
    for case, result in zip(cases, results, strict=True):
        data = (CONFORMANCE / case["file"]).read_bytes()
        reason = expected_js_reason(case, data)
        if reason is None:
            assert "rgba" in result, (case["file"], result)
            header = case["header"]
            assert (result["width"], result["height"]) == (header["width"], header["height"]), case["file"]
            assert base64.b64decode(result["rgba"]) == rgba(data), case["file"]
            checked["pixels"] += 1
        else:
            assert result.get("name") == "KmzError", (case["file"], result)
            assert result["reason"] == reason, (case["file"], result["message"])
            checked["unsupported" if reason == "unsupported-compression" else "reasons"] += 1
    assert checked["pixels"] >= 50 and checked["reasons"] >= 100 and checked["unsupported"] >= 20, checked


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
    # Over the default 2^28: refused by default, and with no limit it gets as far as lzma (7.5).
    big = {"url": "/spec/conformance/invalid/pixels-over-limit.kmz"}
    (default,) = decode_in_browser(page, [big])
    (no_limit,) = decode_in_browser(page, [big], maxPixels=None)
    assert default.get("reason") == "too-many-pixels"
    assert no_limit.get("reason") == "unsupported-compression"


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
