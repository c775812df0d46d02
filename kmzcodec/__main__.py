"""``python -m kmzcodec``: the ``kmz`` command."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":  # the guard matters: "spawn" workers import the main module
    sys.exit(main())
