"""Replay the fuzz corpus through the harness functions (no atheris needed), and check
that the harnesses would notice the bugs they are there to find.

Inputs: the seeds fuzz/seeds.py derives from spec/conformance, plus every file kept in
fuzz/corpus/TARGET/ and fuzz/regressions/TARGET/ (inputs that once found a bug). The
decoding targets are cheap, so they replay every input; round trips cost an encode or
two each, so they replay their own seeds and kept inputs.
"""

from __future__ import annotations

import io
import re
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kmzcodec
from kmzcodec import bitpack, container, plugin
from kmzcodec.format import HEADER_SIZE, Filter

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # "fuzz" is a folder of the repository, not an installed package

from fuzz import harnesses, reference, seeds  # noqa: E402

FUZZ = REPO / "fuzz"
CONFORMANCE = REPO / "spec" / "conformance"


def _kept(target: str) -> dict[str, bytes]:
    found = {}
    for kind in ("corpus", "regressions"):
        folder = FUZZ / kind / target
        if folder.is_dir():
            found.update(
                {f"{kind}/{target}/{p.name}": p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
            )
    return found


def _replay_inputs() -> list[tuple[str, str, bytes]]:
    decoding = seeds.seed_inputs("decode") | seeds.roundtrip_seeds()
    for target in harnesses.TARGETS:
        decoding |= _kept(target)
    cases = [(target, name, data) for target in ("decode", "pillow") for name, data in decoding.items()]
    own = seeds.roundtrip_seeds() | _kept("roundtrip")
    cases += [("roundtrip", name, data) for name, data in own.items()]
    return cases


REPLAY = _replay_inputs()


@pytest.mark.parametrize(("target", "name", "data"), REPLAY, ids=[f"{t}:{n}" for t, n, _ in REPLAY])
def test_replay(target: str, name: str, data: bytes) -> None:
    harnesses.TARGETS[target](data)


def test_the_corpus_covers_every_reason_and_target() -> None:
    """The seeds reach every rejection reason of the spec and valid files of every kind."""
    outcomes = [reference.read(data, harnesses.LIMIT) for data in seeds.seed_inputs("decode").values()]
    reasons = set().union(*(outcome.reasons for outcome in outcomes))
    assert reasons == reference.REASONS
    assert {o.entry_size for o in outcomes if o.valid} == {1, 3, 4}
    assert {o.colors > 256 for o in outcomes if o.valid} == {False, True}
    assert len(seeds.roundtrip_seeds()) >= 20


def test_reference_agrees_with_the_conformance_suite(conformance_case: dict[str, object]) -> None:
    """The fuzzers' oracle reads every conformance vector as the suite says."""
    data = (CONFORMANCE / str(conformance_case["file"])).read_bytes()
    outcome = reference.read(data, kmzcodec.DEFAULT_MAX_PIXELS)
    if conformance_case["valid"]:
        assert outcome.valid
        np.testing.assert_array_equal(
            outcome.pixels, np.load(CONFORMANCE / str(conformance_case["expected"]))
        )
    else:
        assert outcome.reasons == {conformance_case["reason"]}


# --------------------------------------------------------------------------- the harnesses notice bugs


def _vector(name: str) -> bytes:
    return (CONFORMANCE / name).read_bytes()


def test_repair_lets_mutations_past_the_crcs() -> None:
    data = bytearray(_vector("valid/k3-2bit-rgb.kmz"))
    data[40] ^= 0xFF  # a palette byte: only the trailer notices
    assert reference.read(bytes(data), None).reasons == {"data-crc"}
    repaired = harnesses.repair(bytes(data))
    assert reference.read(repaired, None).valid
    data[12] += 1  # width: the header CRC and the data length no longer fit
    assert reference.read(harnesses.repair(bytes(data)), None).reasons != {"header-crc"}


def test_decode_harness_catches_a_missing_padding_check(monkeypatch: pytest.MonkeyPatch) -> None:
    harnesses.decode_target(_vector("invalid/padding-1bit.kmz"))
    monkeypatch.setattr(bitpack, "check_padding", lambda *args: None)
    with pytest.raises(harnesses.Finding, match="accepted a file the spec rejects with nonzero-padding"):
        harnesses.decode_target(_vector("invalid/padding-1bit.kmz"))


def test_decode_harness_catches_a_wrong_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(container, "check_crc", lambda *args: None)
    with pytest.raises(harnesses.Finding, match="spec says data-crc"):
        harnesses.decode_target(_vector("invalid/order-crc-before-stream.kmz"))


def test_decode_harness_catches_wrong_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    real = Image.Image.putpalette

    def shifted(self: Image.Image, data: bytes, rawmode: str = "RGB") -> None:
        real(self, bytes(data)[1:] + b"\0", rawmode)

    monkeypatch.setattr(Image.Image, "putpalette", shifted)
    with pytest.raises(harnesses.Finding, match="pixels differ"):
        harnesses.decode_target(_vector("valid/k3-2bit-rgb.kmz"))


def test_pillow_harness_lets_unconventional_errors_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: object, buffer: object) -> None:
        raise IndexError("a bug in the decoder")

    monkeypatch.setattr(plugin.KmzDecoder, "decode", broken)
    with pytest.raises(IndexError):
        harnesses.pillow_target(_vector("valid/k3-2bit-rgb.kmz"))


def test_pillow_harness_lets_errors_out_of_open_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    def buggy(prefix: bytes, max_pixels: int | None = None) -> None:
        raise ValueError("a bug while reading the header")

    monkeypatch.setattr(plugin.container, "parse_header", buggy)
    with pytest.raises(ValueError, match="a bug"):  # out of Image.open it would block other plugins
        harnesses.pillow_load(_vector("valid/k3-2bit-rgb.kmz"))


def test_pillow_harness_catches_disagreement_with_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugin, "_check_data_length", lambda *args, **kwargs: None)
    data = _vector("valid/k3-2bit-rgb.kmz") + b"\0"  # trailing byte: decode() says trailing-bytes
    with pytest.raises(
        harnesses.Finding, match="Pillow loaded a file decode.. rejects with 'trailing-bytes'"
    ):
        harnesses.check_pillow(data, truncated=False)


def test_pillow_harness_checks_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytearray(_vector("valid/k3-2bit-rgb.kmz"))
    data[-1] ^= 1
    monkeypatch.setattr(plugin.KmzImageFile, "_verify_stream", lambda self, fp: None)
    with pytest.raises(harnesses.Finding, match="verify"):
        harnesses.check_pillow(bytes(data), truncated=False)


def test_recovery_check_loads_every_cut() -> None:
    data = kmzcodec.encode(np.arange(96, dtype=np.uint8).reshape(8, 12), 12, compression="zlib")
    for cut in range(harnesses.reference.read(data, None).data_offset, len(data)):
        got = harnesses.pillow_load(data[:cut], truncated=True)
        assert got.image is not None and got.image.size == (12, 8), cut


def test_case_bytes_round_trip_through_parse_case() -> None:
    pixels = bytes(range(5 * 3 * 3))
    case = harnesses.parse_case(harnesses.case_bytes(5, 3, "RGB", 300, pixels, flags=0b10100, seed=9))
    assert case.size == (5, 3) and case.colors == 300
    expected = {"method": "kmeans", "colorspace": "lab", "dither": False, "compression": "none", "seed": 9}
    assert case.options == expected
    assert isinstance(case.image, Image.Image) and case.image.tobytes() == pixels


@pytest.mark.parametrize("data", [b"", b"\xff" * 3, bytes(range(256)) * 4])
def test_parse_case_takes_any_bytes(data: bytes) -> None:
    case = harnesses.parse_case(data)
    width, height = case.size
    assert 1 <= width <= 32 and 1 <= height <= 32


def test_roundtrip_harness_catches_nondeterminism(monkeypatch: pytest.MonkeyPatch) -> None:
    real, calls = kmzcodec.encode, []

    def drifting(*args: object, **kwargs: object) -> bytes:
        calls.append(1)
        data = bytearray(real(*args, **kwargs))  # type: ignore[arg-type]
        data[33] = len(calls) % 4  # the informational colour space byte
        data[36:40] = zlib.crc32(data[:36]).to_bytes(4, "little")
        return bytes(data)

    monkeypatch.setattr(kmzcodec, "encode", drifting)
    pixels = np.zeros((3, 4, 3), dtype=np.uint8).tobytes()
    with pytest.raises(harnesses.Finding, match="different bytes"):
        harnesses.roundtrip_target(harnesses.case_bytes(4, 3, "RGB", 2, pixels))


def test_roundtrip_harness_catches_too_many_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    real = kmzcodec.encode
    monkeypatch.setattr(kmzcodec, "encode", lambda image, colors, **options: real(image, 256, **options))
    noise = np.random.default_rng(1).integers(0, 256, (6, 6, 3), dtype=np.uint8).tobytes()
    with pytest.raises(harnesses.Finding, match="K = 4 asked"):
        harnesses.roundtrip_target(harnesses.case_bytes(6, 6, "RGB", 4, noise))


# --------------------------------------------------------------------------- findings, as named tests


def test_finding_1_premultiplied_la_images_encode() -> None:
    """roundtrip fuzzer, first run: ``encode`` of an "La" image (premultiplied grey +
    alpha) raised Pillow's ValueError "conversion from La to L not supported", through
    ``img.save`` too. Fixed in kmzcodec/pixels.py: La goes to LA first, then RGBA.
    Input kept as fuzz/regressions/roundtrip/la-premultiplied-mode."""
    image = Image.frombytes("La", (4, 3), bytes(range(0, 240, 10)))
    expected = np.asarray(image.convert("LA"))
    decoded = np.asarray(kmzcodec.decode(kmzcodec.encode(image, 16)).convert("RGBA"))
    np.testing.assert_array_equal(decoded[:, :, 0], expected[:, :, 0])
    np.testing.assert_array_equal(decoded[:, :, 3], expected[:, :, 1])
    buffer = io.BytesIO()
    image.save(buffer, format="KMZ", colors=4)
    assert kmzcodec.decode(buffer.getvalue()).size == (4, 3)


def test_finding_2_transparency_index_on_an_rgba_palette_is_kept() -> None:
    """roundtrip fuzzer, second run: a "P" image with an RGBA palette *and*
    ``info["transparency"]`` was stored with its palette alphas, while Pillow (and so
    every viewer) shows the transparency index as fully transparent. Fixed in
    kmzcodec/encoder.py: such images are expanded by Pillow and stored exactly.
    Inputs kept as fuzz/regressions/roundtrip/p-rgba-palette-and-transparency*."""
    image = Image.new("P", (4, 1))
    image.putpalette(bytes([10, 20, 30, 200, 40, 50, 60, 100, 1, 2, 3, 255, 9, 9, 9, 9]), "RGBA")
    image.putdata([0, 1, 2, 3])
    for transparency in (1, b"\x00\x80"):
        image.info["transparency"] = transparency
        shown = harnesses.canonical_rgba(np.asarray(image.convert("RGBA")))  # invisible: (0, 0, 0, 0)
        stored = np.asarray(kmzcodec.decode(kmzcodec.encode(image, 16)).convert("RGBA"))
        np.testing.assert_array_equal(stored, shown)


def test_every_module_numba_compiles_is_left_out_of_atheris_instrumentation() -> None:
    """numba cannot compile instrumented bytecode: each module that uses it must be excluded."""
    from fuzz.entry import COMPILED_MODULES

    package = Path(kmzcodec.__file__).parent
    using = {
        "kmzcodec." + ".".join(path.relative_to(package).with_suffix("").parts)
        for path in package.rglob("*.py")
        # numba itself, or kmzcodec.jit's compile-at-first-call helpers
        if re.search(
            r"^\s*(from numba import|import numba|from \.jit import)", path.read_text(encoding="utf-8"), re.M
        )
    }
    assert using == set(COMPILED_MODULES)


def test_recovery_may_fail_only_where_d7_makes_an_index_out_of_range() -> None:
    """Spec D7 with a gradient filter: a row cut in its middle continues, with zero residuals,
    from the wrong level, here to index 3 of a K = 3 palette (rule 9.12 still applies); with
    the sub filter the same cut repeats the last index that came through and loads."""
    palette = np.array([[0, 0, 0], [128, 128, 128], [255, 255, 255]], dtype=np.uint8)
    indices = np.array([[0, 0, 0, 0, 1, 1, 1, 1], [2] * 8, [2] * 8], dtype=np.uint8)
    for row_filter, fails in ((Filter.GRADIENT, True), (Filter.SUB, False)):
        data = container.write(palette, indices, compression="none", row_filter=row_filter)
        cut = HEADER_SIZE + palette.size + 3  # row 0 (2 bytes) and the first half of row 1
        got = harnesses.pillow_load(data[:cut], truncated=True)
        assert harnesses._recovery_out_of_range(data, cut) is fails
        assert (got.image is None) is fails
        if fails:
            assert "index is >=" in str(got.error)
        else:
            assert np.asarray(got.image)[1].tolist() == [2] * 8
