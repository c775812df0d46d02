"""The compiled half of kmzcodec.rowfilter: undoing the Paeth filter (spec 6.5), pixel by pixel.

Its own module so that the fuzzers leave only it uninstrumented (fuzz/entry.py: numba
cannot compile instrumented bytecode) and still instrument the rest of the filter code.
"""

from __future__ import annotations

import numpy as np

from .jit import compiled


@compiled
def undo_paeth(values: np.ndarray, mask: int, out: np.ndarray) -> None:  # pragma: no cover - compiled
    """``out`` = the indices behind the Paeth residuals ``values``, both (height, width).

    ``mask`` is 2^bits_per_index - 1: every sum is reduced by it.
    """
    height, width = values.shape
    for y in range(height):
        for x in range(width):
            a = int(out[y, x - 1]) if x > 0 else 0
            b = int(out[y - 1, x]) if y > 0 else 0
            c = int(out[y - 1, x - 1]) if x > 0 and y > 0 else 0
            base = a + b - c
            near_a, near_b, near_c = abs(base - a), abs(base - b), abs(base - c)
            if near_a <= near_b and near_a <= near_c:
                guess = a
            elif near_b <= near_c:
                guess = b
            else:
                guess = c
            out[y, x] = (int(values[y, x]) + guess) & mask
