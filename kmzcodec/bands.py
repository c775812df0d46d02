"""Row bands: whole-image passes done a slice of rows at a time to bound memory."""

from __future__ import annotations

from collections.abc import Iterator

#: Pixels per band: temporaries stay a few MB whatever the image size.
BAND_PIXELS = 1 << 20


def row_bands(height: int, width: int, pixels: int = BAND_PIXELS) -> Iterator[tuple[int, int]]:
    """(top, bottom) row ranges of about ``pixels`` pixels each, covering the image."""
    step = max(1, pixels // max(1, width))
    for top in range(0, height, step):
        yield top, min(height, top + step)
