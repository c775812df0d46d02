"""Palette indices <-> packed rows: 1..16 bits each, MSB first, rows byte-aligned.

The packing is the spec's section "Index data". Every function here works on
whole images held in numpy arrays; the general widths (3, 5, 6, 7, 9..15 bits)
go through ``np.unpackbits``/``np.packbits`` a band of rows at a time so the
bit-per-byte intermediate stays small.
"""

from __future__ import annotations

import numpy as np

from .bands import row_bands
from .errors import KmzError
from .format import row_bytes


def pack(indices: np.ndarray, bits: int) -> bytes | memoryview:
    """Pack a (height, width) array of indices < 2**bits into rows of ``bits`` bits.

    8-bit rows are the indices themselves: a view of them is returned, not a copy.
    """
    if indices.ndim != 2:
        raise ValueError("indices must be a 2-D array")
    height, width = indices.shape
    if bits == 8:
        return memoryview(np.ascontiguousarray(indices, dtype=np.uint8)).cast("B")  # type: ignore[arg-type]
    if bits == 16:
        return np.ascontiguousarray(indices, dtype=">u2").tobytes()
    if bits in (1, 2, 4):
        per_byte = 8 // bits
        padded_width = -(-width // per_byte) * per_byte
        src = indices.astype(np.uint8, copy=False)
        if padded_width != width:
            src = np.pad(src, ((0, 0), (0, padded_width - width)))
        groups = src.reshape(height, padded_width // per_byte, per_byte)
        out = np.zeros(groups.shape[:2], dtype=np.uint8)
        for slot in range(per_byte):
            out |= groups[:, :, slot] << np.uint8(8 - bits * (slot + 1))
        return out.tobytes()
    out_rows = np.empty((height, row_bytes(width, bits)), dtype=np.uint8)
    for top, bottom in row_bands(height, width):
        band = np.ascontiguousarray(indices[top:bottom], dtype=">u2")
        rows = bottom - top
        as_bits = np.unpackbits(band.view(np.uint8).reshape(rows, width, 2), axis=2)
        as_bits = as_bits[:, :, 16 - bits :].reshape(rows, width * bits)
        out_rows[top : top + rows] = np.packbits(as_bits, axis=1)
    return out_rows.tobytes()


def unpack(raw: bytes | memoryview, width: int, height: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack`: uint8 indices for bits <= 8, uint16 above."""
    stride = row_bytes(width, bits)
    rows = np.frombuffer(raw, dtype=np.uint8, count=stride * height).reshape(height, stride)
    if bits == 8:
        return rows
    if bits == 16:
        return rows.view(">u2").astype(np.uint16)
    if bits in (1, 2, 4):
        per_byte = 8 // bits
        mask = np.uint8((1 << bits) - 1)
        out = np.empty((height, stride, per_byte), dtype=np.uint8)
        for slot in range(per_byte):
            np.bitwise_and(rows >> np.uint8(8 - bits * (slot + 1)), mask, out=out[:, :, slot])
        return out.reshape(height, stride * per_byte)[:, :width]
    dtype = np.uint8 if bits < 8 else np.uint16
    out = np.empty((height, width), dtype=dtype)
    weights = (1 << np.arange(bits - 1, -1, -1)).astype(np.uint16)
    for top, bottom in row_bands(height, width):
        band = rows[top:bottom]
        n = bottom - top
        as_bits = np.unpackbits(band, axis=1)[:, : width * bits].reshape(n, width, bits)
        out[top : top + n] = (as_bits @ weights).astype(dtype)
    return out


def check_padding(raw: bytes | memoryview, width: int, height: int, bits: int) -> None:
    """Reject a row whose bits after the last index are not zero (spec: MUST)."""
    used = (width * bits) % 8
    if used == 0:
        return
    stride = row_bytes(width, bits)
    rows = np.frombuffer(raw, dtype=np.uint8, count=stride * height).reshape(height, stride)
    if np.any(rows[:, -1] & np.uint8(0xFF >> used)):
        raise KmzError("non-zero padding bits at the end of a row", "nonzero-padding")


def _out_of_range(colors: int) -> KmzError:
    return KmzError(f"a palette index is >= K = {colors}", "index-out-of-range")


def check_range(indices: np.ndarray, colors: int) -> None:
    """Reject any index >= K (spec: MUST)."""
    if indices.size and int(indices.max()) >= colors:
        raise _out_of_range(colors)


def check_packed_range(raw: bytes | memoryview, bits: int, colors: int) -> None:
    """:func:`check_range` on packed 1/2/4/8-bit rows, without unpacking them.

    A byte is valid when every field in it is < K; padding fields are zero (checked
    separately) and zero is always < K, so one 256-entry table decides each byte.
    """
    if colors >= 1 << bits:
        return
    packed = np.frombuffer(raw, dtype=np.uint8)
    if bits == 8:
        check_range(packed, colors)
        return
    fields = np.arange(256, dtype=np.uint8)
    ok = np.ones(256, dtype=bool)
    for shift in range(0, 8, bits):
        ok &= ((fields >> np.uint8(shift)) & np.uint8((1 << bits) - 1)) < colors
    if not ok[packed].all():
        raise _out_of_range(colors)
