"""libdeflate in pieces joined into one zlib stream (kmzcodec.deflate)."""

from __future__ import annotations

import itertools
import zlib

import deflate as libdeflate
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kmzcodec import deflate

PIECE = 1 << 16


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces of 64 KiB, so that a few hundred KiB make several."""
    monkeypatch.setattr(deflate, "LIBDEFLATE_PIECE", PIECE)


def _inputs() -> dict[str, bytes]:
    rng = np.random.default_rng(5)
    size = 5 * PIECE + 12_345
    return {
        "random": rng.integers(0, 256, size, dtype=np.uint8).tobytes(),  # stored blocks
        "indices": rng.integers(0, 16, size, dtype=np.uint8).tobytes(),
        "runs": np.repeat(rng.integers(0, 200, size // 40 + 1, dtype=np.uint8), 40)[:size].tobytes(),
        "zeros": bytes(size),
    }


def _one_stream(stream: bytes, data: bytes) -> None:
    engine = zlib.decompressobj()
    assert engine.decompress(stream) == data
    assert engine.eof and not engine.unused_data


@pytest.mark.usefixtures("small_pieces")
@pytest.mark.parametrize("level", [1, 6, 9, 12])
@pytest.mark.parametrize("kind", ["random", "indices", "runs", "zeros"])
def test_pieces_join_into_one_stream_whatever_the_threads(kind: str, level: int) -> None:
    data = _inputs()[kind]
    assert len(deflate.libdeflate_cuts(len(data))) - 1 == deflate.LIBDEFLATE_PIECES  # several pieces
    one = deflate.libdeflate_compress(data, level, workers=1)
    assert one == deflate.libdeflate_compress(data, level, workers=2)
    _one_stream(one, data)
    # Each cut costs little: within 1 % of one libdeflate call, plus a few hundred bytes per
    # cut (the next piece starts without the window before it, and with new code tables).
    assert len(one) <= len(libdeflate.zlib_compress(data, level)) * 1.01 + 400 * deflate.LIBDEFLATE_PIECES


@pytest.mark.usefixtures("small_pieces")
@pytest.mark.parametrize("level", [6, 9])
@pytest.mark.parametrize("kind", ["random", "indices", "runs", "zeros"])
@pytest.mark.parametrize("split", [1, PIECE // 3, 2 * PIECE + 7])
def test_a_stream_continued_is_one_stream_of_both_parts(kind: str, level: int, split: int) -> None:
    # The head made as the writer's trial makes it (one piece, or several already joined),
    # continued by the rest (one piece, or several: 64 KiB pieces here).
    data = _inputs()[kind]
    head = deflate.libdeflate_compress(data[:split], level)
    joined = deflate.libdeflate_continue(head, data[split:], level, workers=1)
    assert joined is not None
    assert joined == deflate.libdeflate_continue(head, data[split:], level, workers=2)
    _one_stream(joined, data)
    assert joined[:2] == head[:2]  # the head's own zlib header
    whole = libdeflate.zlib_compress(data, level)
    assert len(joined) <= len(whole) * 1.01 + 400 * (1 + deflate.LIBDEFLATE_PIECES)


def test_one_piece_is_libdeflates_own_stream() -> None:
    data = _inputs()["indices"][: deflate.LIBDEFLATE_PIECE]
    assert deflate.libdeflate_compress(data, 9) == libdeflate.zlib_compress(data, 9)


@given(st.integers(0, 64 << 20))
def test_cuts_depend_on_the_length_only(length: int) -> None:
    cuts = deflate.libdeflate_cuts(length)
    assert cuts[0] == 0 and cuts[-1] == length and cuts == sorted(cuts)
    pieces = len(cuts) - 1
    assert 1 <= pieces <= deflate.LIBDEFLATE_PIECES
    if pieces > 1:
        assert min(b - a for a, b in itertools.pairwise(cuts)) >= deflate.LIBDEFLATE_PIECE


def _walk(stream: bytes) -> tuple[int, int]:
    deflate.compile_in_place(vars(deflate), deflate._KERNELS, deflate._COMPILED)
    return deflate._last_block(np.frombuffer(stream + bytes(deflate._PAD), dtype=np.uint8), len(stream))


def test_the_walk_finds_zlibs_final_block() -> None:
    # zlib's own raw stream: flushed blocks, then a final one; the walk ends at its end.
    data = _inputs()["runs"][:50_000]
    engine = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = engine.compress(data[:20_000]) + engine.flush(zlib.Z_FULL_FLUSH)
    before = len(stream)
    stream += engine.compress(data[20_000:]) + engine.flush()
    start, end = _walk(stream)
    assert before * 8 <= start < end and (end + 7) // 8 == len(stream)
    assert stream[start >> 3] >> (start & 7) & 1  # the BFINAL flag


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_the_walk_of_arbitrary_bytes_ends(garbage: bytes) -> None:
    # Never a crash or a hang, whatever it is given: a block found, or (-1, -1).
    start, end = _walk(garbage)
    assert (start, end) == (-1, -1) or 0 <= start < end <= len(garbage) * 8


def test_a_truncated_stream_is_not_walked() -> None:
    stream = bytes(libdeflate.deflate_compress(_inputs()["indices"][:30_000], 6))
    assert _walk(stream[: len(stream) // 2]) == (-1, -1)
