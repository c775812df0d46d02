"""lzma streams of several blocks: what smallest writes, decoding them on threads, and the
reasons given for damaged ones (the same as decoding the stream in order)."""

from __future__ import annotations

import dataclasses
import lzma
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kmzcodec
from kmzcodec import container, smallest, threads, xzblocks, xzscan
from kmzcodec.format import HEADER_SIZE, TRAILER_SIZE, Compression, Filter, Method, PaletteKind

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fuzz import reference  # noqa: E402


def _stored(data: bytes) -> bytes:
    header = container.parse_header(data[:HEADER_SIZE])
    return data[header.data_offset : header.file_length - TRAILER_SIZE]


def _restored(data: bytes, stored: bytes) -> bytes:
    """``data`` (a valid file) with other lzma stored data: CRCs made right."""
    header = container.parse_header(data[:HEADER_SIZE])
    palette = data[HEADER_SIZE : header.data_offset]
    header = dataclasses.replace(header, compression=Compression.LZMA, data_length=len(stored))
    return header.pack() + palette + stored + container.data_crc(palette, stored).to_bytes(4, "little")


def _indices(height: int, width: int, colors: int, seed: int) -> np.ndarray:
    """Noisy but compressible indices: runs of random length and value."""
    rng = np.random.default_rng(seed)
    values = rng.integers(0, colors, height * width // 3 + 1)
    return np.repeat(values, 3)[: height * width].reshape(height, width).astype(np.uint8)


@pytest.fixture
def two_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decode as on a machine of two CPUs, whatever this one has."""
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the blocks decoded in runs of their own (the threaded path)."""
    calls: list[int] = []
    original = xzblocks._decode_run

    def decode_run(stored: Any, run: list[xzscan.Block]) -> bytes | None:
        calls.extend(block.start for block in run)
        return original(stored, run)

    monkeypatch.setattr(xzblocks, "_decode_run", decode_run)
    return calls


def _three_blocks(rows: bytes, row_length: int, check: int = lzma.CHECK_NONE) -> bytes:
    height = len(rows) // row_length
    cuts = [0, height // 4 * row_length, height * 2 // 3 * row_length, len(rows)]
    chain = [{"id": lzma.FILTER_LZMA2, "preset": 6, "dict_size": 1 << 16}]
    if check == lzma.CHECK_NONE:
        return xzblocks.compress(rows, cuts, chain)
    streams = [
        lzma.compress(rows[a:b], check=check, filters=chain) for a, b in zip(cuts, cuts[1:], strict=False)
    ]
    blocks = [xzscan.check(stream)[0] for stream in streams]
    body = b"".join(stream[block.start : block.end] for stream, block in zip(streams, blocks, strict=True))
    return (
        streams[0][:12]
        + body
        + xzblocks._tail([(block.unpadded, block.uncompressed) for block in blocks], streams[0][6:8])
    )


@pytest.fixture
def plain() -> bytes:
    """A K = 200 file, 8 bits, 300 x 120, stored without compression."""
    palette = np.random.default_rng(1).integers(0, 256, (200, 3), dtype=np.uint8)
    return container.write(palette, _indices(120, 300, 200, 2), compression="none")


def test_compress_writes_one_block_per_piece_and_every_reader_decodes_it(
    plain: bytes, two_cpus: None, counted: list[int]
) -> None:
    rows = _stored(plain)
    stream = _three_blocks(rows, 300)
    blocks = xzscan.check(stream)
    assert [block.uncompressed for block in blocks] == [30 * 300, 50 * 300, 40 * 300]
    assert lzma.decompress(stream) == rows  # liblzma reads it as one stream
    data = _restored(plain, stream)
    expected = np.asarray(kmzcodec.decode(plain))
    assert np.array_equal(np.asarray(kmzcodec.decode(data)), expected)
    assert len(counted) == 3  # the blocks were decoded on threads
    outcome = reference.read(data, None)
    assert outcome.valid
    assert outcome.pixels is not None
    assert np.array_equal(outcome.pixels, np.asarray(kmzcodec.decode(plain).convert("RGB")))


@pytest.mark.parametrize("check", [lzma.CHECK_NONE, lzma.CHECK_CRC32, lzma.CHECK_CRC64, lzma.CHECK_SHA256])
def test_checks_are_verified_on_the_threaded_path(plain: bytes, two_cpus: None, check: int) -> None:
    rows = _stored(plain)
    stream = _three_blocks(rows, 300, check)
    assert xzblocks.decompress(stream, xzscan.check(stream), len(rows)) == rows
    if check == lzma.CHECK_NONE:
        return
    second = xzscan.check(stream)[1]
    damaged = bytearray(stream)
    damaged[second.start + second.unpadded - 1] ^= 0x01  # the last byte of its check
    assert xzblocks.decompress(bytes(damaged), xzscan.check(bytes(damaged)), len(rows)) is None
    with pytest.raises(kmzcodec.KmzError) as caught:
        kmzcodec.decode(_restored(plain, bytes(damaged)))
    assert caught.value.reason == "corrupt-stream"


def _reason(data: bytes) -> str | None:
    try:
        kmzcodec.decode(data)
    except kmzcodec.KmzError as error:
        return error.reason
    return None


def test_a_damaged_block_gives_the_reason_of_a_decode_in_order(plain: bytes, two_cpus: None) -> None:
    """Every byte of the blocks' data flipped in turn (a stride of them): threads or not, the
    same outcome, and the reason the reference reader allows."""
    rows = _stored(plain)
    stream = _three_blocks(rows, 300)
    blocks = xzscan.check(stream)
    positions = [at for block in blocks for at in range(block.start + 12, block.end, 97)]
    for at in positions:
        damaged = bytearray(stream)
        damaged[at] ^= 0x20
        data = _restored(plain, bytes(damaged))
        threaded = _reason(data)
        with threads.cpu_share(2):  # one CPU each: the stream is decoded in order
            assert threads.cpu_budget() == 1
            assert _reason(data) == threaded, at
        outcome = reference.read(data, None)
        assert (threaded is None) == outcome.valid and (threaded is None or threaded in outcome.reasons), at


def test_sizes_that_do_not_add_up_are_decoded_in_order(
    plain: bytes, two_cpus: None, counted: list[int]
) -> None:
    """Blocks holding one byte more than the image: wrong-size, found by the decode in order."""
    rows = _stored(plain)
    data = _restored(plain, _three_blocks(rows + b"\0" * 300, 300))
    assert _reason(data) == "wrong-size"
    assert counted == []


def test_no_threads_for_one_block_one_cpu_or_large_dictionaries() -> None:
    blocks = [xzscan.Block(12, 100, 1000, 1 << 20), xzscan.Block(112, 100, 1000, 1 << 20)]
    with threads.cpu_share(1):
        many = threads.cpu_budget()
    assert xzblocks.workers(blocks[:1], 1000) == 1
    assert xzblocks.workers(blocks, 2001) == 1  # the index's sizes do not add up
    assert xzblocks.workers(blocks, 2000) == min(2, many)
    big = [block._replace(dictionary=48 << 20) for block in blocks]  # 96 MiB at once: more than 64
    assert xzblocks.workers(big, 2000) == 1
    with threads.cpu_share(many):
        assert xzblocks.workers(blocks, 2000) == 1


def test_many_blocks_are_decoded_in_a_few_runs(plain: bytes, two_cpus: None, counted: list[int]) -> None:
    """A stream of 120 blocks (one per row) is decoded as two runs of consecutive blocks."""
    rows = _stored(plain)
    stream = xzblocks.compress(
        rows, list(range(0, len(rows) + 1, 300)), [{"id": lzma.FILTER_LZMA2, "preset": 0}]
    )
    blocks = xzscan.check(stream)
    assert len(blocks) == 120
    work = xzblocks.runs(blocks, 2)
    assert [block for run in work for block in run] == blocks and len(work) == 2
    assert abs(len(work[0]) - len(work[1])) <= 2
    assert np.array_equal(
        np.asarray(kmzcodec.decode(_restored(plain, stream))), np.asarray(kmzcodec.decode(plain))
    )
    assert len(counted) == 120


def test_each_run_decodes_alone_and_only_with_its_true_sizes(plain: bytes) -> None:
    """A run is fed to liblzma as stream header, blocks as stored and a new index: it must give
    exactly its bytes, and nothing when the sizes it is checked against are not the block's."""
    rows = _stored(plain)
    stream = _three_blocks(rows, 300, lzma.CHECK_CRC32)
    view = memoryview(stream)
    blocks = xzscan.check(stream)
    assert [xzblocks._decode_run(view, [block]) for block in blocks] == [
        rows[: 30 * 300],
        rows[30 * 300 : 80 * 300],
        rows[80 * 300 :],
    ]
    assert xzblocks._decode_run(view, blocks[1:]) == rows[30 * 300 :]
    second = blocks[1]
    for wrong in (
        second._replace(uncompressed=second.uncompressed - 1),
        second._replace(uncompressed=second.uncompressed + 1),
        second._replace(unpadded=second.unpadded - 4),
    ):
        assert xzblocks._decode_run(view, [wrong]) is None


def test_the_last_run_is_decoded_on_this_thread(
    plain: bytes, two_cpus: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    places: list[str] = []
    original = xzblocks._decode_run

    def decode_run(stored: Any, run: list[xzscan.Block]) -> bytes | None:
        places.append(threading.current_thread().name)
        return original(stored, run)

    monkeypatch.setattr(xzblocks, "_decode_run", decode_run)
    rows = _stored(plain)
    stream = _three_blocks(rows, 300)
    assert xzblocks.decompress(stream, xzscan.check(stream), len(rows)) == rows
    assert len(places) == 2
    assert threading.current_thread().name in places  # one run here, not two new threads


def test_block_cuts_follow_the_rule() -> None:
    rows = bytes(np.random.default_rng(3).integers(0, 256, 100 * 64, dtype=np.uint8))
    assert smallest.block_cuts(rows, 100, smallest.BLOCKED_BYTES - 1) == [0, len(rows)]
    assert smallest.block_cuts(rows, 1, smallest.BLOCKED_BYTES) == [0, len(rows)]
    cuts = smallest.block_cuts(rows, 100, smallest.BLOCKED_BYTES)
    assert len(cuts) == smallest.MAX_BLOCKS + 1 and cuts[0] == 0 and cuts[-1] == len(rows)
    assert all(cut % 64 == 0 for cut in cuts) and cuts == sorted(set(cuts))
    # Incompressible rows at the bottom, zeros above: the cut moves down to share out the work.
    skewed = bytes(64 * 75) + rows[: 64 * 25]
    assert smallest.block_cuts(skewed, 100, smallest.BLOCKED_BYTES)[1] >= 75 * 64


def test_smallest_writes_several_blocks_when_the_stream_is_large(
    monkeypatch: pytest.MonkeyPatch, two_cpus: None, counted: list[int]
) -> None:
    """With the block size made small, a K = 256 image larger than the trial sample is written
    as MAX_BLOCKS blocks; every reader decodes it; the same input gives the same bytes."""
    monkeypatch.setattr(smallest, "BLOCKED_BYTES", 4096)
    monkeypatch.setattr(smallest, "MAX_CUT_COST", 1.0)
    indices = _indices(400, 420, 256, 4)
    assert indices.size > container.TRIAL_PIXELS
    palette = np.random.default_rng(5).integers(0, 256, (256, 3), dtype=np.uint8)
    data = container.write(palette, indices, compression="smallest", method=Method.KMEANS)
    header = container.parse_header(data)
    assert header.compression is Compression.LZMA and header.palette_kind is PaletteKind.RGB
    blocks = xzscan.check(_stored(data))
    assert len(blocks) == smallest.MAX_BLOCKS
    assert sum(block.uncompressed for block in blocks) == header.raw_length
    assert all(block.uncompressed % header.row_bytes == 0 for block in blocks)
    decoded = kmzcodec.decode(data)
    assert len(counted) == len(blocks)
    expected = palette[indices]
    assert np.array_equal(np.asarray(decoded.convert("RGB")), expected)
    outcome = reference.read(data, None)
    assert outcome.valid and outcome.pixels is not None and np.array_equal(outcome.pixels, expected)
    assert container.write(palette, indices, compression="smallest", method=Method.KMEANS) == data


def test_smallest_keeps_one_block_where_a_cut_costs_too_much(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A stream below CHECKED_BYTES is cut only if the cut costs at most MAX_CUT_COST: with no
    cost allowed (every cut costs something), one block; with any allowed, two. Above it, two."""
    monkeypatch.setattr(smallest, "BLOCKED_BYTES", 1024)
    indices = _indices(400, 420, 256, 4)
    palette = np.random.default_rng(5).integers(0, 256, (256, 3), dtype=np.uint8)
    counts = []
    for cost in (0.0, 1.0):
        monkeypatch.setattr(smallest, "MAX_CUT_COST", cost)
        data = container.write(palette, indices, compression="smallest")
        counts.append(len(xzscan.check(_stored(data))))
    assert counts == [1, smallest.MAX_BLOCKS]
    # From CHECKED_BYTES up, the stream is cut whatever the cut costs.
    monkeypatch.setattr(smallest, "MAX_CUT_COST", 0.0)
    monkeypatch.setattr(smallest, "CHECKED_BYTES", 1024)
    data = container.write(palette, indices, compression="smallest")
    assert len(xzscan.check(_stored(data))) == smallest.MAX_BLOCKS


def test_filtered_rows_in_several_blocks(plain: bytes, two_cpus: None) -> None:
    """A sub-filtered grey ramp stored as three blocks (what smallest writes for grey photographs)."""
    ramp = (np.add.outer(np.arange(90), np.arange(300)) // 3 % 256).astype(np.uint8)
    grey = np.arange(256, dtype=np.uint8)[:, None]
    base = container.write(grey, ramp, compression="lzma", row_filter=Filter.SUB)
    rows = bytes(container.read(base).rows)
    data = _restored(base, _three_blocks(rows, 300))
    assert container.parse_header(data).filter is Filter.SUB
    assert np.array_equal(np.asarray(kmzcodec.decode(data)), ramp)
    outcome = reference.read(data, None)
    assert outcome.valid and outcome.pixels is not None and np.array_equal(outcome.pixels[..., 0], ramp)


def test_lzma_writes_several_blocks_when_the_stream_is_large(
    monkeypatch: pytest.MonkeyPatch, two_cpus: None, counted: list[int]
) -> None:
    """compression="lzma" cuts a stream estimated (from the trial sample) at CHECKED_BYTES or more
    into smallest's blocks of whole rows, filtered or not: every reader decodes it, the blocks on
    threads, and the same input gives the same bytes. Below that, and at preset 9 (whose 64 MiB
    dictionaries decoders would not hold two of at once), it stays one block, as before."""
    monkeypatch.setattr(smallest, "BLOCKED_BYTES", 4096)
    monkeypatch.setattr(smallest, "CHECKED_BYTES", 4096)
    indices = _indices(400, 420, 256, 4)
    assert indices.size > container.TRIAL_PIXELS
    palette = np.random.default_rng(5).integers(0, 256, (256, 3), dtype=np.uint8)
    expected = palette[indices]
    for row_filter in (Filter.NONE, Filter.UP):
        data = container.write(palette, indices, compression="lzma", row_filter=row_filter)
        header = container.parse_header(data)
        assert (header.compression, header.filter) == (Compression.LZMA, row_filter)
        blocks = xzscan.check(_stored(data))
        assert len(blocks) == smallest.MAX_BLOCKS
        assert all(block.uncompressed % header.row_bytes == 0 for block in blocks)
        counted.clear()
        assert np.array_equal(np.asarray(kmzcodec.decode(data).convert("RGB")), expected)
        assert len(counted) == len(blocks)
        outcome = reference.read(data, None)
        assert outcome.valid and outcome.pixels is not None and np.array_equal(outcome.pixels, expected)
        assert container.write(palette, indices, compression="lzma", row_filter=row_filter) == data
    nine = container.write(palette, indices, compression="lzma", level=9)
    assert len(xzscan.check(_stored(nine))) == 1
    monkeypatch.setattr(smallest, "CHECKED_BYTES", 1 << 30)
    one = container.write(palette, indices, compression="lzma")
    assert _stored(one) == lzma.compress(
        indices.tobytes(), format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, preset=6
    )


def test_blocks_are_compressed_at_once_and_the_stream_does_not_depend_on_it(
    plain: bytes, two_cpus: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _stored(plain)
    with threads.cpu_share(2):  # one CPU: the pieces in turn on this thread
        alone = _three_blocks(rows, 300)
    original = lzma.compress
    meeting = threading.Barrier(2)
    seen: list[int] = []

    def compress(*args: Any, **kwargs: Any) -> bytes:
        seen.append(threading.get_ident())
        if len(seen) <= 2:
            meeting.wait(timeout=10)  # the first two pieces wait for each other: two threads
        return original(*args, **kwargs)

    monkeypatch.setattr(lzma, "compress", compress)
    together = _three_blocks(rows, 300)
    assert len(seen) == 3 and len(set(seen[:2])) == 2
    assert together == alone
