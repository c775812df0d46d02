"""Row bands: whole-image passes done a slice of rows at a time to bound memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TypeVar

from .threads import run_all

T = TypeVar("T")

#: Pixels per band: temporaries stay a few MB whatever the image size.
BAND_PIXELS = 1 << 20


def row_bands(height: int, width: int, pixels: int = BAND_PIXELS) -> Iterator[tuple[int, int]]:
    """(top, bottom) row ranges of about ``pixels`` pixels each, covering the image."""
    step = max(1, pixels // max(1, width))
    for top in range(0, height, step):
        yield top, min(height, top + step)


def map_bands(
    function: Callable[[int, int], T], height: int, width: int, pixels: int = BAND_PIXELS
) -> list[T]:
    """``function(top, bottom)`` for every band, in order, on up to ``cpu_budget()`` threads
    (this encode's share of the CPUs: :func:`kmzcodec.threads.run_all`).

    The numpy work inside (sorting, gathering) releases the GIL, so bands run in
    parallel; results come back in band order, so the outcome never depends on
    the number of threads.
    """
    return run_all([partial(function, top, bottom) for top, bottom in row_bands(height, width, pixels)])
