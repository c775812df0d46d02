"""One zlib stream (RFC 1950) compressed on several cores, as pigz does.

The input is cut into fixed-size pieces; each piece is deflated on its own
thread with the 32 KiB before it as preset dictionary, so matches reach back
across the cut as in a single-threaded run. Pieces end with a sync flush (byte
aligned, not final) except the last, and the raw deflate output is framed with
the usual two-byte header and the Adler-32 of the whole input. Any zlib
inflater reads the result as one ordinary stream.

The cut points depend only on the input length, never on the number of cores,
so the same input always gives the same bytes.
"""

from __future__ import annotations

import os
import zlib
from concurrent.futures import ThreadPoolExecutor

PIECE = 1 << 19  # 512 KiB
WINDOW = 1 << 15  # deflate's reach: the preset dictionary size

# RFC 1950 header: CMF 0x78 (deflate, 32 KiB window) and FLG by level class.
_FLG = {0: 0x01, 1: 0x01, 2: 0x5E, 3: 0x5E, 4: 0x5E, 5: 0x5E, 6: 0x9C, 7: 0xDA, 8: 0xDA, 9: 0xDA}


def _piece(view: memoryview, start: int, level: int) -> bytes:
    end = min(len(view), start + PIECE)
    if start:
        engine = zlib.compressobj(level, zlib.DEFLATED, -15, zdict=view[max(0, start - WINDOW) : start])
    else:
        engine = zlib.compressobj(level, zlib.DEFLATED, -15)
    last = end == len(view)
    return engine.compress(view[start:end]) + engine.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def compress(data: bytes | memoryview, level: int, workers: int | None = None) -> bytes:
    """zlib-compress ``data`` at ``level`` using up to ``workers`` threads."""
    if len(data) <= PIECE:
        return zlib.compress(data, level)
    view = memoryview(data)
    starts = range(0, len(data), PIECE)
    workers = min(len(starts), workers or os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            pieces = list(pool.map(lambda start: _piece(view, start, level), starts))
    else:
        pieces = [_piece(view, start, level) for start in starts]
    header = bytes((0x78, _FLG[level]))
    return b"".join((header, *pieces, zlib.adler32(data).to_bytes(4, "big")))
