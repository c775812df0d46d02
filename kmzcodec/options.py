"""The encoder's option names and limits, defined once.

The library validates against these, and the ``kmz`` command and the Pillow
plugin read their choices from here.
"""

from __future__ import annotations

from .colorspace import SPACES
from .format import Compression

#: Clustering methods (``encode(method=...)``).
METHODS: tuple[str, ...] = ("kmeans", "gmm")
#: Colour spaces the clustering may run in (``encode(colorspace=...)``).
COLORSPACES: tuple[str, ...] = SPACES
#: Ways of storing the index rows (``encode(compression=...)``), the default first.
COMPRESSIONS: tuple[str, ...] = ("zlib", "lzma", "none")
#: A Gaussian mixture of more components than this is not worth fitting.
GMM_MAX_COLORS = 256

assert set(COMPRESSIONS) == {c.label for c in Compression}
