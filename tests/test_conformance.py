"""Replay spec/conformance through kmzcodec.decode, and check the suite itself.

Valid vectors must decode to exactly the expected pixels and header values;
invalid ones must raise KmzError with exactly the reason the table gives.
"""

from __future__ import annotations

import json
import lzma
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kmzcodec
from kmzcodec import container
from kmzcodec.format import DEFAULT_MAX_PIXELS

REPO = Path(__file__).resolve().parents[1]
CONFORMANCE = REPO / "spec" / "conformance"

MODES = {1: "L", 3: "RGB", 4: "RGBA"}
INFO_KEYS = (
    "colors", "bits_per_index", "compression", "palette_kind", "method", "colorspace", "dither", "filter",
)  # fmt: skip


def test_vector(conformance_case: dict[str, Any], conformance_dir: Path) -> None:
    data = (conformance_dir / conformance_case["file"]).read_bytes()
    if not conformance_case["valid"]:
        with pytest.raises(kmzcodec.KmzError) as caught:
            kmzcodec.decode(data)
        assert caught.value.reason == conformance_case["reason"], str(caught.value)
        return
    header = conformance_case["header"]
    expected = np.load(conformance_dir / conformance_case["expected"])
    image = kmzcodec.decode(data)
    assert image.size == (header["width"], header["height"])
    assert image.mode == ("P" if header["colors"] <= 256 else MODES[expected.shape[2]])
    pixels = np.asarray(image.convert(MODES[expected.shape[2]])).reshape(expected.shape)
    np.testing.assert_array_equal(pixels, expected)
    assert {key: image.info[key] for key in INFO_KEYS} == {key: header[key] for key in INFO_KEYS}


def test_generator_reproduces_committed_files(
    tmp_path: Path, conformance_table: list[dict[str, Any]], conformance_generator: Any
) -> None:
    """The committed vectors are exactly what the recipes make (byte for byte).

    zlib and liblzma builds may compress differently; files holding their output
    are only compared when this machine's compressors match the ones recorded.
    """
    generator = conformance_generator
    generator.generate(tmp_path)
    committed = {
        p.relative_to(CONFORMANCE) for p in CONFORMANCE.rglob("*") if p.is_file() and p.suffix != ".py"
    }
    committed = {p for p in committed if "__pycache__" not in p.parts}
    made = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()}
    assert made == committed
    recorded = json.loads((CONFORMANCE / "cases.json").read_text(encoding="utf-8"))["compressors"]
    same = {name for name, print_ in generator.fingerprint().items() if recorded[name] == print_}
    uses = {Path(case["file"]): set(case["uses"]) for case in conformance_table}
    skipped = []
    for relative in sorted(committed):
        if relative.name in ("cases.json", "README.md") and len(same) < 2:
            skipped.append(str(relative))  # they record the compressed lengths
            continue
        if not uses.get(relative, set()) <= same:
            skipped.append(str(relative))
            continue
        assert (tmp_path / relative).read_bytes() == (CONFORMANCE / relative).read_bytes(), relative
    if skipped:
        pytest.skip(
            f"this zlib/liblzma compresses differently; {len(skipped)} files not compared byte for byte"
        )


def test_suite_is_small() -> None:
    total = sum(p.stat().st_size for p in CONFORMANCE.rglob("*") if p.is_file())
    assert total < 2_000_000


def test_every_valid_vector_has_expected_pixels(conformance_table: list[dict[str, Any]]) -> None:
    for case in conformance_table:
        if case["valid"]:
            assert (CONFORMANCE / case["expected"]).is_file(), case["file"]


def test_valid_vectors_cover_the_format(conformance_table: list[dict[str, Any]]) -> None:
    headers = [case["header"] for case in conformance_table if case["valid"]]
    assert {h["bits_per_index"] for h in headers} == set(range(1, 17))
    assert {1, 2, 3, 255, 256, 257, 65536} <= {h["colors"] for h in headers}
    assert {h["palette_kind"] for h in headers} == {"grey", "rgb", "rgba"}
    assert {h["compression"] for h in headers} == {"none", "zlib", "lzma"}
    assert {h["method"] for h in headers} == {"unspecified", "kmeans", "gmm", "exact", "given"}
    assert {h["colorspace"] for h in headers} == {"unspecified", "rgb", "oklab", "lab", "hsv"}
    assert {h["dither"] for h in headers} == {False, True}
    assert {h["filter"] for h in headers} == {"none", "sub", "up", "gradient", "paeth"}
    # Every filter at every compression and kind, and at widths below, at and above 8 bits.
    filtered = [h for h in headers if h["filter"] != "none"]
    assert {h["compression"] for h in filtered} == {"none", "zlib", "lzma"}
    assert {h["palette_kind"] for h in filtered} == {"grey", "rgb", "rgba"}
    for name in ("sub", "up", "gradient", "paeth"):
        assert {1, 2, 3, 4, 8, 12, 16} <= {h["bits_per_index"] for h in filtered if h["filter"] == name}
    # Wider packings than the minimum, and every width from 1 to 9 pixels.
    assert any(h["bits_per_index"] > max(1, (h["colors"] - 1).bit_length()) for h in headers)
    assert set(range(1, 10)) <= {h["width"] for h in headers}
    assert any(h["width"] == 1 and h["height"] == 1 for h in headers)


#: Each malformed class of ../shared/design.md and a vector for it.
MALFORMED_CLASSES = {
    "empty file": ["empty"],
    "short header": ["short-header-39", "short-magic-8"],
    "any magic byte changed": [f"magic-byte{i}" for i in range(8)],
    "unknown version": ["version-0", "version-2"],
    "width or height 0": ["width-0", "height-0"],
    "width or height above the maximum": ["width-over-max", "height-over-max"],
    "pixel count over the limit": ["pixels-over-limit"],
    "K = 0 or too large": ["colors-0", "colors-65537"],
    "bits per index inconsistent with K": ["bits-too-few", "bits-0", "bits-17", "bits-8-for-k257"],
    "truncated palette": ["cut-in-palette"],
    "truncated data": ["cut-in-data", "no-trailer"],
    "index >= K": ["index-k3-2bit", "index-k5-8bit", "index-k3-12bit"],
    "non-zero padding": ["padding-2bit", "padding-12bit"],
    "unknown compression": ["compression-3"],
    "corrupt compressed stream": ["zlib-bad-block", "xz-bad-check"],
    "truncated compressed stream": ["zlib-cut-half", "xz-cut-half"],
    "over-long compressed stream": ["zlib-extra-byte", "xz-extra-byte"],
    "decompressed size wrong": [
        "zlib-too-short",
        "zlib-too-long",
        "xz-too-short",
        "xz-too-long",
        "none-length-short",
    ],
    "trailing garbage": ["trailing-byte"],
    "CRC mismatch": ["header-crc-flipped", "data-crc-flipped"],
    "non-zero reserved fields": ["flags-bit1", "flags-bit7"],
    "unknown row filter": ["filter-5", "filter-255"],
    "filtered index >= K": ["filter-sub-index-5", "filter-paeth-index-3"],
}


def test_every_malformed_class_has_a_vector(conformance_table: list[dict[str, Any]]) -> None:
    invalid = {Path(case["file"]).stem for case in conformance_table if not case["valid"]}
    for what, names in MALFORMED_CLASSES.items():
        assert set(names) <= invalid, what


def _spec_reasons() -> set[str]:
    """Reason tokens in the spec's table of decoder checks (spec 9)."""
    text = (REPO / "spec" / "kmz-format.md").read_text(encoding="utf-8")
    section = text.split("## 9.", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\|[^|]*\|\s*`([a-z-]+)`", section, flags=re.MULTILINE))


#: Reasons only a decoder that leaves something out gives (spec 7.5): no vector expects them.
OPTIONAL_REASONS = {"unsupported-compression"}


def test_every_reason_in_the_spec_has_a_vector(conformance_table: list[dict[str, Any]]) -> None:
    reasons = _spec_reasons()
    assert len(reasons) >= 20
    assert reasons >= OPTIONAL_REASONS
    covered = {case["reason"] for case in conformance_table if case["group"] in ("invalid", "limit")}
    assert reasons - OPTIONAL_REASONS == covered


def _stored(data: bytes) -> bytes:
    header = container.parse_header(data[:40], max_pixels=None)
    return data[header.data_offset : header.file_length - 4]


#: Vectors that break a rule of spec 7.3 liblzma by itself does not enforce: it decodes them.
LIBLZMA_ACCEPTS = [
    "xz-check-id-2",
    "xz-check-id-15",
    "xz-filter-delta",
    "xz-filter-x86",
    "xz-second-block-delta",
    "xz-dictionary-96mib",
    "xz-dictionary-128mib",
]


@pytest.mark.parametrize("name", LIBLZMA_ACCEPTS)
def test_xz_rule_vectors_are_otherwise_sound(conformance_dir: Path, name: str) -> None:
    """Each decodes to exactly its rows with liblzma alone: only the spec's rule rejects it."""
    data = (conformance_dir / "invalid" / f"{name}.kmz").read_bytes()
    header = container.parse_header(data[:40])
    engine = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    rows = engine.decompress(_stored(data))
    assert engine.eof and not engine.unused_data and len(rows) == header.raw_length
    container.indices(header, rows)  # padding and index range are fine too
    with pytest.raises(kmzcodec.KmzError) as caught:
        kmzcodec.decode(data)
    assert caught.value.reason == "corrupt-stream"


def test_xz_vectors_hold_what_their_names_say(conformance_dir: Path) -> None:
    def stored(name: str) -> bytes:
        return _stored((conformance_dir / name).read_bytes())

    assert stored("invalid/xz-check-id-2.kmz")[7] == 0x02
    assert stored("invalid/xz-check-id-15.kmz")[7] == 0x0F
    for name, byte in [("valid/xz-dictionary-64mib", 28), ("invalid/xz-dictionary-96mib", 29)]:
        block = stored(f"{name}.kmz")[12:]
        assert block[1:4] == b"\x00\x21\x01" and block[4] == byte  # one filter, LZMA2, 1 property byte
    delta = stored("invalid/xz-filter-delta.kmz")[12:]
    assert delta[1] & 0x03 == 1 and delta[2] == 0x03  # two filters, the first Delta
    # Two index records: the index sits before the 12-byte footer, Backward Size says how long.
    two = stored("valid/xz-two-blocks.kmz")
    index = two[len(two) - 12 - (int.from_bytes(two[-8:-4], "little") + 1) * 4 :]
    assert index[0] == 0 and index[1] == 2
    second = stored("invalid/xz-second-block-delta.kmz")
    assert second[12 + 1] & 0x03 == 0  # the first block is plain LZMA2: the defect is in the second


def test_conformance_readme_explains_cases_json(
    conformance_table: list[dict[str, Any]], conformance_generator: Any
) -> None:
    """Every key of cases.json and every header code name is documented in the suite's README."""
    readme = (CONFORMANCE / "README.md").read_text(encoding="utf-8")
    document = json.loads((CONFORMANCE / "cases.json").read_text(encoding="utf-8"))
    keys = set(document) | {key for case in conformance_table for key in case}
    section = readme.split("## cases.json", 1)[1].split("\n## ", 1)[0]
    for key in keys - {"spec", "format_version", "generator", "cases"}:
        assert f"`{key}`" in section, key
    generator = conformance_generator
    for labels in (generator.METHOD_LABELS, generator.COLORSPACE_LABELS, generator.FILTER_LABELS):
        for code, label in enumerate(labels):
            assert f"{code}: `{label}`" in section, label


def test_limit_vectors_are_otherwise_valid(conformance_dir: Path) -> None:
    """pixels-over-limit is a correct file: without the limit its rows decompress and check out."""
    data = (conformance_dir / "invalid" / "pixels-over-limit.kmz").read_bytes()
    header = container.parse_header(data[:40], max_pixels=None)
    assert header.width * header.height > DEFAULT_MAX_PIXELS
    payload = container.read(data, max_pixels=None)
    assert len(payload.rows) == header.raw_length
    assert not any(payload.rows)
    # The dictionary vectors: see test_xz_rule_vectors_are_otherwise_sound.


def test_spec_hex_dump_is_what_kmzcodec_writes() -> None:
    """Section 12's example: the dump matches kmzcodec's output byte for byte and decodes back."""
    text = (REPO / "spec" / "kmz-format.md").read_text(encoding="utf-8")
    example = text.split("## 12.", 1)[1].split("\n## ", 1)[0]
    dump = bytes.fromhex(
        "".join(line[10:58] for line in example.splitlines() if re.match(r"^[0-9a-f]{8}  ", line))
    )
    red, navy, white = (255, 0, 0), (0, 0, 128), (255, 255, 255)
    pixels = np.array([[red, red, white, navy, navy], [white, navy, navy, red, white]], dtype=np.uint8)
    assert kmzcodec.encode(pixels, colors=3, compression="none") == dump
    assert len(dump) == 57
    np.testing.assert_array_equal(np.asarray(kmzcodec.decode(dump).convert("RGB")), pixels)
    # With zlib only the stored data changes; its length is the compressor's, not the format's.
    zipped = kmzcodec.encode(pixels, colors=3)
    assert zipped[40:49] == dump[40:49] and zipped[11] == 1
    assert int.from_bytes(zipped[24:32], "little") == len(zipped) - 53
    np.testing.assert_array_equal(np.asarray(kmzcodec.decode(zipped).convert("RGB")), pixels)
